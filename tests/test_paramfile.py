"""paramfile.py: the names and shapes of an MXNet parameter file, from its headers alone."""
from __future__ import annotations

import struct

import mxnet as mx
import pytest

from charrnn.errors import CharrnnError
from charrnn.machine.atomic import arrays_writer
from charrnn.runs.paramfile import read_shapes


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
