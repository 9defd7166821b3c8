"""Model and training settings: one dataclass each, saved as JSON and checked field by field."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, TypeVar

from charrnn.errors import CharrnnError

RECURRENT_MODELS = ("lstm", "gru", "rnn_relu", "rnn_tanh")
MODELS = (*RECURRENT_MODELS, "unrolled")
OPTIMIZERS = ("adam", "sgd")

Settings = TypeVar("Settings", "ModelConfig", "TrainConfig")


@dataclass(frozen=True)
class ModelConfig:
    """What it takes to rebuild a model: everything but the weights."""

    model: str = "lstm"
    vocab_size: int = 0
    embed: int = 64
    hidden: int = 256
    layers: int = 2
    dropout: float = 0.2

    def check(self) -> ModelConfig:
        if self.model not in MODELS:
            raise CharrnnError(f"unknown model {self.model!r}: choose one of {', '.join(MODELS)}.")
        _positive(self, "vocab_size", "embed", "hidden", "layers")
        if not 0 <= self.dropout < 1:
            raise CharrnnError(f"dropout {self.dropout} must be in [0, 1).")
        return self


@dataclass(frozen=True)
class TrainConfig:
    """How a model is trained; saved beside it so a run can be resumed or repeated."""

    seq_len: int = 100
    batch_size: int = 32
    epochs: int = 30
    lr: float = 0.002
    optimizer: str = "adam"
    clip: float = 1.0
    weight_decay: float = 0.0
    lr_decay: float = 1.0
    patience: int = 5
    random_seq_len: bool = False
    max_steps: int = 0
    time_budget: float = 0.0
    seed: int = 0
    checkpoint_every: int = 0
    log_interval: int = 20
    eval_batch_size: int = 32

    def check(self) -> TrainConfig:
        _positive(self, "seq_len", "batch_size", "epochs", "lr", "clip", "patience",
                  "log_interval", "eval_batch_size")
        if self.optimizer not in OPTIMIZERS:
            raise CharrnnError(f"unknown optimizer {self.optimizer!r}: choose adam or sgd.")
        if not 0 < self.lr_decay <= 1:
            raise CharrnnError(f"lr_decay {self.lr_decay} must be in (0, 1]; 1 means no decay.")
        for name in ("weight_decay", "max_steps", "time_budget", "seed", "checkpoint_every"):
            if getattr(self, name) < 0:
                raise CharrnnError(f"{name} must not be negative.")
        return self


def _positive(settings: Any, *names: str) -> None:
    for name in names:
        if getattr(settings, name) <= 0:
            raise CharrnnError(f"{name} must be positive, not {getattr(settings, name)}.")


def to_dict(settings: Any) -> dict[str, Any]:
    return dataclasses.asdict(settings)


def from_dict(cls: type[Settings], data: Any, source: str) -> Settings:
    """Build settings from parsed JSON, refusing unknown fields and wrong types."""
    if not isinstance(data, dict):
        raise CharrnnError(f"{source}: expected a JSON object.")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise CharrnnError(f"{source}: unknown setting(s) {', '.join(unknown)}.")
    values = {}
    for name, value in data.items():
        expected = type(fields[name].default)
        if expected is float and type(value) is int:
            value = float(value)
        if type(value) is not expected:
            raise CharrnnError(f"{source}: {name} must be of type {expected.__name__}, not "
                               f"{value!r}.")
        values[name] = value
    try:
        return cls(**values).check()
    except CharrnnError as error:
        raise CharrnnError(f"{source}: {error}") from None
