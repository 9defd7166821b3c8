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
from charrnn import checkpoint
from charrnn.atomic import remove_stale_temporaries
from charrnn.checkpoint import RunDir
from charrnn.config import ModelConfig, TrainConfig, to_dict
from charrnn.corpus import CharVocab, Corpus, PathLike, load_corpus
from charrnn.errors import CharrnnError
from charrnn.models import build_model, fused_for, hybridize
from charrnn.training import Progress, check_corpus_size

# Settings a resumed run may change: when to stop, how often to report, and the step size
# (to recover from divergence or fine-tune). Anything else would change what the run computes.
RESUMABLE_OVERRIDES = ("epochs", "max_steps", "patience", "time_budget", "checkpoint_every",
                       "log_interval", "lr", "clip")


def versions() -> dict[str, str]:
    return {"charrnn": charrnn.__version__, "mxnet": mx.__version__,
            "gluonnlp": gluonnlp.__version__, "numpy": np.__version__,
            "python": platform.python_version()}


def corpus_record(corpus: Corpus, encoding: str) -> dict[str, Any]:
    return {"path": corpus.path, "sha256": corpus.sha256, "encoding": encoding,
            "chars": len(corpus.ids), "split": corpus.bounds}


def initialized_model(config: ModelConfig, contexts: list[mx.Context], seed: int):
    mx.random.seed(seed)
    model = build_model(config, fused_for(contexts))
    model.initialize(mx.init.Xavier(), ctx=contexts)
    return hybridize(model)


def start_run(corpus_path: PathLike, model_config: ModelConfig, train_config: TrainConfig,
              out: PathLike, overwrite: bool, encoding: str, contexts: list[mx.Context],
              create: bool = True):
    """A new run directory with its config and vocabulary, and a freshly initialised model.

    With `create` false (the workers of a job other than worker 0) nothing is written.
    """
    corpus = load_corpus(corpus_path, encoding)
    check_corpus_size(corpus, train_config)
    model_config = ModelConfig(**{**to_dict(model_config), "vocab_size": len(corpus.vocab)}).check()
    run = RunDir(out)
    if create:
        run = RunDir.create(out, overwrite)
        run.save_config(model_config, train_config, corpus_record(corpus, encoding), versions())
        run.save_vocab(corpus.vocab)
    model = initialized_model(model_config, contexts, train_config.seed)
    return run, corpus, model, Progress(lr=train_config.lr)


def resume_run(path: PathLike, corpus_path: PathLike | None, given_model: dict[str, Any],
               given_training: dict[str, Any], contexts: list[mx.Context], write: bool = True):
    """Reopen a run; refuse a different corpus or settings, apply the allowed overrides."""
    run = RunDir.open(path, checkpoint.LAST, checkpoint.STATE, checkpoint.OPTIMIZER,
                      checkpoint.HIDDEN)
    model_config, train_config, corpus_info = run.config()
    _refuse_changes(run, "model", to_dict(model_config), given_model)
    _refuse_changes(run, "training", to_dict(train_config),
                    {k: v for k, v in given_training.items() if k not in RESUMABLE_OVERRIDES})
    overrides = {k: v for k, v in given_training.items() if k in RESUMABLE_OVERRIDES}
    train_config = TrainConfig(**{**to_dict(train_config), **overrides}).check()
    corpus_path = corpus_path or corpus_info.get("path")
    corpus = load_corpus(corpus_path, corpus_info.get("encoding", "utf-8"), vocab=run.vocab(),
                         sha256=corpus_info.get("sha256"))
    if write:
        run.save_config(model_config, train_config, corpus_info, versions())
        remove_stale_temporaries(run.path)
    progress = Progress.from_dict(run.read_json(checkpoint.STATE), str(run.file(checkpoint.STATE)))
    progress.stop_reason = ""
    if "lr" in overrides:  # a new step size starts a new schedule: patience counts afresh
        progress.lr = overrides["lr"]
        progress.bad_epochs = 0
    model = initialized_model(model_config, contexts, train_config.seed)
    return run, corpus, model, progress, train_config


def _refuse_changes(run: RunDir, section: str, saved: dict[str, Any],
                    given: dict[str, Any]) -> None:
    changed = [f"{name.replace('_', '-')} {saved[name]} -> {value}"
               for name, value in given.items() if name in saved and saved[name] != value]
    if changed:
        raise CharrnnError(f"cannot resume {run.path} with different {section} settings "
                           f"({'; '.join(changed)}): drop those options, or start a new run.")


def load_trained(path: PathLike, ctx: mx.Context | None = None, params: str = checkpoint.BEST,
                 ) -> tuple[mx.gluon.HybridBlock, CharVocab, RunDir]:
    """The best weights of a run, checked against its config and vocabulary."""
    ctx = ctx or mx.cpu()
    run = RunDir.open(path, params)
    model_config, _, _ = run.config()
    vocab = run.vocab()
    if len(vocab) != model_config.vocab_size:
        raise CharrnnError(f"{run.file(checkpoint.VOCAB)} has {len(vocab)} characters but "
                           f"config.json says {model_config.vocab_size}: the files come from "
                           "different models.")
    model = build_model(model_config, fused_for([ctx]))
    run.load_params(model, params, [ctx])
    return model, vocab, run


def default_corpus() -> Path:
    """data/nietzsche.txt here, else the copy that ships beside the package."""
    local = Path("data/nietzsche.txt")
    return local if local.exists() else Path(charrnn.__file__).parent.parent / local
