"""Starting a run, resuming one, and loading a trained model: the checks between them.

A run directory is trusted only as far as it checks out: config and vocabulary are validated
field by field, the corpus must be the one the run was trained on, and the weights must fit
the model the config describes.
"""
from __future__ import annotations

import platform
from pathlib import Path
from typing import Any

import gluonnlp
import mxnet as mx
import numpy as np

import charrnn
from charrnn import bundled, checkpoint
from charrnn.atomic import remove_stale_temporaries
from charrnn.config import MAX_PARAMETERS, ModelConfig, TrainConfig, to_dict
from charrnn.corpus import CharVocab, Corpus, PathLike, load_corpus
from charrnn.errors import CharrnnError
from charrnn.finetune import Source
from charrnn.models import build_model, count_parameters, fused_for, hybridize
from charrnn.progress import Progress
from charrnn.rundir import BEST, METRICS, SAMPLES, STATE, RunDir

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


def training_corpus(run: RunDir, vocab: CharVocab, given: PathLike | None = None) -> Corpus:
    """The corpus the run was trained on (checked by its sha256), or `given` (any corpus in
    the run's vocabulary, for `evaluate`).

    The recorded path is tried as it is, then, for a run directory that was moved or shipped
    (params/nietzsche-pretrained), its trailing parts under each folder above the run, and
    the bundled corpus when it has the recorded name (an installed shipped model's corpus).
    """
    _, _, info = run.config()
    encoding = str(info.get("encoding", "utf-8"))
    if given is not None:
        return load_corpus(given, encoding, vocab=vocab)
    recorded = Path(str(info.get("path", "")))
    parts = recorded.parts[1:] if recorded.is_absolute() else recorded.parts
    candidates = [recorded] + [folder.joinpath(*parts[-k:])
                               for folder in run.path.resolve().parents
                               for k in range(len(parts), 0, -1)]
    if recorded.name == bundled.corpus().name:
        candidates.append(bundled.corpus())
    found = next((c for c in candidates if c.exists()), None)
    if found is None:
        raise CharrnnError(f"{run.path} was trained on {recorded} (sha256 "
                           f"{str(info.get('sha256'))[:16]}...), which is no longer there: "
                           "give the corpus's path after the run directory.")
    return load_corpus(found, encoding, vocab=vocab, sha256=info.get("sha256"))


def checked_model(config: ModelConfig, fused: bool = False) -> mx.gluon.HybridBlock:
    """The model `config` describes, refused before any weight is allocated if it is larger
    than charrnn allows (a config.json is untrusted input)."""
    model = build_model(config, fused)
    size = count_parameters(model)
    if size > MAX_PARAMETERS:
        raise CharrnnError(f"the settings describe a model of {size:,} parameters, more than "
                           f"the {MAX_PARAMETERS:,} charrnn allows.")
    return model


def initialized_model(config: ModelConfig, contexts: list[mx.Context], seed: int,
                      forget_bias: float = 0.0):
    return initialize(checked_model(config, fused_for(contexts)), contexts, seed, forget_bias)


def initialize(model: mx.gluon.HybridBlock, contexts: list[mx.Context], seed: int,
               forget_bias: float = 0.0):
    mx.random.seed(seed)
    model.initialize(mx.init.Xavier(), ctx=contexts)
    if forget_bias:
        model.open_forget_gates(forget_bias)
    return hybridize(model)


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


def open_run(path: PathLike, ctx: mx.Context | None = None, params: str | None = BEST,
             fused: bool | None = None) -> tuple[mx.gluon.HybridBlock, CharVocab, RunDir]:
    """A run's model, built but not loaded, once config.json, vocab.json and the shapes in
    the params file (if any) agree: a run directory is refused before anything is allocated.
    `fused`: the form a GPU runs (default: the device's form; the tests build it on the CPU)."""
    run = RunDir.open(path, *([params] if params else []))
    model_config, _, _ = run.config()
    vocab = run.vocab(model_config.vocab_size)
    model = checked_model(model_config, fused_for([ctx or mx.cpu()]) if fused is None else fused)
    if params:
        run.check_params(model, run.file(params))
    return model, vocab, run


def load_trained(path: PathLike, ctx: mx.Context | None = None, params: str = BEST,
                 fused: bool | None = None) -> tuple[mx.gluon.HybridBlock, CharVocab, RunDir]:
    """The best weights of a run, checked (see `open_run`) before they are loaded."""
    model, vocab, run = open_run(path, ctx, params, fused)
    run.load_params(model, run.file(params), [ctx or mx.cpu()])
    return model, vocab, run


