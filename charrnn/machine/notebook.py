"""charrnn in Jupyter: whether we run in a notebook's kernel, and the HTML that a Run and a
Comparison show there (tables, and pictures inline: nothing is fetched)."""
from __future__ import annotations

import base64
import html
import sys
from typing import Any, Sequence


def in_notebook() -> bool:
    """True inside a Jupyter kernel (JupyterLab, Notebook, Colab), not in IPython's terminal."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return shell is not None and hasattr(shell, "kernel")


def figures_inline() -> None:
    """Let a Figure returned by a cell show as a picture: IPython does that only once pyplot
    has loaded its inline backend, and charrnn draws without pyplot."""
    if not in_notebook():
        return
    from IPython import get_ipython
    from IPython.core.pylabtools import select_figure_formats
    from matplotlib.figure import Figure

    shell = get_ipython()
    try:
        shell.display_formatter.formatters["image/png"].lookup_by_type(Figure)
    except KeyError:
        select_figure_formats(shell, {"png"})


def progress_bar(total: int, initial: int, label: str) -> Any:
    """tqdm's notebook bar (a widget) where ipywidgets is installed, else its text bar."""
    try:
        import ipywidgets  # noqa: F401
        from tqdm.notebook import tqdm
    except ImportError:
        from tqdm import tqdm
    return tqdm(total=total, initial=initial, desc=label, unit="window", file=sys.stdout)


def table(rows: Sequence[tuple[str, Any]] | Sequence[dict[str, Any]]) -> str:
    """An HTML table: (name, value) pairs as two columns, or dicts as rows under their keys."""
    if rows and isinstance(rows[0], dict):
        head = "".join(f"<th>{html.escape(str(k))}</th>" for k in rows[0])
        body = "".join("<tr>" + "".join(f"<td>{html.escape(_shown(v))}</td>" for v in row.values())
                       + "</tr>" for row in rows)
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    body = "".join(f"<tr><th style='text-align:left'>{html.escape(str(name))}</th>"
                   f"<td style='text-align:left'>{html.escape(_shown(value))}</td></tr>"
                   for name, value in rows)
    return f"<table>{body}</table>"


def image(png: bytes, alt: str) -> str:
    return (f'<img alt="{html.escape(alt)}" style="max-width: 100%" '
            f'src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}">')


def _shown(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)
