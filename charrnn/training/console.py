"""What a user sees in the terminal: progress bars, epoch lines, samples as they are made."""
from __future__ import annotations

import sys
from typing import Any, Iterable, Sequence

import click

from charrnn.machine.notebook import in_notebook, progress_bar
from charrnn.models.scores import Memorisation, bits
from charrnn.text.index import Copy, merged
from charrnn.training.reporter import Reporter


class ConsoleReporter(Reporter):
    """A progress bar per epoch (on stderr in a terminal; tqdm's in a notebook), and one
    summary line per epoch on stdout."""

    def __init__(self, epochs: int, notebook: bool | None = None):
        self.epochs = epochs
        self.notebook = in_notebook() if notebook is None else notebook
        self.status = ""
        self.bar = None
        self.closed = True

    def epoch_started(self, epoch: int, windows: int, done: int) -> None:
        self.status, self.closed = "", False
        label = f"epoch {epoch}/{self.epochs}"
        if self.notebook:
            self.bar = progress_bar(windows, done, label)
            return
        self.bar = click.progressbar(length=windows, label=label, file=sys.stderr,
                                     show_pos=True, item_show_func=lambda _: self.status)
        self.bar.__enter__()
        if done:
            self.bar.update(done)

    def advanced(self, windows: int, loss: float | None, chars_per_s: float,
                 schedule: dict[str, Any]) -> None:
        self.status = (f"loss {bits(loss):.3f} bpc, {chars_per_s:,.0f} chars/s, lr "
                       f"{schedule['lr']:.2g}{planned_end(schedule)}")
        if self.notebook:
            self.bar.set_postfix_str(self.status, refresh=False)
        self.bar.update(windows)

    def close(self) -> None:
        """The epoch's bar is done (an evaluation inside an epoch closes it too: the rest of
        the epoch then advances without a bar)."""
        if self.bar is not None and not self.closed:
            self.bar.close() if self.notebook else self.bar.__exit__(None, None, None)
        self.closed = True

    def note(self, text: str) -> None:
        click.echo(f"note: {text}")

    def sampled(self, row: dict[str, Any]) -> None:
        if self.bar is not None:
            click.echo("", err=True)
        click.echo(f"--- step {row['step']}, temperature {row['temperature']:g} ---\n"
                   f"{row['seed']}{row['text']}")

    def epoch_ended(self, row: dict[str, Any]) -> None:
        self.close()
        click.echo(f"epoch {round(row['epoch'], 2):>5g}  step {row['step']:>6}  train "
                   f"{row['train_bpc']:.3f} bpc  val {row['val_bpc']:.3f} bpc"
                   f"{' (best)' if row['best'] else '       '}  {row['chars_per_s']:>7,} chars/s"
                   f"  lr {row['lr']:.2g}  {clock(row['elapsed'])}")


def planned_end(schedule: dict[str, Any]) -> str:
    """Where the learning rate's plan ends: a step, and the time left until it when known."""
    if not schedule["end"]:
        return ""
    left = schedule["left"]
    return f", ends at step {schedule['end']:,}" + (
        f" in {clock(left)}" if left is not None else "")


def clock(seconds: float) -> str:
    minutes, seconds = divmod(int(seconds), 60)
    return f"{minutes}m{seconds:02d}s"


def say(text: str = "") -> None:
    click.echo(text)


def stream(pieces: Iterable[str]) -> None:
    """Print text as it is produced on a terminal or in a notebook; all at once when piped."""
    out = click.get_text_stream("stdout") if not in_notebook() else sys.stdout
    if out.isatty() or in_notebook():
        for piece in pieces:
            out.write(piece)
            out.flush()
        out.write("\n")
    else:
        out.write("".join(pieces) + "\n")


def print_samples(texts: list[str]) -> None:
    for i, text in enumerate(texts, 1):
        if len(texts) > 1:
            click.echo(f"--- sample {i} ---")
        click.echo(text)


def print_copied(seed: str, continuation: str, copies: Sequence[Copy], number: int) -> None:
    """A continuation with the stretches it copied from the corpus marked: in colour on a
    terminal, in [[double brackets]] otherwise; then the longest."""
    if number:
        click.echo(f"--- sample {number} ---")
    colour = click.get_text_stream("stdout").isatty()
    marked, at = [seed], 0
    for start, end in merged(copies):
        span = continuation[start:end]
        marked += [continuation[at:start],
                   click.style(span, fg="black", bg="yellow") if colour else f"[[{span}]]"]
        at = end
    click.echo("".join([*marked, continuation[at:]]))
    longest = max(copies, key=lambda c: c.length, default=None)
    click.echo(f"copied: {len(copies)} stretch{'es' * (len(copies) != 1)} of the corpus"
               + (f", the longest {longest.length} characters "
                  f"({continuation[longest.start:longest.end]!r})" if longest else ""),
               err=True)


def print_memorisation(rows: Sequence[Memorisation]) -> None:
    click.echo(f"{'temperature':>11}  {'written':>8}  {'copied':>7}  {'longest':>7}  "
               "longest stretch")
    for row in rows:
        click.echo(f"{row.temperature:>11g}  {row.chars:>8,}  {row.share:>7.1%}  "
                   f"{row.longest:>7}  {row.longest_text!r}")
    click.echo(f"(copied: characters inside stretches of {rows[0].min_length}+ characters "
               "found verbatim in the corpus)" if rows else "")


def print_inspection(source: str, figures: dict) -> None:
    """`inspect`'s summary: the text's bits/char, the best unit per property, the gain."""
    click.echo(f"{source}: {figures['text_chars']:,} characters, {figures['bpc']:.4f} bits/char"
               + (f" ({figures['skipped']:,} skipped: not in the vocabulary)"
                  if figures["skipped"] else "")
               + (f"; units ranked on the first {figures['ranked_chars']:,} (--ranked-chars)"
                  if figures["ranked_chars"] < figures["text_chars"] else ""))
    for prop in figures["properties"]:
        if prop["best"]:
            best = prop["best"][0]
            click.echo(f"  {prop['name']:<28} unit {best['layer']}.{best['state']}."
                       f"{best['unit']:<5} {best['score']:.3f} (permuted "
                       f"{prop['baseline_permuted']:.3f}, untrained "
                       f"{prop['baseline_untrained']:.3f})")
    if "compare" in figures:
        compared, gain = figures["compare"], figures["compare"]["gain_bits"]
        click.echo(f"{compared['run']}: {compared['bpc']:.4f} bits/char; {figures['run']} "
                   f"needs {abs(gain):,.0f} bits {'fewer' if gain >= 0 else 'more'} for the "
                   "whole text")
