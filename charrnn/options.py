"""Command-line options made from the settings (config.py): a setting is one field there, with
its default, bounds and help, and becomes an option of `train` and `compare` here."""
from __future__ import annotations

import dataclasses
import re
from typing import Any, Callable

import click

from charrnn.config import DEFAULT_LR, ModelConfig, TrainConfig


class Duration(click.ParamType):
    """Seconds, or a duration such as 90s, 5m, 1h30m."""

    name = "duration"
    _part = re.compile(r"(\d+(?:\.\d+)?)([hms]?)")

    def convert(self, value: Any, param: Any, ctx: Any) -> float:
        if isinstance(value, (int, float)):
            return float(value)
        text = str(value).strip().lower()
        parts = self._part.findall(text)
        if not parts or "".join(n + u for n, u in parts) != text:
            self.fail(f"{value!r} is not a duration: write e.g. 90s, 5m or 1h30m.", param, ctx)
        seconds = sum(float(n) * {"h": 3600, "m": 60, "s": 1, "": 1}[u] for n, u in parts)
        if seconds <= 0:
            self.fail("the duration must be positive.", param, ctx)
        return seconds


MODEL_SETTINGS = tuple(f.name for f in dataclasses.fields(ModelConfig) if f.name != "vocab_size")
TRAIN_SETTINGS = tuple(f.name for f in dataclasses.fields(TrainConfig))


def _option(field: dataclasses.Field) -> Callable:
    meta, default = field.metadata, field.default
    flag = "--" + field.name.replace("_", "-")
    if isinstance(default, bool):
        return click.option(flag, is_flag=True, help=meta["help"])
    if meta["choices"]:
        kind: Any = click.Choice(meta["choices"])
    elif field.name == "time_budget":
        kind, default = Duration(), None
    elif isinstance(default, str):
        kind = str
    else:
        bounds = {"min": meta["low"], "max": meta["high"], "min_open": meta["low_open"],
                  "max_open": meta["high_open"]}
        kind = click.IntRange(**bounds) if isinstance(default, int) else click.FloatRange(
            **bounds)
    if field.name == "lr":  # its default depends on the optimizer
        return click.option(flag, type=kind, default=None, help=f"{meta['help']} [default: "
                            + ", ".join(f"{v:g} for {k}" for k, v in DEFAULT_LR.items()) + "]")
    return click.option(flag, type=kind, default=default, show_default=default is not None,
                        help=meta["help"])


def setting_options(*skip: str) -> Callable:
    """Every model and training setting as an option, but those in `skip`."""
    fields = [f for cls in (ModelConfig, TrainConfig) for f in dataclasses.fields(cls)
              if f.name not in ("vocab_size", *skip)]

    def decorate(function: Callable) -> Callable:
        for field in reversed(fields):
            function = _option(field)(function)
        return function
    return decorate


def split_settings(options: dict[str, Any]) -> tuple[dict[str, Any], TrainConfig]:
    """Command options -> the model settings given and a checked TrainConfig."""
    if options.get("lr") is None:
        options["lr"] = DEFAULT_LR[options["optimizer"]]
    if options.get("time_budget") is None:
        options["time_budget"] = 0.0
    model = {k: options[k] for k in MODEL_SETTINGS if k in options}
    return model, TrainConfig(**{k: options[k] for k in TRAIN_SETTINGS}).check()
