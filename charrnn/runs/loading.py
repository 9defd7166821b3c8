"""Loading a trained model from its run directory: the checks before anything is allocated.

A run directory is trusted only as far as it checks out: config and vocabulary are validated
field by field, the corpus must be the one the run was trained on, and the weights must fit
the model the config describes.
"""
from __future__ import annotations

from pathlib import Path

import mxnet as mx

from charrnn.config import MAX_PARAMETERS, ModelConfig
from charrnn.errors import CharrnnError
from charrnn.models import build_model, count_parameters, fused_for
from charrnn.runs import bundled
from charrnn.runs.rundir import BEST, RunDir
from charrnn.text.corpus import CharVocab, Corpus, PathLike, load_corpus


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


