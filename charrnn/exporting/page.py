"""The model as one web page that generates offline: style, script (inside.js and offline.js)
and weights inline, under a Content-Security-Policy that allows no request at all."""
from __future__ import annotations

import base64
import html
import json
from pathlib import Path

import numpy as np

from charrnn.errors import UsageError
from charrnn.inside.report import head

PAGE = Path(__file__).parent / "page"
INSIDE = Path(__file__).parent.parent / "inside" / "page"
SERVING = Path(__file__).parent.parent / "serving" / "page"  # the serve page's look
# The largest page written: a browser parses a page of this size in a few seconds, and a 2 x
# 512 LSTM (3.3 million weights, 13 MB as float32) makes an 18 MB page.
MOST_BYTES = 64_000_000


def page_html(weights: dict[str, np.ndarray], config: dict, vocab: list[str], title: str) -> str:
    """The page. The weights are float32: float16 halves the page (8.9 MB instead of 17.8 for
    the pretrained 2 x 512 LSTM) but moved its probabilities by up to 1.2e-5 and changed its
    greedy continuation within 100 characters; float32 gives Python's (measured:
    docs/results.md, "Exporting")."""
    count = sum(w.size for w in weights.values())
    size = count * 4 * 4 // 3  # float32, in base64
    if size > MOST_BYTES:
        raise UsageError(f"the model's {count:,} weights make a "
                         f"page of {size / 1e6:,.0f} MB, more than the {MOST_BYTES / 1e6:.0f} "
                         "MB a page may hold: export it as onnx or safetensors.")
    tensors = {name: {"shape": list(w.shape),
                      "data": base64.b64encode(w.astype("<f4").tobytes()).decode("ascii")}
               for name, w in weights.items()}
    data = json.dumps({"config": config, "vocab": vocab, "tensors": tensors},
                      separators=(",", ":"), ensure_ascii=False).replace("</", "<\\/")
    read = lambda folder, file: (folder / file).read_text(encoding="utf-8")  # noqa: E731
    style = read(SERVING, "style.css") + "\n" + read(INSIDE, "inside.css")
    return head(title, style) + f"""<body>
<header><h1>{html.escape(title)}</h1>
<p class="hint">{config['layers']} x {config['hidden']} {config['model']}, {len(vocab)}
characters; computed in this page, offline (charrnn export).</p></header>
<nav role="tablist">
<button role="tab" id="tab-write" aria-controls="write" aria-selected="true">Write</button>
<button role="tab" id="tab-inside" aria-controls="inside-tab" aria-selected="false">Inside</button>
</nav>
<section id="write" role="tabpanel">
<textarea id="text" rows="8" aria-label="text">The meaning of life is</textarea>
<div id="suggestions" aria-live="polite"></div>
<div class="controls">
<button id="continue">Continue</button>
<label>length <input id="length" type="number" min="1" value="300"></label>
<label>temperature <input id="temperature" type="number" min="0" step="0.1" value="0.8"></label>
<label>seed <input id="seed" type="number" min="0" value="0"></label>
<span id="status"></span>
</div>
<p class="hint">The most likely next characters appear as you type: click one, or press Tab
for the first. Temperature 0: always the most likely character.</p>
</section>
<section id="inside-tab" role="tabpanel" hidden>
<textarea id="inside-input" rows="4" aria-label="text to look inside">
He said "no" (twice).</textarea>
<button id="inspect">Look inside</button>
<div id="inside-view"></div>
</section>
<script>
{read(INSIDE, "inside.js")}
{read(PAGE, "offline.js")}
Offline.start({data});
</script>
</body>
</html>
"""
