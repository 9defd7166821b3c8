"""The small modules under the run directory, each against its own promise: atomic.py (a file is
old or new), paramfile.py (shapes from the headers alone), stopping.py (a signal asks, a second
one insists), plots.py (a picture of any runs, or a note)."""
from __future__ import annotations

import os
import signal
import struct

import mxnet as mx
import numpy as np
import pytest

from charrnn import plots
from charrnn.atomic import arrays_writer, atomic_write, bytes_writer, json_writer
from charrnn.errors import CharrnnError
from charrnn.paramfile import read_shapes
from charrnn.stopping import StopRequest, stop_on_signals


def test_atomic_write_replaces_every_file_or_none(tmp_path):
    a, b = tmp_path / "a.json", tmp_path / "b.bin"
    atomic_write({a: json_writer({"x": 1}), b: bytes_writer(b"old")})

    def fails(temporary: str) -> None:
        raise OSError(28, "No space left on device")

    with pytest.raises(CharrnnError, match=r"could not write .*b\.bin: No space left"):
        atomic_write({a: json_writer({"x": 2}), b: fails})
    assert a.read_text().strip() == '{\n "x": 1\n}' and b.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "b.bin"]  # no temporaries


def test_paramfile_reads_names_and_shapes_without_loading(tmp_path):
    path = tmp_path / "w.params"
    arrays = {"embedding.weight": mx.nd.zeros((84, 64)), "decoder.bias": mx.nd.ones((84,)),
              "half": mx.nd.zeros((3, 2, 5), dtype="float16")}
    arrays_writer(arrays)(str(path))
    assert read_shapes(path) == {name: a.shape for name, a in arrays.items()}

    data = path.read_bytes()
    (tmp_path / "cut.params").write_bytes(data[:len(data) // 2])
    with pytest.raises(CharrnnError, match=r"cut\.params is corrupt or truncated"):
        read_shapes(tmp_path / "cut.params")
    huge = bytearray(data)
    huge[16:24] = struct.pack("<Q", 10**9)  # claims a billion arrays
    (tmp_path / "huge.params").write_bytes(bytes(huge))
    with pytest.raises(CharrnnError, match="not an MXNet parameter file"):
        read_shapes(tmp_path / "huge.params")
    with pytest.raises(CharrnnError, match=r"missing\.params"):
        read_shapes(tmp_path / "missing.params")


def test_a_signal_requests_a_stop_and_a_second_one_is_the_default_again():
    stop = StopRequest()
    before = signal.getsignal(signal.SIGTERM)
    with stop_on_signals(stop):
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.signal == signal.SIGTERM
        assert signal.getsignal(signal.SIGTERM) == before  # a second SIGTERM is not caught
    assert signal.getsignal(signal.SIGTERM) == before


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
