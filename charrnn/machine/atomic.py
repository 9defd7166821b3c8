"""Writing files so that a crash at any moment leaves either the old file or the new one."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable, Dict

import mxnet as mx

from charrnn.errors import CharrnnError, reason

Writer = Callable[[str], None]


def atomic_write(files: Dict[Path, Writer]) -> None:
    """Write each file to a temporary name beside it, fsync, then rename them all into place.

    The renames come last and together, so a kill leaves every file either old or new.
    """
    temporaries: Dict[Path, Path] = {}
    path = next(iter(files))
    try:
        for path, write in files.items():
            temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            temporaries[path] = temporary
            write(str(temporary))
            with open(temporary, "rb+") as f:
                os.fsync(f.fileno())
        for path, temporary in temporaries.items():
            os.replace(temporary, path)
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
    except (OSError, mx.base.MXNetError) as error:
        for temporary in temporaries.values():
            if temporary.exists():
                temporary.unlink()
        detail = reason(error)
        if isinstance(error, mx.base.MXNetError):  # MXNet does not say why a write failed
            stat = os.statvfs(path.parent)
            detail += f" ({stat.f_bavail * stat.f_frsize // 1024:,} KiB free on that device)"
        raise CharrnnError(f"could not write {path}: {detail}. The previous {path.name}, if any, "
                           "is untouched; free some space or choose another --out.") from None


def remove_stale_temporaries(folder: Path) -> None:
    """Temporary files left by a process killed while writing."""
    for stale in folder.glob(".*.tmp"):
        stale.unlink()


def bytes_writer(data: bytes) -> Writer:
    return lambda temporary: Path(temporary).write_bytes(data)


def json_writer(data: Any) -> Writer:
    return bytes_writer(json.dumps(data, indent=1).encode("utf-8") + b"\n")


def arrays_writer(arrays: Dict[str, mx.nd.NDArray]) -> Writer:
    return lambda temporary: mx.nd.save(temporary, arrays)
