"""charrnn/compat.py restores only names MXNet reads: for each, the MXNet call that fails
without it (on a NumPy or Python that lacks the name; elsewhere the test says so and skips)."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from charrnn.machine import compat

IMPORT = "import mxnet"
# The MXNet code that reads each restored name; the rest are read by `import mxnet` itself.
USES = {
    "bool": "import mxnet as mx; mx.np.zeros(3)[True]",
    "compat": "import mxnet as mx; mx.np.pad(mx.np.zeros((2, 2)), ((1, 1), (1, 1)), "
              "mode='constant')",
}


# compat.py on its own, without charrnn/__init__.py (which restores everything).
LOAD_COMPAT = ("import importlib.util as u\n"
               f"spec = u.spec_from_file_location('compat', {compat.__file__!r})\n"
               "compat = u.module_from_spec(spec); spec.loader.exec_module(compat)\n")


def run(program: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", program], capture_output=True, text=True,
                          timeout=120, env={**os.environ, **env})


@pytest.mark.parametrize("entry", compat.RESTORATIONS, ids=lambda entry: entry.name)
def test_mxnet_fails_without_each_restored_name(entry):
    if entry.name not in compat.RESTORED:
        pytest.skip(f"NumPy {np.__version__} has numpy.{entry.name} itself")
    use = USES.get(entry.name, IMPORT)
    without = run(f"import charrnn, numpy\ndelattr(numpy, {entry.name!r})\n{use}")
    assert without.returncode != 0
    assert entry.name in without.stderr.strip().splitlines()[-1]
    assert entry.reader.rsplit("/", 1)[-1] in without.stderr  # the file named reads it


def test_every_use_runs_with_the_restorations():
    result = run("import charrnn\n" + "\n".join(USES.values()))
    assert result.returncode == 0, result.stderr


def test_distutils_version_is_restored_where_python_has_none():
    if sys.version_info < (3, 12):
        pytest.skip("Python before 3.12 has distutils itself")
    # setuptools provides a distutils only when installed; SETUPTOOLS_USE_DISTUTILS=stdlib
    # turns that off, as in a venv without setuptools.
    stdlib_only = {"SETUPTOOLS_USE_DISTUTILS": "stdlib"}
    numpy_only = run(LOAD_COMPAT + "compat.restore_numpy()\nimport mxnet", **stdlib_only)
    assert numpy_only.returncode != 0
    assert "No module named 'distutils'" in numpy_only.stderr
    assert "numpy_dispatch_protocol.py" in numpy_only.stderr
    restored = run("import charrnn, mxnet, distutils.version as v\n"
                   "assert v.LooseVersion('2.1.0') >= v.LooseVersion('1.17')", **stdlib_only)
    assert restored.returncode == 0, restored.stderr


def test_the_restored_functions_do_what_numpy_1_did():
    entries = {entry.name: entry for entry in compat.RESTORATIONS}

    def value(name: str):
        return entries[name].value()

    assert value("in1d")([[1, 2], [3, 4]], [2, 3]).tolist() == [False, True, True, False]
    assert value("msort")(np.array([[3, 1], [1, 2]])).tolist() == [[1, 1], [3, 2]]
    assert value("alltrue")([True, False]) == np.all([True, False])
    assert value("product")([2, 3]) == 6 and value("sometrue")([False, True])
    assert value("NINF") == -np.inf and np.signbit(value("NZERO")) and np.isnan(value("NaN"))
    assert value("compat").basestring is str
    with pytest.raises(RuntimeError, match="numpy_financial"):
        value("npv")(0.1, [1, 2])
