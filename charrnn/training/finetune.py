"""Starting a run from another run's weights (`charrnn train CORPUS --init-from RUN`).

The architecture is the source's; its regularisers (dropout, weight drop, embedding drop) may
be set anew, as they shape the training and not the weights. The vocabulary is the source's
with the new corpus's new characters appended, so every old character keeps its id and its
rows of the embedding and the decoder; the new rows start as a fresh model's would.
"""
from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path
from typing import Any

import mxnet as mx

from charrnn.config import ModelConfig, to_dict
from charrnn.errors import CharrnnError
from charrnn.models import CharModel
from charrnn.text.corpus import CharVocab, Corpus, PathLike, decode_text, load_corpus, read_bytes

REGULARISERS = ("dropout", "weight_drop", "embed_drop")


@dataclasses.dataclass
class Source:
    """A trained run to start from."""

    path: Path
    config: ModelConfig
    vocab: CharVocab
    model: CharModel

    def model_config(self, given: dict[str, Any]) -> ModelConfig:
        """The source's architecture with the regularisers the user gave."""
        saved = to_dict(self.config)
        changed = [f"{name.replace('_', '-')} {saved[name]} -> {value}"
                   for name, value in given.items()
                   if name not in REGULARISERS and saved.get(name) != value]
        if changed:
            raise CharrnnError(f"--init-from {self.path} has another architecture "
                               f"({'; '.join(changed)}): drop those options to start from it.")
        return dataclasses.replace(self.config, **{name: value for name, value in given.items()
                                                   if name in REGULARISERS})

    def corpus(self, path: PathLike, encoding: str) -> Corpus:
        """The new corpus, encoded with the source's vocabulary extended by its characters."""
        if Path(path).is_dir():
            corpus = load_corpus(path)
            if corpus.vocab.chars[:len(self.vocab)] != self.vocab.chars:
                raise CharrnnError(f"{path} was prepared with another vocabulary than "
                                   f"{self.path}'s; give the text file to --init-from instead.")
            return corpus
        text = decode_text(read_bytes(path), f"corpus {path}", encoding)
        new = sorted(set(CharVocab.from_text(text).chars) - set(self.vocab.chars))
        return load_corpus(path, encoding, vocab=CharVocab((*self.vocab.chars, *new)))

    def record(self) -> dict[str, Any]:
        """What config.json keeps of where the run came from."""
        weights = self.path / "model.params"
        return {"path": str(self.path.resolve()), "vocab_size": len(self.vocab),
                "model_params_sha256": hashlib.sha256(weights.read_bytes()).hexdigest()}

    def copy_weights(self, model: CharModel) -> None:
        """Every weight of the source into `model`; for the vocabulary-sized ones (embedding
        and decoder), the source's rows over the first rows."""
        targets = model._collect_params_with_prefix()
        for name, source in self.model._collect_params_with_prefix().items():
            value, target = source.data(), targets[name]
            if value.shape != target.shape:
                merged = target.data().copyto(mx.cpu())
                merged[:value.shape[0]] = value.as_in_context(mx.cpu())
                value = merged
            target.set_data(value)
