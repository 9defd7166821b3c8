"""Model and training settings: one dataclass each, saved as JSON and checked field by field.

Each field carries its bounds and its help: they check a config.json (an untrusted file: a run
directory may come from anyone) before anything is built, and make the command-line options.
The upper bounds are far beyond any character model; they stop a hostile file from making
charrnn allocate gigabytes.
"""
from __future__ import annotations

import dataclasses
import difflib
import re
from dataclasses import dataclass, field
from typing import Any, TypeVar

from charrnn.errors import CharrnnError

RECURRENT_MODELS = ("lstm", "gru", "rnn_relu", "rnn_tanh")
MODELS = (*RECURRENT_MODELS, "unrolled")
OPTIMIZERS = ("adam", "sgd")
DEFAULT_LR = {"adam": 0.004, "sgd": 1.0}
SHAPES = ("linear", "cosine", "cooldown", "constant")  # of the rate: training/schedule.py
MAX_VOCAB = 65536
# The most weights a run directory may describe: 4 GB of float32.
MAX_PARAMETERS = 1_000_000_000

Settings = TypeVar("Settings", "ModelConfig", "TrainConfig")


def setting(default: Any, help: str, low: float | None = None, high: float | None = None,
            low_open: bool = False, high_open: bool = False,
            choices: tuple[str, ...] = ()) -> Any:
    """A dataclass field with its bounds: [low, high], either end open if told."""
    return field(default=default, metadata={"help": help, "low": low, "high": high,
                                            "low_open": low_open, "high_open": high_open,
                                            "choices": choices})


@dataclass(frozen=True)
class ModelConfig:
    """What it takes to rebuild a model: everything but the weights."""

    model: str = setting("lstm", "Recurrent cell, or the unrolled three-character "
                         "feed-forward baseline.", choices=MODELS)
    vocab_size: int = setting(0, "Characters in the vocabulary (from the corpus).", 1,
                              MAX_VOCAB)
    embed: int = setting(64, "Size of the character embedding.", 1, 16384)
    hidden: int = setting(256, "Hidden units per layer.", 1, 16384)
    layers: int = setting(2, "Recurrent layers (ignored by the unrolled model).", 1, 64)
    dropout: float = setting(0.2, "Variational dropout (one mask per sequence) on the embedded "
                             "input, between layers and before the decoder.", 0, 1,
                             high_open=True)
    weight_drop: float = setting(0.0, "DropConnect on the hidden-to-hidden weights (AWD-LSTM).",
                                 0, 1, high_open=True)
    embed_drop: float = setting(0.0, "Drop whole characters: rows of the embedding.", 0, 1,
                                high_open=True)
    tie_weights: bool = setting(False, "The decoder shares the embedding's weights (needs "
                                "--embed equal to --hidden).")

    def check(self) -> ModelConfig:
        _check(self)
        return self.check_settings()

    def check_settings(self) -> ModelConfig:
        """Every field but the vocabulary size, which the corpus gives."""
        _check(self, skip=("vocab_size",))
        if self.tie_weights and self.embed != self.hidden:
            raise CharrnnError(f"tie_weights needs embed equal to hidden (now {self.embed} and "
                               f"{self.hidden}): the decoder reads the embedding's rows.")
        return self


@dataclass(frozen=True)
class TrainConfig:
    """How a model is trained; saved beside it so a run can be resumed or repeated."""

    seq_len: int = setting(100, "Characters per BPTT window: how far back gradients flow.",
                           1, 100_000)
    batch_size: int = setting(32, "Columns trained in parallel (split across devices).", 1,
                              65_536)
    epochs: int = setting(30, "Most passes over the training split.", 1, 10**9)
    lr: float = setting(0.004, "Peak learning rate.", 0, low_open=True)
    optimizer: str = setting("adam", "Optimizer.", choices=OPTIMIZERS)
    clip: float = setting(1.0, "Largest global norm of the gradient of the mean loss.", 0,
                          low_open=True)
    weight_decay: float = setting(0.0, "L2 penalty on all weights, added to the gradient.", 0)
    lr_schedule: str = setting("cooldown", "How the rate falls, after --warmup steps, to 0 where "
                               "the run ends (the end of --epochs or of --time-budget, "
                               "whichever comes first): in a line; along a half cosine; "
                               "held, then a (1 - sqrt) cooldown over the second half; or not "
                               "at all.", choices=SHAPES)
    warmup: int = setting(200, "Steps over which the rate rises linearly from 0 at the start.",
                          0)
    beta2: float = setting(0.999, "Adam's decay rate of the squared gradients' average.", 0, 1,
                           high_open=True)
    forget_bias: float = setting(0.0, "The LSTM's forget-gate bias at initialisation (1 keeps "
                                 "the memory early on, as char-rnn does).", -10, 10)
    lr_decay: float = setting(1.0, "Multiply the learning rate by this when validation stops "
                              "improving.", 0, 1, low_open=True)
    patience: int = setting(5, "Stop after this many epochs without a better validation "
                            "loss.", 1, 10**9)
    random_seq_len: bool = setting(False, "Vary the window length around --seq-len "
                                   "(AWD-LSTM), scaling the step.")
    max_steps: int = setting(0, "End after this many optimizer steps, the learning rate cooled "
                             "down to 0 there (0: no limit).", 0)
    time_budget: float = setting(0.0, "Stop after this much time, e.g. 5m (0: no limit).", 0)
    stop_at_step: int = setting(0, "Stop after this step as Ctrl-C would: checkpointed, and "
                                "--resume continues exactly as if never stopped (the schedule "
                                "does not plan for it; 0: no stop).", 0)
    seed: int = setting(0, "Seed of initialisation and dropout: the same seed gives the same "
                        "run.", 0, 2**31 - 1)
    checkpoint_every: int = setting(0, "Also save a resumable checkpoint every N steps (0: "
                                    "each epoch only).", 0)
    log_interval: int = setting(20, "Steps between progress updates (the only time the loop "
                                "waits for the device).", 1, 10**9)
    eval_every: int = setting(0, "Also validate every N steps (0: at epoch ends only): record "
                              "a row, keep the best weights, count patience.", 0)
    eval_batches: int = setting(0, "Score at most K windows of the validation split at each "
                                "evaluation (0: all of it), for large corpora.", 0)
    sample_every: int = setting(0, "Print and keep a 200-character sample every N steps (0: "
                                "never), in samples.jsonl.", 0)
    sample_temperatures: str = setting("0.5,1.0", "Temperatures of those samples, "
                                       "comma-separated.")
    eval_batch_size: int = setting(32, "Columns used when scoring the validation split.", 1,
                                   65_536)

    def check(self) -> TrainConfig:
        _check(self)
        self.temperatures()
        return self

    def temperatures(self) -> list[float]:
        try:
            values = [float(t) for t in self.sample_temperatures.split(",")]
        except ValueError:
            values = []
        if not values or min(values) <= 0:
            raise CharrnnError(f"sample_temperatures {self.sample_temperatures!r} must be "
                               "positive numbers separated by commas, e.g. 0.5,1.0.")
        return values


def _check(settings: Settings, skip: tuple[str, ...] = ()) -> Settings:
    """Each field within its bounds, with a message naming the field."""
    for f in dataclasses.fields(settings):
        if f.name in skip:
            continue
        value, meta = getattr(settings, f.name), f.metadata
        if meta["choices"] and value not in meta["choices"]:
            raise CharrnnError(f"unknown {f.name} {value!r}: choose one of "
                               f"{', '.join(meta['choices'])}.")
        low, high = meta["low"], meta["high"]
        if low is not None and (value <= low if meta["low_open"] else value < low):
            bound = f"greater than {low:g}" if meta["low_open"] else f"at least {low:g}"
            raise CharrnnError(f"{f.name} must be {bound}, not {value}.")
        if high is not None and meta["high_open"] and value >= high:
            raise CharrnnError(f"{f.name} must be less than {high:g}, not {value}.")
        if high is not None and value > high:
            raise CharrnnError(f"{f.name} {value:,} is larger than charrnn allows "
                               f"({high:,}).")
    return settings


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


# -- the settings as keywords: charrnn.train(**settings) and the command line's options ------

MODEL_SETTINGS = tuple(f.name for f in dataclasses.fields(ModelConfig) if f.name != "vocab_size")
TRAIN_SETTINGS = tuple(f.name for f in dataclasses.fields(TrainConfig))
_FIELDS = {f.name: f for cls in (ModelConfig, TrainConfig) for f in dataclasses.fields(cls)
           if f.name != "vocab_size"}
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)([hms]?)")


def parse_duration(value: Any) -> float:
    """Seconds from a number or a duration such as 90s, 5m, 1h30m."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        text = str(value).strip().lower()
        parts = _DURATION_PART.findall(text)
        if not parts or "".join(n + u for n, u in parts) != text:
            raise CharrnnError(f"{value!r} is not a duration: write e.g. 90s, 5m or 1h30m.")
        seconds = sum(float(n) * {"h": 3600, "m": 60, "s": 1, "": 1}[u] for n, u in parts)
    if seconds < 0:
        raise CharrnnError("the duration must be positive.")
    return seconds


def checked_keywords(given: dict[str, Any], allowed: tuple[str, ...] = tuple(_FIELDS)
                     ) -> dict[str, Any]:
    """Settings given as keywords, with their types checked: an unknown name is refused naming
    the closest one; ints pass for floats and time_budget takes a duration such as "5m"."""
    for name in given:
        if name not in allowed:
            close = difflib.get_close_matches(name, allowed, n=1)
            hint = (f"did you mean {close[0]}?" if close
                    else f"the settings are {', '.join(allowed)}.")
            raise CharrnnError(f"unknown setting {name!r}: {hint}")
    values = {}
    for name, value in given.items():
        expected = type(_FIELDS[name].default)
        if name == "time_budget":
            value = parse_duration(value)
        elif expected is float and type(value) is int:
            value = float(value)
        if type(value) is not expected:
            raise CharrnnError(f"{name} must be of type {expected.__name__}, not {value!r}.")
        values[name] = value
    return values


def settings_from(given: dict[str, Any]) -> tuple[ModelConfig, TrainConfig]:
    """The settings a run starts with: each one given, else its default (one definition, the
    field's). The learning rate's default depends on the optimizer. The model's vocabulary
    size is left at 0: the corpus gives it."""
    given = checked_keywords(given)
    model = ModelConfig(**{k: v for k, v in given.items() if k in MODEL_SETTINGS})
    training = {k: v for k, v in given.items() if k in TRAIN_SETTINGS}
    training.setdefault("lr", DEFAULT_LR[training.get("optimizer", TrainConfig.optimizer)])
    return model.check_settings(), TrainConfig(**training).check()
