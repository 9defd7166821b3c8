"""plots.py: a picture of any runs' curves, or a note of what is missing."""
from __future__ import annotations

import numpy as np

from charrnn.runs import plots


def test_plots_draw_several_runs_or_say_what_is_missing(tmp_path):
    rows = [{"epoch": e, "step": 10 * e, "train_bpc": 3 - e / 3, "val_bpc": 3.1 - e / 3,
             "lr": 0.002, "elapsed": 5.0 * e} for e in range(1, 5)]
    other = [{**row, "val_bpc": row["val_bpc"] + 0.2} for row in rows]
    out = tmp_path / "curves.png"
    drawn = plots.plot_runs([("a", rows), ("b", other)], out, "two runs")
    if not plots.available():
        assert drawn is None and "pip install 'charrnn[plot]'" in plots.MISSING
        return
    assert drawn == out and out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    from matplotlib import image
    picture = image.imread(str(out))
    assert picture.shape[0] > 200 and np.ptp(picture[..., :3]) > 0.5  # drawn, not blank
