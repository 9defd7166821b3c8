"""The README's notebook install cell, run as a notebook's %pip runs it (pip in the kernel's
environment), in a fresh venv where NumPy 2 is already installed, as in Jupyter or Colab:
charrnn then trains and generates, and NumPy is still 2."""
from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys

from .conftest import REPO

# What a new user pastes into a notebook's first cell.
CELL = [line for line in (REPO / "README.md").read_text(encoding="utf-8").splitlines()
        if line.startswith("%pip install")]

USE = """
import json, sys, numpy, charrnn
run = charrnn.train(sys.argv[1], sys.argv[2], hidden=16, embed=8, batch_size=4, seq_len=20,
                    max_steps=5, sample_length=0, verbose=False)
print(json.dumps({"numpy": numpy.__version__, "stop": run.stop_reason,
                  "text": run.load().generate("the", 10, seed=1)}))
"""


def test_the_readme_notebook_cell_installs_charrnn_beside_numpy_2(tmp_path):
    assert len(CELL) == 2 and "--no-deps mxnet==1.9.1" in CELL[1]
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = str(venv / "bin" / "python")

    def pip(*args: str) -> str:
        # As the cell runs, but without compiling every module to bytecode (the suite's time).
        done = subprocess.run([python, "-m", "pip", *args], capture_output=True, text=True,
                              timeout=900, env={**os.environ, "PIP_NO_COMPILE": "1"})
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    pip("install", "--quiet", "numpy>=2")  # what the notebook's environment already has
    for line in CELL:
        words = shlex.split(line.split("  #")[0])[2:]  # after "%pip install"
        pip("install", *[word.replace("path/to/charrnn", str(REPO)) for word in words])
    print(pip("list"))

    corpus = tmp_path / "tiny.txt"
    corpus.write_text("the quick brown fox jumps over the lazy dog. " * 100, encoding="utf-8")
    used = subprocess.run([python, "-c", USE, str(corpus), str(tmp_path / "run")],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert used.returncode == 0, used.stderr
    found = json.loads(used.stdout.strip().splitlines()[-1])
    assert re.match(r"2\.", found["numpy"]), found
    assert found["stop"] == "reached --max-steps 5" and found["text"].startswith("the")
