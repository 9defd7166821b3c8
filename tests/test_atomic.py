"""atomic.py: a set of files is replaced whole or not at all."""
from __future__ import annotations

import pytest

from charrnn.errors import CharrnnError
from charrnn.machine.atomic import atomic_write, bytes_writer, json_writer


def test_atomic_write_replaces_every_file_or_none(tmp_path):
    a, b = tmp_path / "a.json", tmp_path / "b.bin"
    atomic_write({a: json_writer({"x": 1}), b: bytes_writer(b"old")})

    def fails(temporary: str) -> None:
        raise OSError(28, "No space left on device")

    with pytest.raises(CharrnnError, match=r"could not write .*b\.bin: No space left"):
        atomic_write({a: json_writer({"x": 2}), b: fails})
    assert a.read_text().strip() == '{\n "x": 1\n}' and b.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "b.bin"]  # no temporaries
