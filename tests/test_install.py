"""charrnn installed the way its users install it, outside any clone.

The wheel and sdist are built with `python -m build`; a fresh venv gets NumPy 2 and a Jupyter
kernel first, as Jupyter and Colab have them; docs/quickstart.ipynb then runs top to bottom in
that kernel, its install cell as written (pointed at the wheel by CHARRNN_SOURCE), with an
empty folder as its working directory; NumPy is still 2 afterwards. From another empty folder,
the installed command line generates from the shipped model by name and trains on the
bundled corpus."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import zipfile

import nbformat
from nbclient import NotebookClient

from .conftest import REPO

QUICKSTART = REPO / "docs" / "quickstart.ipynb"


def _run(*args, **options) -> str:
    done = subprocess.run([str(a) for a in args], capture_output=True, text=True, **options)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_the_wheel_runs_the_quickstart_notebook_in_a_fresh_kernel_beside_numpy_2(
        tmp_path, monkeypatch):
    dist = tmp_path / "dist"
    _run(sys.executable, "-m", "build", "--no-isolation", "--outdir", dist, REPO, timeout=600)
    [wheel], [sdist] = dist.glob("*.whl"), dist.glob("*.tar.gz")
    print(f"wheel {wheel.stat().st_size:,} bytes, sdist {sdist.stat().st_size:,} bytes")
    names = zipfile.ZipFile(wheel).namelist()
    assert {"charrnn/_data/nietzsche.txt", "charrnn/_params/nietzsche-pretrained/model.params",
            "charrnn/serving/page/index.html"} <= set(names)

    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", venv)
    python = venv / "bin" / "python"
    quiet = {**os.environ, "PIP_NO_COMPILE": "1"}  # the suite's time: no bytecode
    _run(python, "-m", "pip", "install", "--quiet", "numpy>=2", "ipykernel", env=quiet,
         timeout=900)
    kernels = tmp_path / "jupyter" / "kernels" / "fresh"
    kernels.mkdir(parents=True)
    (kernels / "kernel.json").write_text(json.dumps({
        "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "fresh venv", "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("CHARRNN_SOURCE", wheel.as_uri())
    monkeypatch.setenv("PIP_NO_COMPILE", "1")

    notebook = nbformat.read(QUICKSTART, as_version=4)
    empty = tmp_path / "notebook-folder"
    empty.mkdir()
    started = time.time()
    NotebookClient(notebook, timeout=900, kernel_name="fresh",
                   resources={"metadata": {"path": str(empty)}}).execute()
    print(f"the notebook, install cell included: {time.time() - started:.0f} s")

    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    shown = [o.data for o in outputs if o.output_type == "execute_result"]
    printed = "".join(o.text for o in outputs if o.output_type == "stream")
    assert any("<iframe srcdoc=" in data.get("text/html", "") for data in shown)  # inspect
    assert any("data:image/png;base64," in data.get("text/html", "") for data in shown)  # Run
    assert any("test_bpc" in data.get("text/html", "") for data in shown)  # the comparison
    assert any("image/png" in data for data in shown)                     # comparison.plot()
    assert "site-packages/charrnn/_data/nietzsche.txt" in printed  # the bundled corpus scored
    assert (empty / "runs" / "quickstart" / "model.params").is_file()
    assert (empty / "runs" / "lstm-vs-gru" / "results.json").is_file()

    numpy = _run(python, "-c", "import numpy; print(numpy.__version__)").strip()
    assert re.match(r"2\.", numpy), numpy

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    charrnn = venv / "bin" / "charrnn"
    text = _run(charrnn, "generate", "nietzsche", "--seed-text", "What is truth", "--length",
                "40", "--seed", "1", cwd=elsewhere, timeout=300)
    assert text.startswith("What is truth") and len(text) > 40
    trained = _run(charrnn, "train", "--max-steps", "5", "--sample-length", "0",
                   cwd=elsewhere, timeout=600)
    assert "reached --max-steps 5" in trained
    assert (elsewhere / "params" / "nietzsche-lstm" / "model.params").is_file()
