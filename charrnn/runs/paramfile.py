"""The names and shapes in an MXNet parameter file, read from its headers without loading it.

A run directory is checked before anything is allocated: the shapes its params file holds must
be those its config.json describes. MXNet has no reader for the headers alone, and loading
would allocate whatever the file claims. The format (MXNet 1.x, NDArray::Save): a list header,
then per array its magic, storage type, shape, device, dtype and data, then the names.
"""
from __future__ import annotations

import struct
from pathlib import Path
from typing import BinaryIO, Dict, Tuple

from charrnn.errors import CharrnnError

_LIST_MAGIC = 0x112
_ARRAY_MAGIC = 0xF993FAC9            # version 2: dense or sparse, int64 shape
_DENSE = 0
# MXNet's dtype flags -> bytes per element (float32, float64, float16, uint8, int32, int8,
# int64, bool, and bfloat16 as 12).
_ITEM_SIZE = {0: 4, 1: 8, 2: 2, 3: 1, 4: 4, 5: 1, 6: 8, 7: 1, 12: 2}
_MAX_ARRAYS = 100_000
_MAX_NAME = 4096

Shapes = Dict[str, Tuple[int, ...]]


def read_shapes(path: Path) -> Shapes:
    """{name: shape} of the arrays in `path`; an error naming the file if it is not one."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            return _read(f, size)
    except (OSError, struct.error, ValueError) as error:
        detail = error.strerror if isinstance(error, OSError) else str(error) or "truncated"
        raise CharrnnError(f"{path} is corrupt or truncated, MXNet cannot read it "
                           f"({detail}).") from None


def _read(f: BinaryIO, size: int) -> Shapes:
    magic, _, count = struct.unpack("<QQQ", f.read(24))
    if magic != _LIST_MAGIC or count > _MAX_ARRAYS:
        raise ValueError("not an MXNet parameter file")
    shapes = []
    for _ in range(count):
        array_magic, storage, ndim = struct.unpack("<IiI", f.read(12))
        if array_magic != _ARRAY_MAGIC or storage != _DENSE or not 0 < ndim <= 8:
            raise ValueError("an array header is damaged")
        shape = struct.unpack(f"<{ndim}q", f.read(8 * ndim))
        _, _, dtype = struct.unpack("<iii", f.read(12))
        if dtype not in _ITEM_SIZE or min(shape) < 0:
            raise ValueError("an array header is damaged")
        data = _ITEM_SIZE[dtype]
        for dim in shape:
            data *= dim
        if f.tell() + data > size:
            raise ValueError("truncated")
        f.seek(data, 1)
        shapes.append(tuple(shape))
    (names,) = struct.unpack("<Q", f.read(8))
    if names != count:
        raise ValueError("the names do not match the arrays")
    result = {}
    for shape in shapes:
        (length,) = struct.unpack("<Q", f.read(8))
        if length > _MAX_NAME:
            raise ValueError("a name is damaged")
        result[f.read(length).decode("utf-8", "replace")] = shape
    return result
