"""The run directory: everything needed to sample from, evaluate or resume a model.

Every file is written to a temporary name in the same directory, flushed, fsynced and renamed
into place, so a crash at any moment leaves either the old file or the new one (the resumable
checkpoint, several files, is committed as one: see checkpoint.py). Nothing is pickled:
settings and progress are JSON, arrays are MXNet parameter files, and both are checked before
anything is built from them. One process writes a run at a time (`lock`).
"""
from __future__ import annotations

import fcntl
import json
import os
import shutil
import time
from pathlib import Path
from typing import IO, Any

import mxnet as mx
from mxnet import gluon

from charrnn.config import ModelConfig, TrainConfig, from_dict, to_dict
from charrnn.errors import CharrnnError, reason
from charrnn.machine.atomic import Writer, atomic_write, bytes_writer, json_writer
from charrnn.models.scores import Metrics
from charrnn.runs.bundled import run_path
from charrnn.runs.paramfile import read_shapes
from charrnn.text.corpus import CharVocab, Corpus, PathLike

CONFIG = "config.json"
VOCAB = "vocab.json"
BEST = "model.params"
STATE = "state.json"
CHECKPOINTS = "checkpoints"
METRICS = "metrics.jsonl"
SAMPLES = "samples.jsonl"
CURVES = "curves.png"
EVALUATION = "evaluation.json"
COPY_INDEX = "copy-index.npz"
LOCK = ".lock"
RUN_FILES = (CONFIG, VOCAB, BEST, STATE, METRICS, SAMPLES, CURVES, EVALUATION, COPY_INDEX)

_UNREADABLE = (OSError, mx.base.MXNetError, ValueError, AssertionError, KeyError)
# Locks this process holds, by run directory: kept open for as long as it writes the run.
_HELD: dict[Path, IO[str]] = {}


class RunDir:
    """A trained or training model on disk (see docs/training.md, 'What a run directory holds')."""

    def __init__(self, path: PathLike):
        self.path = Path(path)

    def __str__(self) -> str:
        return str(self.path)

    def file(self, name: str) -> Path:
        return self.path / name

    def has(self, name: str) -> bool:
        return self.file(name).is_file()

    # -- creating, opening, locking ----------------------------------------------------------

    @classmethod
    def create(cls, path: PathLike, overwrite: bool = False) -> RunDir:
        """A new run directory, locked; with `overwrite`, an existing run's files go."""
        run = cls(path)
        if run.path.exists() and not run.path.is_dir():
            raise CharrnnError(f"--out {run.path} is a file, not a directory.")
        try:
            run.path.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise CharrnnError(f"cannot create run directory {run.path}: "
                               f"{error.strerror}.") from None
        run.lock()
        existing = [name for name in RUN_FILES if run.has(name)]
        if existing and not overwrite:
            raise CharrnnError(f"run directory {run.path} already holds a model: pass --resume to "
                               "continue it, --overwrite to replace it, or choose another --out.")
        for name in existing:
            run.file(name).unlink()
        shutil.rmtree(run.file(CHECKPOINTS), ignore_errors=True)
        return run

    @classmethod
    def open(cls, path: PathLike, *required: str) -> RunDir:
        """A run directory, or a shipped model by name (bundled.py), with its files."""
        run = cls(run_path(path))
        if not run.path.is_dir():
            raise CharrnnError(f"run directory {run.path} does not exist: train a model into it "
                               f"with `charrnn train --out {run.path}`.")
        for name in (CONFIG, VOCAB, *required):
            if not run.has(name):
                hint = (" (no epoch has finished yet: resume the run with `charrnn train --resume "
                        f"{run.path}`)" if name == BEST and run.has(STATE) else "")
                raise CharrnnError(f"{run.path} is not a complete run directory: {name} is "
                                   f"missing{hint}.")
        return run

    def lock(self) -> None:
        """Become the one process that writes this run; the kernel releases the lock when the
        process ends, however it ends, so a killed run never leaves a stale one."""
        key = self.path.resolve()
        if key in _HELD:
            return
        try:
            handle = open(self.file(LOCK), "a+", encoding="utf-8")  # noqa: SIM115 - held
        except OSError as error:
            raise CharrnnError(f"could not write {self.file(LOCK)}: {error.strerror}; choose "
                               "another --out.") from None
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise CharrnnError(f"{self.path} is being written by {holder}; wait for it or "
                               "choose another --out.") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"process {os.getpid()} (started "
                     f"{time.strftime('%Y-%m-%d %H:%M:%S')})\n")
        handle.flush()
        _HELD[key] = handle

    def unlock(self) -> None:
        handle = _HELD.pop(self.path.resolve(), None)
        if handle is not None:
            handle.close()

    # -- JSON --------------------------------------------------------------------------------

    def save(self, files: dict[str, Writer]) -> None:
        """Write files of the run, each atomically (see `atomic_write`)."""
        atomic_write({self.file(name): write for name, write in files.items()})

    def write_json(self, name: str, data: Any) -> None:
        self.save({name: json_writer(data)})

    def read_json(self, name: str) -> Any:
        try:
            return json.loads(self.file(name).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise CharrnnError(f"{self.file(name)} is not valid JSON ({error}); the run "
                               "directory is damaged.") from None

    def save_config(self, model: ModelConfig, training: TrainConfig, corpus: dict[str, Any],
                    versions: dict[str, str], init_from: dict[str, Any] | None = None) -> None:
        """config.json; a resumed run keeps the record of the run it started from."""
        if init_from is None and self.has(CONFIG):
            init_from = self.read_json(CONFIG).get("init_from")
        self.write_json(CONFIG, {"model": to_dict(model), "training": to_dict(training),
                                 "corpus": corpus, "versions": versions,
                                 **({"init_from": init_from} if init_from else {})})

    def config(self) -> tuple[ModelConfig, TrainConfig, dict[str, Any]]:
        """Model settings, training settings and corpus identity, each checked."""
        data = self.read_json(CONFIG)
        source = str(self.file(CONFIG))
        if not isinstance(data, dict) or not {"model", "training", "corpus"} <= set(data):
            raise CharrnnError(f"{source} must hold 'model', 'training' and 'corpus' sections.")
        corpus = data["corpus"]
        if not isinstance(corpus, dict):
            raise CharrnnError(f"{source}: 'corpus' must be a JSON object.")
        return (from_dict(ModelConfig, data["model"], f"{source} (model)"),
                from_dict(TrainConfig, data["training"], f"{source} (training)"), corpus)

    def save_vocab(self, vocab: CharVocab) -> None:
        self.save({VOCAB: bytes_writer(vocab.to_json())})

    def vocab(self, size: int) -> CharVocab:
        """The vocabulary, which must have the `size` characters config.json says."""
        vocab = CharVocab.load(self.file(VOCAB))
        if len(vocab) != size:
            raise CharrnnError(f"{self.file(VOCAB)} has {len(vocab)} characters but "
                               f"config.json says {size}: the files come from different "
                               "models.")
        return vocab

    # -- arrays ------------------------------------------------------------------------------

    def check_params(self, model: gluon.Block, path: Path) -> None:
        """The file must hold exactly the parameters `model` has, with the same shapes:
        checked from the file's headers, before anything is loaded."""
        stored = read_shapes(path)
        expected = {name: tuple(p.shape) for name, p in
                    model._collect_params_with_prefix().items()}
        wrong = [f"{name} {stored.get(name, 'missing')} instead of {shape}"
                 for name, shape in expected.items() if stored.get(name) != shape]
        extra = sorted(set(stored) - set(expected))
        if wrong or extra:
            detail = "; ".join(wrong[:2] + [f"unexpected {name}" for name in extra[:2]])
            raise CharrnnError(f"{path} does not match config.json and vocab.json ({detail}): "
                               "the files come from different models.")

    def save_params(self, model: gluon.Block, name: str) -> None:
        self.save({name: model.save_parameters})

    def load_params(self, model: gluon.Block, path: Path, ctx: list[mx.Context]) -> None:
        self.check_params(model, path)
        try:
            model.load_parameters(str(path), ctx=ctx)
        except _UNREADABLE as error:
            raise CharrnnError(f"{path} is corrupt or truncated, MXNet cannot read it "
                               f"({reason(error)}).") from None

    # -- metrics -----------------------------------------------------------------------------

    def rows(self, name: str) -> list[dict[str, Any]]:
        """The rows of a JSON-lines file of the run (metrics.jsonl, samples.jsonl)."""
        if not self.has(name):
            return []
        try:
            lines = self.file(name).read_text(encoding="utf-8").splitlines()
            return [json.loads(line) for line in lines if line.strip()]
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise CharrnnError(f"{self.file(name)} is damaged ({error}).") from None

    def write_rows(self, name: str, rows: list[dict[str, Any]]) -> None:
        """Rewrite the whole (small) file, so that it too is replaced atomically."""
        text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
        self.save({name: bytes_writer(text.encode("utf-8"))})

    def append_row(self, name: str, row: dict[str, Any]) -> None:
        self.write_rows(name, [*self.rows(name), row])

    def metrics(self) -> list[dict[str, Any]]:
        return self.rows(METRICS)

    def append_metrics(self, row: dict[str, Any]) -> None:
        self.append_row(METRICS, row)

    def keep_rows(self, counts: dict[str, int]) -> None:
        """Drop rows written after the checkpoint a run resumes from: it writes them again."""
        for name, count in counts.items():
            rows = self.rows(name)
            if len(rows) > count:
                self.write_rows(name, rows[:count])

    def record_evaluation(self, split: str, corpus: Corpus, metrics: Metrics) -> None:
        """Keep the scores of model.params on a split (evaluation.json), beside earlier ones."""
        recorded = self.read_json(EVALUATION) if self.has(EVALUATION) else {}
        self.write_json(EVALUATION, {**recorded, split: {
            "corpus": corpus.path, "sha256": corpus.sha256, "chars": metrics.chars,
            **metrics.as_dict()}})
