"""An inspection on disk: inspect.json (the figures), index.html (one self-contained file:
style, script, data and pictures inline, no network) and, with matplotlib, saturation.png."""
from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from charrnn.machine.atomic import atomic_write, bytes_writer, json_writer
from charrnn.runs import plots


class Inspection(Protocol):
    """What a report shows of an inspection (inspection.Inspection, which imports this
    module: the report does not import it back)."""

    figures: dict
    view: dict
    shown_activations: dict

PAGE = Path(__file__).parent / "page"
# Nothing but what the file holds: a report opened from disk asks no server for anything.
POLICY = ("default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
          "script-src 'unsafe-inline'")


def quantised(shown: dict[str, np.ndarray]) -> dict[str, dict[str, Any]]:
    """Every unit's activations over the shown characters as int8, scaled per unit (a 2 x 512
    LSTM's 2,048 units over 2,000 characters: 4 MB instead of 33 as JSON numbers)."""
    blocks = {}
    for key, values in shown.items():
        scale = np.maximum(np.abs(values).max(axis=0), 1e-12)
        levels = np.rint(values / scale * 127).astype(np.int8)
        blocks[key] = {"scale": [float(s) for s in scale],
                       "values": base64.b64encode(levels.T.tobytes()).decode("ascii")}
    return blocks


def head(title: str, style: str) -> str:
    """The start of a self-contained page, to <body>: its policy allows no request."""
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="{POLICY}">
<link rel="icon" href="data:,">
<title>{html.escape(title)}</title>
<style>
{style}
</style>
</head>
"""


def page(inspection: Inspection, title: str, picture: bytes | None = None) -> str:
    data = {"figures": inspection.figures, "view": inspection.view,
            "activations": quantised(inspection.shown_activations)}
    embedded = json.dumps(data, separators=(",", ":")).replace("</", "<\\/")
    image = (f'<h2>Gate saturation</h2><img alt="gate saturation" src="data:image/png;base64,'
             f'{base64.b64encode(picture).decode("ascii")}">' if picture else "")
    style = ("body { font: 16px/1.45 system-ui, sans-serif; max-width: 70em; margin: 1em auto; "
             "padding: 0 1em; }\n.hint { color: #555; font-size: 14px; }\n"
             + (PAGE / "inside.css").read_text(encoding="utf-8"))
    return head(title, style) + f"""<body>
<h1>{html.escape(title)}</h1>
<main id="inside"></main>
{image}
<script>
{(PAGE / "inside.js").read_text(encoding="utf-8")}
const DATA = {embedded};
Inside.render(document.getElementById("inside"), DATA, Inside.embedded(DATA));
</script>
</body>
</html>
"""


def inline(inspection: Inspection, title: str, height: int = 900) -> str:
    """The report for a notebook's output: the same page in a sandboxed iframe (its script
    runs there, under the page's own policy; nothing is fetched), as JupyterLab, classic
    Jupyter and Colab-like sandboxes all show it."""
    picture = saturation_png(inspection.figures["saturation"])
    document = html.escape(page(inspection, title, picture), quote=True)
    return (f'<iframe srcdoc="{document}" sandbox="allow-scripts" title="{html.escape(title)}" '
            f'style="width: 100%; height: {height}px; border: 1px solid #ddd"></iframe>')


def write_inspection(out: Path, inspection: Inspection, title: str) -> list[Path]:
    """index.html and inspect.json in `out` (and saturation.png when it can be drawn), written
    together: a report is never half old, half new."""
    out.mkdir(parents=True, exist_ok=True)
    picture = saturation_png(inspection.figures["saturation"])
    files = {out / "inspect.json": json_writer(inspection.figures),
             out / "index.html": bytes_writer(page(inspection, title, picture).encode("utf-8"))}
    if picture:
        files[out / "saturation.png"] = bytes_writer(picture)
    atomic_write(files)
    return list(files)


def saturation_png(saturation: list[dict]) -> bytes | None:
    """Karpathy et al.'s (2015) figure: per gate of each layer, every unit's fraction of
    characters left-saturated (< 0.1) against right-saturated (> 0.9). None without gates
    or without matplotlib."""
    if not saturation or not plots.available():
        return None
    from matplotlib.figure import Figure

    layers = sorted({s["layer"] for s in saturation})
    gates = list(dict.fromkeys(s["gate"] for s in saturation))
    figure = Figure(figsize=(3 * len(gates), 3 * len(layers)))
    axes = figure.subplots(len(layers), len(gates), squeeze=False)
    for entry in saturation:
        ax = axes[layers.index(entry["layer"])][gates.index(entry["gate"])]
        ax.scatter(entry["left"], entry["right"], s=4, alpha=0.5)
        ax.plot([0, 1], [1, 0], color="#999", linewidth=0.8)
        ax.set(xlim=(0, 1), ylim=(0, 1), title=f"layer {entry['layer']} {entry['gate']}",
               xlabel="left-saturated", ylabel="right-saturated")
    figure.tight_layout()
    return plots.png(figure)
