"""Options made from the settings (options.py): each setting's bounds, choices and help reach
the command line, and the command line's values come back as a checked TrainConfig."""
from __future__ import annotations

import dataclasses

import click
import pytest
from click.testing import CliRunner

from charrnn.cli.options import Duration, setting_options
from charrnn.config import DEFAULT_LR, ModelConfig, TrainConfig, settings_from


@click.command()
@setting_options()
def echo(**options):
    model, config = settings_from({k: v for k, v in options.items() if v is not None})
    click.echo(f"{model.model} {model.hidden} {config.lr:g} {config.time_budget:g}")


def run(*args: str):
    return CliRunner().invoke(echo, list(args))


def test_every_setting_is_an_option_with_its_default():
    names = {p.name for p in echo.params}
    settings = {f.name for cls in (ModelConfig, TrainConfig) for f in dataclasses.fields(cls)}
    assert names == settings - {"vocab_size"}
    assert run().output.split() == ["lstm", "256", f"{DEFAULT_LR['adam']:g}", "0"]
    assert run("--optimizer", "sgd").output.split()[2] == f"{DEFAULT_LR['sgd']:g}"


@pytest.mark.parametrize("args, message", [
    (("--hidden", "0"), "--hidden"), (("--dropout", "1"), "--dropout"),
    (("--model", "transformer"), "'transformer' is not one of"),
    (("--lr", "0"), "--lr"), (("--time-budget", "soon"), "is not a duration"),
])
def test_values_out_of_bounds_are_refused_by_click(args, message):
    result = run(*args)
    assert result.exit_code == 2 and message in result.output


@pytest.mark.parametrize("text, seconds", [("90", 90), ("90s", 90), ("5m", 300),
                                           ("1h30m", 5400), ("0.5h", 1800), (12, 12)])
def test_durations(text, seconds):
    assert Duration().convert(text, None, None) == seconds
    assert float(run("--time-budget", str(text)).output.split()[3]) == seconds


def test_help_shows_each_settings_help_and_default():
    help_text = run("--help").output
    field = next(f for f in dataclasses.fields(ModelConfig) if f.name == "hidden")
    assert field.metadata["help"].split(".")[0] in " ".join(help_text.split())
    assert "[default: 256" in help_text
