"""Names MXNet 1.9.1's Python code reads that Python 3.12 and NumPy 1.24 and 2.0 removed.

MXNet's last release predates both: its wheel installs on any CPython 3, and what stops it is a
handful of names read from numpy and distutils. `restore` puts back only the names the running
NumPy and Python lack, before MXNet is imported (charrnn/__init__.py calls it), so no copy of
MXNet is patched on disk. Each entry names the MXNet file that reads it; tests/test_compat.py
shows, for each, the MXNet call that fails without it.
"""
from __future__ import annotations

import sys
import types
import warnings
from typing import Any, Callable, NamedTuple

import numpy as np


class Restoration(NamedTuple):
    name: str  # the attribute of numpy (dotted for a submodule)
    reader: str  # the MXNet file that reads it
    value: Callable[[], Any]  # what it stood for, made only when it is missing


def _expired(name: str) -> Callable[..., Any]:
    """What NumPy 1.20-1.26 left under a removed financial function's name: a function that
    says where it went. MXNet only lists these names; calling one is an error."""
    def expired(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(f"numpy.{name} was removed from NumPy; use numpy_financial.{name}")
    expired.__name__ = name
    return expired


def _renamed(name: str, target: Callable[..., Any]) -> Callable[..., Any]:
    """A function of its own for a removed alias: MXNet registers its dispatch by function, so
    np.any itself under the name sometrue would displace the dispatch of np.any."""
    def renamed(*args: Any, **kwargs: Any) -> Any:
        return target(*args, **kwargs)
    renamed.__name__ = name
    return renamed


def _in1d(a: Any, b: Any, *args: Any, **kwargs: Any) -> np.ndarray:
    return np.isin(a, b, *args, **kwargs).ravel()


def _msort(a: Any) -> np.ndarray:
    return np.sort(a, axis=0)


def _basestring_module() -> types.ModuleType:
    module = types.ModuleType("numpy.compat")
    module.basestring = str
    return module


FINANCIAL = ("mirr", "npv", "pmt", "ppmt", "pv", "rate")

RESTORATIONS: tuple[Restoration, ...] = (
    # NumPy 1.24 removed the alias np.bool (NumPy 2.0 brought it back as np.bool_).
    Restoration("bool", "mxnet/numpy/multiarray.py", lambda: bool),
    # NumPy 2.0 removed these constants; mxnet/numpy/utils.py copies them at import.
    Restoration("PZERO", "mxnet/numpy/utils.py", lambda: 0.0),
    Restoration("NZERO", "mxnet/numpy/utils.py", lambda: -0.0),
    Restoration("NINF", "mxnet/numpy/utils.py", lambda: -np.inf),
    Restoration("PINF", "mxnet/numpy/utils.py", lambda: np.inf),
    Restoration("NAN", "mxnet/numpy/utils.py", lambda: np.nan),
    Restoration("NaN", "mxnet/numpy/utils.py", lambda: np.nan),
    # NumPy 2.0 removed np.Inf; import mxnet reaches it through gluon.contrib (a default
    # argument in estimator/event_handler.py).
    Restoration("Inf", "mxnet/gluon/contrib/estimator/event_handler.py", lambda: np.inf),
    # NumPy 2.0 removed these functions; mxnet/numpy/fallback.py copies them at import.
    Restoration("alltrue", "mxnet/numpy/fallback.py", lambda: _renamed("alltrue", np.all)),
    Restoration("in1d", "mxnet/numpy/fallback.py", lambda: _in1d),
    Restoration("msort", "mxnet/numpy/fallback.py", lambda: _msort),
    Restoration("trapz", "mxnet/numpy/fallback.py",
                lambda: _renamed("trapz", np.trapezoid)),
    # NumPy 1.20 left stubs for the financial functions; NumPy 2.0 removed the stubs.
    *(Restoration(name, "mxnet/numpy/fallback.py", lambda name=name: _expired(name))
      for name in FINANCIAL),
    # NumPy 2.0 removed these aliases; mxnet/numpy_dispatch_protocol.py registers its dispatch
    # for them at import.
    Restoration("sometrue", "mxnet/numpy_dispatch_protocol.py",
                lambda: _renamed("sometrue", np.any)),
    Restoration("product", "mxnet/numpy_dispatch_protocol.py",
                lambda: _renamed("product", np.prod)),
    Restoration("round_", "mxnet/numpy_dispatch_protocol.py",
                lambda: _renamed("round_", np.round)),
    # NumPy 2.0 removed numpy.compat; mx.np.pad reads numpy.compat.basestring
    # (mxnet/ndarray/numpy/_op.py).
    Restoration("compat", "mxnet/ndarray/numpy/_op.py", _basestring_module),
)


def has(name: str) -> bool:
    """Whether this NumPy has `name` itself (NumPy 1.2x warns on removed names; 2.x raises)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return hasattr(np, name)


# What `restore` put back in this process, for `charrnn doctor`.
RESTORED: list[str] = []


def restore() -> None:
    """Restore the names this NumPy and Python lack (once; later calls find nothing missing)."""
    restore_numpy()
    restore_distutils_version()


def restore_numpy() -> None:
    for entry in RESTORATIONS:
        if not has(entry.name):
            setattr(np, entry.name, entry.value())
            RESTORED.append(entry.name)


def restore_distutils_version() -> None:
    """mxnet/numpy_dispatch_protocol.py and mxnet/numpy_op_fallback.py import distutils.version
    at import; Python 3.12 removed it, and setuptools provides it only where installed."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import distutils.version  # noqa: F401
    except ModuleNotFoundError:
        from packaging.version import Version

        version = types.ModuleType("distutils.version")
        version.LooseVersion = version.StrictVersion = Version
        package = types.ModuleType("distutils")
        package.version = version
        sys.modules.update({"distutils": package, "distutils.version": version})
        RESTORED.append("distutils.version")
