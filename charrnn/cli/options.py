"""Command-line options made from the settings (config.py): a setting is one field there, with
its default, bounds and help, and becomes an option of `train` and `compare` here."""
from __future__ import annotations

import dataclasses
from typing import Any, Callable

import click
from click.core import ParameterSource

from charrnn.config import (
    DEFAULT_LR,
    ModelConfig,
    TrainConfig,
    parse_duration,
)
from charrnn.errors import CharrnnError


class Duration(click.ParamType):
    """Seconds, or a duration such as 90s, 5m, 1h30m."""

    name = "duration"

    def convert(self, value: Any, param: Any, ctx: Any) -> float:
        try:
            seconds = parse_duration(value)
        except CharrnnError as error:
            self.fail(str(error), param, ctx)
        if seconds <= 0:
            self.fail("the duration must be positive.", param, ctx)
        return seconds


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


def typed(ctx: click.Context, options: dict[str, Any]) -> dict[str, Any]:
    """The options the user typed (or set in the environment), not click's defaults: what the
    command passes on to the API, which knows the defaults (one definition of each)."""
    sources = (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)
    return {name: value for name, value in options.items()
            if ctx.get_parameter_source(name) in sources}

