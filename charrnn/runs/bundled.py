"""The corpus and the pretrained models that ship with charrnn, wherever it is installed.

A wheel carries the repository's data/ and params/ as package data (charrnn/_data and
charrnn/_params: setup.cfg maps them); a clone, or an editable install of one, reads them where
they lie. A shipped model is addressed by its name, its folder's name without "-pretrained":
params/nietzsche-pretrained is "nietzsche".
"""
from __future__ import annotations

from importlib import resources
from pathlib import Path

from charrnn.errors import CharrnnError

CORPUS = "nietzsche.txt"
SUFFIX = "-pretrained"


def _folder(packaged: str, in_clone: str) -> Path:
    package = Path(str(resources.files("charrnn")))
    installed = package / packaged
    return installed if installed.is_dir() else package.resolve().parent / in_clone


def corpus() -> Path:
    """The bundled Nietzsche corpus: the default of `charrnn train`."""
    return _folder("_data", "data") / CORPUS


def models() -> dict[str, Path]:
    """Each shipped model's name and run directory."""
    folder = _folder("_params", "params")
    found = sorted(folder.glob(f"*{SUFFIX}")) if folder.is_dir() else []
    return {path.name[:-len(SUFFIX)]: path for path in found if (path / "config.json").is_file()}


def run_path(given: str | Path) -> Path:
    """`given` when it is a path that exists, or has a folder in it; else the shipped model of
    that name, or one line naming the shipped ones."""
    path = Path(given)
    if path.exists() or len(path.parts) != 1:
        return path
    shipped = models()
    if str(given) in shipped:
        return shipped[str(given)]
    names = ", ".join(shipped) or "none in this installation"
    raise CharrnnError(f"{given} is neither a run directory nor a shipped model (the shipped "
                       f"models: {names}); train one into it with `charrnn train --out {given}`.")


def is_model(given: str | Path) -> bool:
    """Whether `given` names a run directory or a shipped model (not a text file)."""
    path = Path(given)
    return path.is_dir() or (not path.exists() and str(given) in models())
