"""How much each model copies from its corpus, by temperature: the table of docs/results.md and
its picture (`python -m benchmarks.memorisation RUN [RUN ...] --plot docs/memorisation.png`).
"""
from __future__ import annotations

from pathlib import Path

import click

import charrnn


@click.command()
@click.argument("runs", nargs=-1, required=True)
@click.option("--plot", type=click.Path(dir_okay=False, path_type=Path), default=None)
def main(runs: tuple[str, ...], plot: Path | None) -> None:
    click.echo("| model | temperature | written | copied (20+ chars) | longest stretch |")
    click.echo("|---|---:|---:|---:|---|")
    curves = {}
    for run in runs:
        model = charrnn.load(run)
        config = model.config
        label = f"{model.name} ({config.layers} x {config.hidden} {config.model})"
        rows = model.memorisation()
        curves[label] = rows
        for row in rows:
            shown = row.longest_text.replace("\n", "⏎").replace("|", "\\|")
            click.echo(f"| {label} | {row.temperature:g} | {row.chars:,} | {row.share:.1%} | "
                       f"{row.longest}: `{shown}` |")
    if plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        figure, axes = plt.subplots(figsize=(6, 3.5))
        for label, rows in curves.items():
            axes.plot([r.temperature for r in rows], [100 * r.share for r in rows], "o-",
                      label=label)
        axes.set_xlabel("temperature")
        axes.set_ylabel("% of characters copied (20+)")
        axes.set_title("What the models copy from their corpus")
        axes.grid(alpha=0.3)
        axes.legend(fontsize=8)
        figure.tight_layout()
        figure.savefig(plot, dpi=110)
        click.echo(f"wrote {plot}")


if __name__ == "__main__":
    main()
