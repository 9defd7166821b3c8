"""What a user sees in the terminal: progress bars, epoch lines, samples as they are made."""
from __future__ import annotations

import sys
from typing import Any, Iterable

import click

from charrnn.scores import bits
from charrnn.training import Reporter


class ConsoleReporter(Reporter):
    """A progress bar per epoch on stderr, and one summary line per epoch on stdout."""

    def __init__(self, epochs: int):
        self.epochs = epochs
        self.status = ""
        self.bar = None

    def epoch_started(self, epoch: int, windows: int, done: int) -> None:
        self.status = ""
        self.bar = click.progressbar(length=windows, label=f"epoch {epoch}/{self.epochs}",
                                     file=sys.stderr, show_pos=True,
                                     item_show_func=lambda _: self.status)
        self.bar.__enter__()
        if done:
            self.bar.update(done)

    def advanced(self, windows: int, loss: float | None, chars_per_s: float) -> None:
        self.status = f"loss {bits(loss):.3f} bpc, {chars_per_s:,.0f} chars/s"
        self.bar.update(windows)

    def note(self, text: str) -> None:
        click.echo(f"note: {text}")

    def sampled(self, row: dict[str, Any]) -> None:
        if self.bar is not None:
            click.echo("", err=True)
        click.echo(f"--- step {row['step']}, temperature {row['temperature']:g} ---\n"
                   f"{row['seed']}{row['text']}")

    def epoch_ended(self, row: dict[str, Any]) -> None:
        self.bar.__exit__(None, None, None)
        minutes, seconds = divmod(int(row["elapsed"]), 60)
        click.echo(f"epoch {row['epoch']:>5}  step {row['step']:>6}  train "
                   f"{row['train_bpc']:.3f} bpc  val {row['val_bpc']:.3f} bpc"
                   f"{' (best)' if row['best'] else '       '}  {row['chars_per_s']:>7,} chars/s"
                   f"  {minutes}m{seconds:02d}s")


def stream(prefix: str, chars: Iterable[str]) -> None:
    """Print text as it is produced on a terminal; all at once when piped."""
    out = click.get_text_stream("stdout")
    if out.isatty():
        out.write(prefix)
        for c in chars:
            out.write(c)
            out.flush()
        out.write("\n")
    else:
        out.write(prefix + "".join(chars) + "\n")


def print_samples(texts: list[str]) -> None:
    for i, text in enumerate(texts, 1):
        if len(texts) > 1:
            click.echo(f"--- sample {i} ---")
        click.echo(text)
