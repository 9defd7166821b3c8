"""Learning curves as pictures: training and validation bits per character against steps and
against time, the learning rate beneath. matplotlib is the optional `plot` extra: without it
nothing is drawn and the callers say so in one line."""
from __future__ import annotations

import io
from pathlib import Path
from typing import Sequence, Tuple

Curve = Tuple[str, Sequence[dict]]  # a label and its metrics.jsonl rows

MISSING = "(no curves.png: matplotlib is not installed; pip install 'charrnn[plot]')"


def available() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def curves_figure(curves: Sequence[Curve], title: str):
    """A matplotlib Figure of one or several runs (no pyplot: a notebook's backend is left
    alone, and a returned Figure shows inline). Needs matplotlib."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(12, 7))
    axes = figure.subplots(2, 2, sharex="col", gridspec_kw={"height_ratios": [3, 1]})
    (by_step, by_time), (lr_step, lr_time) = axes
    for index, (label, rows) in enumerate(curves):
        color = f"C{index}"
        steps = [r["step"] for r in rows]
        minutes = [r["elapsed"] / 60 for r in rows]
        for top, bottom, x in ((by_step, lr_step, steps), (by_time, lr_time, minutes)):
            top.plot(x, [r["val_bpc"] for r in rows], color=color, marker="o", markersize=3,
                     label=f"{label} validation")
            top.plot(x, [r["train_bpc"] for r in rows], color=color, linestyle="--",
                     label=f"{label} training")
            bottom.plot(x, [r["lr"] for r in rows], color=color)
    by_step.set_ylabel("bits per character")
    lr_step.set_ylabel("learning rate")
    lr_step.set_xlabel("optimizer steps")
    lr_time.set_xlabel("wall time (minutes)")
    for ax in axes.flat:
        ax.grid(alpha=0.3)
    by_time.legend(fontsize=8)
    figure.suptitle(title)
    figure.tight_layout()
    return figure


def plot_runs(curves: Sequence[Curve], path: Path, title: str) -> Path | None:
    """One PNG of one or several runs; None without matplotlib."""
    if not available():
        return None
    curves_figure(curves, title).savefig(path, dpi=100)
    return path


def png(figure) -> bytes:
    """A Figure as PNG bytes (for a page or a notebook's HTML)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90)
    return buffer.getvalue()
