"""The command line end to end on a tiny corpus: train -> info -> evaluate -> generate."""
from __future__ import annotations

import json
import subprocess
import sys

from .conftest import TINY_MODEL, checkpoint_file, invoke


def test_train_info_evaluate_generate(tiny_corpus, tmp_path):
    run = tmp_path / "run"
    result = invoke("train", tiny_corpus, "--out", run, "--epochs", "3", *TINY_MODEL[:-2],
                    "--sample-length", "40", "--sample-text", "the quick")
    assert result.exit_code == 0, result.output
    assert "completed 3 epochs" in result.output
    assert "--- sample" in result.output and "the quick" in result.output
    for name in ("config.json", "vocab.json", "model.params", "state.json", "metrics.jsonl"):
        assert (run / name).is_file(), name
    for name in ("last.params", "trainer.states", "hidden.params"):
        assert checkpoint_file(run, name).is_file(), name
    assert not list(run.glob(".*.tmp"))
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    assert rows[-1]["val_bpc"] < rows[0]["val_bpc"]
    config = json.loads((run / "config.json").read_text())
    assert config["model"]["vocab_size"] == 28
    assert config["corpus"]["sha256"] and config["versions"]["mxnet"] == "1.9.1"

    info = invoke("info", run)
    assert info.exit_code == 0
    assert "parameters" in info.output and f"{min(r['val_bpc'] for r in rows):.4f}" in info.output

    evaluation = invoke("evaluate", run, "--split", "val")
    assert evaluation.exit_code == 0
    bpc = float(evaluation.output.split("bits/char")[1].split()[0])
    assert abs(bpc - min(r["val_bpc"] for r in rows)) < 1e-3

    generated = invoke("generate", run, "--seed-text", "the lazy", "--length", "25",
                       "--greedy")
    assert generated.exit_code == 0
    text = generated.output.rstrip("\n")
    assert text.startswith("the lazy") and len(text) == len("the lazy") + 25


def test_python_dash_m_charrnn_shows_the_commands():
    result = subprocess.run([sys.executable, "-m", "charrnn", "--help"], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0
    for command in ("train", "generate", "evaluate", "info"):
        assert command in result.stdout


def test_without_mxnet_charrnn_names_the_extra_to_install():
    hide_mxnet = ("import sys; sys.modules['mxnet'] = None; sys.argv = ['charrnn', '--help']; "
                  "from charrnn.__main__ import main; main()")
    result = subprocess.run([sys.executable, "-c", hide_mxnet], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 1
    assert "MXNet is not installed: run `pip install 'charrnn[cpu]'`" in result.stderr
    assert "charrnn[cu112]" in result.stderr and "Traceback" not in result.stderr
