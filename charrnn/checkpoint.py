"""The run directory: everything needed to sample from, evaluate or resume a model.

Every file is written to a temporary name in the same directory, flushed, fsynced and renamed
into place, so a crash at any moment leaves either the old file or the new one. Nothing is
pickled: settings and progress are JSON, arrays are MXNet parameter files.
"""
from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import mxnet as mx
import numpy as np
from mxnet import gluon

from charrnn.atomic import (
    Writer,
    atomic_write,
    bytes_writer,
    json_writer,
)
from charrnn.config import ModelConfig, TrainConfig, from_dict, to_dict
from charrnn.corpus import CharVocab, Corpus, PathLike
from charrnn.errors import CharrnnError, reason
from charrnn.evaluation import Metrics
from charrnn.models import State

CONFIG = "config.json"
VOCAB = "vocab.json"
BEST = "model.params"
LAST = "last.params"
OPTIMIZER = "trainer.states"
HIDDEN = "hidden.params"
STATE = "state.json"
METRICS = "metrics.jsonl"
EVALUATION = "evaluation.json"
RUN_FILES = (CONFIG, VOCAB, BEST, LAST, OPTIMIZER, HIDDEN, STATE, METRICS, EVALUATION)

_UNREADABLE = (OSError, mx.base.MXNetError, ValueError, AssertionError, KeyError)



class RunDir:
    """A trained or training model on disk (see README, 'What a run directory holds')."""

    def __init__(self, path: PathLike):
        self.path = Path(path)

    def __str__(self) -> str:
        return str(self.path)

    def file(self, name: str) -> Path:
        return self.path / name

    def has(self, name: str) -> bool:
        return self.file(name).is_file()

    # -- creating and opening ---------------------------------------------------------------

    @classmethod
    def create(cls, path: PathLike, overwrite: bool = False) -> RunDir:
        run = cls(path)
        if run.path.exists() and not run.path.is_dir():
            raise CharrnnError(f"--out {run.path} is a file, not a directory.")
        existing = [name for name in RUN_FILES if run.has(name)]
        if existing and not overwrite:
            raise CharrnnError(f"run directory {run.path} already holds a model: pass --resume to "
                               "continue it, --overwrite to replace it, or choose another --out.")
        for name in existing:
            run.file(name).unlink()
        try:
            run.path.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise CharrnnError(f"cannot create run directory {run.path}: "
                               f"{error.strerror}.") from None
        return run

    @classmethod
    def open(cls, path: PathLike, *required: str) -> RunDir:
        run = cls(path)
        if not run.path.is_dir():
            raise CharrnnError(f"run directory {run.path} does not exist: train a model into it "
                               f"with `charrnn train --out {run.path}`.")
        for name in (CONFIG, VOCAB, *required):
            if not run.has(name):
                hint = (" (no epoch has finished yet: resume the run with `charrnn train --resume "
                        f"{run.path}`)" if name == BEST and run.has(LAST) else "")
                raise CharrnnError(f"{run.path} is not a complete run directory: {name} is "
                                   f"missing{hint}.")
        return run

    # -- JSON --------------------------------------------------------------------------------

    def save(self, files: dict[str, Writer]) -> None:
        """Write several files of the run together (see `atomic_write`)."""
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
                    versions: dict[str, str]) -> None:
        self.write_json(CONFIG, {"model": to_dict(model), "training": to_dict(training),
                                 "corpus": corpus, "versions": versions})

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

    def vocab(self) -> CharVocab:
        return CharVocab.load(self.file(VOCAB))

    # -- arrays ------------------------------------------------------------------------------

    def save_params(self, model: mx.gluon.Block, name: str) -> None:
        self.save({name: model.save_parameters})

    def load_params(self, model: mx.gluon.Block, name: str, ctx: list[mx.Context]) -> None:
        path = self.file(name)
        try:
            model.load_parameters(str(path), ctx=ctx)
        except _UNREADABLE as error:
            detail = reason(error)
            if "shape" in detail.lower() or "missing" in detail.lower():
                raise CharrnnError(f"{path} does not match config.json and vocab.json ({detail}): "
                                   "the files come from different models.") from None
            raise CharrnnError(f"{path} is corrupt or truncated, MXNet cannot read it "
                               f"({detail}).") from None

    def load_arrays(self, name: str) -> dict[str, mx.nd.NDArray]:
        try:
            arrays = mx.nd.load(str(self.file(name)))
        except _UNREADABLE as error:
            raise CharrnnError(f"{self.file(name)} is corrupt or truncated "
                               f"({reason(error)}).") from None
        if arrays == []:  # what mx.nd.save writes for no arrays reads back as a list
            arrays = {}
        if not isinstance(arrays, dict):
            raise CharrnnError(f"{self.file(name)} does not hold named arrays.")
        return arrays

    # -- metrics -----------------------------------------------------------------------------

    def metrics(self) -> list[dict[str, Any]]:
        if not self.has(METRICS):
            return []
        try:
            lines = self.file(METRICS).read_text(encoding="utf-8").splitlines()
            return [json.loads(line) for line in lines if line.strip()]
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise CharrnnError(f"{self.file(METRICS)} is damaged ({error}).") from None

    def append_metrics(self, row: dict[str, Any]) -> None:
        """Rewrite the whole (small) file, so that it too is replaced atomically."""
        rows = [*self.metrics(), row]
        text = "".join(json.dumps(r) + "\n" for r in rows)
        self.save({METRICS: bytes_writer(text.encode("utf-8"))})

    def record_evaluation(self, split: str, corpus: Corpus, metrics: Metrics) -> None:
        """Keep the scores of model.params on a split (evaluation.json), beside earlier ones."""
        recorded = self.read_json(EVALUATION) if self.has(EVALUATION) else {}
        self.write_json(EVALUATION, {**recorded, split: {
            "corpus": corpus.path, "sha256": corpus.sha256, "chars": metrics.chars,
            **metrics.as_dict()}})


# -- what a resumable checkpoint holds besides the weights ------------------------------

def gather_hidden(hidden: list[State]) -> dict[str, mx.nd.NDArray]:
    """The carried state of all devices, joined along the batch axis (axis 1 for every model)."""
    return {str(k): mx.nd.concat(*[h[k].as_in_context(mx.cpu()) for h in hidden], dim=1)
            for k in range(len(hidden[0]))}


def scatter_hidden(arrays: dict[str, mx.nd.NDArray], contexts: list[mx.Context]) -> list[State]:
    parts = [gluon.utils.split_and_load(arrays[str(k)], contexts, batch_axis=1)
             for k in range(len(arrays))]
    return [[part[d] for part in parts] for d in range(len(contexts))]


def optimizer_arrays(trainer: gluon.Trainer) -> dict[str, mx.nd.NDArray]:
    """The optimizer's per-parameter state (e.g. Adam's moments) as named arrays.

    gluon's Trainer.save_states pickles; this keeps the run directory free of pickle.
    """
    arrays = {}
    for index, state in trainer._updaters[0].states.items():
        parts = state if isinstance(state, (tuple, list)) else [state]
        for k, part in enumerate(parts):
            if part is not None:
                arrays[f"{index}.{k}"] = part.as_in_context(mx.cpu())
    return arrays


def optimizer_counts(trainer: gluon.Trainer) -> dict[str, Any]:
    optimizer = trainer._optimizer
    counts = next(iter(optimizer._all_index_update_counts.values()), {})
    return {"num_update": optimizer.num_update,
            "index_update_count": {str(k): v for k, v in counts.items()}}


def restore_optimizer(trainer: gluon.Trainer, arrays: dict[str, mx.nd.NDArray],
                      counts: dict[str, Any], contexts: list[mx.Context]) -> None:
    """Put saved optimizer state into every device's updater, and the update counts (Adam's
    bias correction depends on them) into the optimizer."""
    if not trainer._kv_initialized:
        trainer._init_kvstore()
    grouped: dict[int, dict[int, mx.nd.NDArray]] = {}
    for key, array in arrays.items():
        index, part = (int(x) for x in key.split("."))
        grouped.setdefault(index, {})[part] = array
    states = {index: (parts[0] if len(parts) == 1 else tuple(parts[k] for k in sorted(parts)))
              for index, parts in grouped.items()}
    for updater in trainer._updaters:
        updater.states = {i: _copy_state(s) for i, s in states.items()}
        updater.states_synced = dict.fromkeys(states, False)
    optimizer = trainer._optimizer
    optimizer.num_update = int(counts.get("num_update", 0))
    index_counts = {int(k): int(v) for k, v in counts.get("index_update_count", {}).items()}
    for ctx in contexts:
        optimizer._all_index_update_counts[ctx.device_id] = dict(index_counts)
    optimizer._index_update_count = optimizer._all_index_update_counts[contexts[0].device_id]


def _copy_state(state):
    if isinstance(state, tuple):
        return tuple(s.copy() for s in state)
    return state.copy()


def rng_states() -> dict[str, Any]:
    """Python's and NumPy's global generator states, as JSON."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    return {"python": random.getstate(), "numpy": [name, keys.tolist(), pos, has_gauss, cached]}


def set_rng_states(states: dict[str, Any]) -> None:
    if "python" in states:
        random.setstate(_as_tuple(states["python"]))
    if "numpy" in states:
        np.random.set_state(tuple(states["numpy"]))


def _as_tuple(value):
    return tuple(_as_tuple(v) for v in value) if isinstance(value, list) else value
