"""charrnn: character-level language models with Apache MXNet Gluon.

    >>> import charrnn
    >>> run = charrnn.train("my_text.txt", hidden=128, time_budget="2m")
    >>> model = run.load()            # or charrnn.load("params/my_text-lstm")
    >>> model.generate("The meaning of life is", 200)
    >>> model.evaluate("test").bpc
    >>> model.inspect()               # shown inline in a notebook
    >>> charrnn.compare("my_text.txt", ["lstm", "gru"], time_budget="2m")

Importing charrnn settles what MXNet reads only as it loads: the NumPy and distutils names
its Python code still uses (charrnn/machine/compat.py), its thread count (every usable
core, unless the user chose one) and, for MXNet's CUDA build, the CUDA libraries that NVIDIA's
pip wheels provide. So import charrnn before mxnet. The API itself (api.py, trained.py) loads
MXNet when first used, so that a missing MXNet is named with the line that installs it.
"""
from charrnn.errors import CharrnnError
from charrnn.machine import compat, cuda, threads

__version__ = "0.1.0"
__all__ = ["CharrnnError", "Comparison", "Copy", "Inspection", "Memorisation", "Metrics",
           "Model", "Run", "compare", "curves", "load", "prepare", "train"]

compat.restore()
threads.configure()
cuda.preload()

_HOMES = {"Comparison": "api", "Run": "api", "compare": "api", "curves": "api",
          "prepare": "api", "train": "api", "Model": "trained", "load": "trained",
          "Metrics": "models.scores", "Memorisation": "models.scores", "Copy": "text.index",
          "Inspection": "inside.inspection"}
MISSING_MXNET = ("MXNet is not installed: run `pip install --no-deps mxnet==1.9.1` (in a "
                 "notebook: `%pip install --no-deps mxnet==1.9.1`), or `pip install "
                 "'charrnn[cpu]'` where NumPy 1 is fine; on an NVIDIA GPU, 'charrnn[cu112]'.")


def __getattr__(name: str):
    """The API, imported on first use (PEP 562): `import charrnn` works without MXNet, so
    that `charrnn doctor` runs and a missing MXNet gets one line naming the fix."""
    if name not in _HOMES:
        raise AttributeError(f"module 'charrnn' has no attribute {name!r}")
    import importlib

    try:
        module = importlib.import_module(f"charrnn.{_HOMES[name]}")
    except ImportError as error:
        if error.name == "mxnet":
            raise CharrnnError(MISSING_MXNET) from None
        raise
    return getattr(module, name)


def __dir__() -> list:
    return sorted(list(globals()) + __all__)
