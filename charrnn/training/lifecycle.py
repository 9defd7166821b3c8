"""Starting a run and resuming one: the checks between them, and the one choice of the two
that `charrnn.train` and `compare` share.

A resumed run must be the run it was: its corpus (by sha256), its model and training settings
(all but the few a resume may change), and the weights of its checkpoint (their shapes).
"""
from __future__ import annotations

import platform
from pathlib import Path
from typing import Any

import gluonnlp
import mxnet as mx
import numpy as np

import charrnn
from charrnn.config import ModelConfig, TrainConfig, to_dict
from charrnn.errors import CharrnnError, UsageError
from charrnn.machine.atomic import remove_stale_temporaries
from charrnn.models import fused_for, initialize
from charrnn.runs.loading import checked_model, load_trained, training_corpus
from charrnn.runs.rundir import METRICS, SAMPLES, STATE, RunDir
from charrnn.text.corpus import Corpus, PathLike, load_corpus
from charrnn.training import checkpoint
from charrnn.training.finetune import Source
from charrnn.training.progress import Progress

# Settings a resumed run may change: when to stop, how often to report, and the step size
# (to recover from divergence or fine-tune). Anything else would change what the run computes.
RESUMABLE_OVERRIDES = ("epochs", "max_steps", "stop_at_step", "patience", "time_budget",
                       "checkpoint_every", "log_interval", "lr", "clip")


class RunFinished(Exception):
    """A resumed run has nothing left to do under its limits; nothing was changed."""


def versions() -> dict[str, str]:
    return {"charrnn": charrnn.__version__, "mxnet": mx.__version__,
            "gluonnlp": gluonnlp.__version__, "numpy": np.__version__,
            "python": platform.python_version()}


def corpus_record(corpus: Corpus, encoding: str) -> dict[str, Any]:
    """What identifies the corpus a run trains on; its path is absolute, so that the run finds
    it from any working directory."""
    return {"path": str(Path(corpus.path).resolve()), "sha256": corpus.sha256,
            "encoding": encoding, "chars": len(corpus.ids), "split": corpus.bounds}


def initialized_model(config: ModelConfig, contexts: list[mx.Context], seed: int,
                      forget_bias: float = 0.0):
    return initialize(checked_model(config, fused_for(contexts)), contexts, seed, forget_bias)


def start_or_resume(out: PathLike, resume: bool, corpus_path: PathLike | None,
                    model_config: ModelConfig, train_config: TrainConfig,
                    contexts: list[mx.Context], *, given_model: dict[str, Any] | None = None,
                    given_training: dict[str, Any] | None = None, overwrite: bool = False,
                    encoding: str = "utf-8", init_from: PathLike | None = None,
                    write: bool = True):
    """The run to train, locked: `out` resumed at its last checkpoint (the settings given are
    checked against it), or started with `model_config` and `train_config`. Returns the run,
    its corpus, the model, the progress so far and the settings in force. `write` false (the
    workers of a job other than worker 0): nothing is written. Raises RunFinished."""
    if resume:
        if overwrite or init_from is not None:
            raise UsageError("--resume (resume) continues a run; --overwrite and --init-from "
                             "(overwrite, init_from) start one: pick one.")
        return resume_run(out, corpus_path, given_model or {}, given_training or {}, contexts,
                          write)
    run, corpus, model, progress = start_run(corpus_path, model_config, train_config, out,
                                             overwrite, encoding, contexts, write, init_from,
                                             given_model)
    return run, corpus, model, progress, train_config


def start_run(corpus_path: PathLike, model_config: ModelConfig, train_config: TrainConfig,
              out: PathLike, overwrite: bool, encoding: str, contexts: list[mx.Context],
              create: bool = True, init_from: PathLike | None = None,
              given_model: dict[str, Any] | None = None):
    """A new run directory, locked, with its config and vocabulary, and a freshly initialised
    model, or one that starts from the weights of the run `init_from` (see finetune.py).
    With `create` false (the workers of a job other than worker 0) nothing is written.
    """
    source = None
    if init_from is not None:
        model, vocab, source_run = load_trained(init_from)
        source = Source(source_run.path, source_run.config()[0], vocab, model)
        model_config = source.model_config(given_model or {})
        corpus = source.corpus(corpus_path, encoding)
    else:
        corpus = load_corpus(corpus_path, encoding)
    corpus.check_trainable(train_config.batch_size, train_config.seq_len)
    model_config = ModelConfig(**{**to_dict(model_config), "vocab_size": len(corpus.vocab)}).check()
    model = initialized_model(model_config, contexts, train_config.seed,
                              train_config.forget_bias)
    if source is not None:
        source.copy_weights(model)
    run = RunDir(out)
    if create:
        run = RunDir.create(out, overwrite)
        run.save_config(model_config, train_config, corpus_record(corpus, encoding), versions(),
                        init_from=source.record() if source else None)
        run.save_vocab(corpus.vocab)
    return run, corpus, model, Progress(lr=train_config.lr)


def resume_run(path: PathLike, corpus_path: PathLike | None, given_model: dict[str, Any],
               given_training: dict[str, Any], contexts: list[mx.Context], write: bool = True):
    """Reopen a run at its last checkpoint; refuse a different corpus or settings, apply the
    allowed overrides. Raises RunFinished, having changed nothing, if there is nothing to do."""
    run = RunDir.open(path, STATE)
    if write:
        run.lock()
    try:
        return _reopened(run, corpus_path, given_model, given_training, contexts, write)
    except BaseException:  # refused or finished: the lock goes (a notebook's kernel lives on)
        run.unlock()
        raise


def _reopened(run: RunDir, corpus_path: PathLike | None, given_model: dict[str, Any],
              given_training: dict[str, Any], contexts: list[mx.Context], write: bool):
    model_config, train_config, corpus_info = run.config()
    _refuse_changes(run, "model", to_dict(model_config), given_model)
    _refuse_changes(run, "training", to_dict(train_config),
                    {k: v for k, v in given_training.items() if k not in RESUMABLE_OVERRIDES})
    # A --stop-at-step belongs to the invocation that gave it: a resume goes on past it.
    overrides = {"stop_at_step": 0, **{k: v for k, v in given_training.items()
                                       if k in RESUMABLE_OVERRIDES}}
    train_config = TrainConfig(**{**to_dict(train_config), **overrides}).check()
    progress, _, folder = checkpoint.load(run)
    progress.resumed()
    if "lr" in overrides:
        progress.new_learning_rate(overrides["lr"])
    vocab = run.vocab(model_config.vocab_size)
    model = checked_model(model_config, fused_for(contexts))
    run.check_params(model, folder / checkpoint.WEIGHTS)
    model = initialize(model, contexts, train_config.seed)
    corpus = (training_corpus(run, vocab) if corpus_path is None else
              load_corpus(corpus_path, corpus_info.get("encoding", "utf-8"), vocab=vocab,
                          sha256=corpus_info.get("sha256")))
    finished = progress.limit_reached(train_config)
    if finished:
        raise RunFinished(
            f"{run.path} is finished ({finished}) at step {progress.step}; nothing was "
            f"changed. To train on, give it more: --epochs (now {train_config.epochs}), "
            "--max-steps or --time-budget (which count from the start of the run), or "
            "--patience or a new --lr after an early stop (from Python: epochs, max_steps, "
            "time_budget, patience, lr).")
    if write:
        run.save_config(model_config, train_config, corpus_info, versions())
        run.keep_rows({METRICS: progress.rows, SAMPLES: progress.samples})
        remove_stale_temporaries(run.path)
    return run, corpus, model, progress, train_config


def _refuse_changes(run: RunDir, section: str, saved: dict[str, Any],
                    given: dict[str, Any]) -> None:
    changed = [f"{name.replace('_', '-')} {saved[name]} -> {value}"
               for name, value in given.items() if name in saved and saved[name] != value]
    if changed:
        raise CharrnnError(f"cannot resume {run.path} with different {section} settings "
                           f"({'; '.join(changed)}): drop those options, or start a new run.")
