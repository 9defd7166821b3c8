from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from charrnn.config import MODELS, ModelConfig
from charrnn.models import build_model, count_parameters
from charrnn.training.comparison import plan

from .conftest import invoke

TINY = ("--hidden", "32", "--embed", "16", "--batch-size", "8", "--seq-len", "20")


def table_rows(markdown: str) -> dict:
    rows = [line.split("|")[1:-1] for line in markdown.splitlines() if line.startswith("| ")]
    header = [h.strip() for h in rows[0]]
    return {r[0].strip(): dict(zip(header, (c.strip() for c in r))) for r in rows[1:]}


def test_compare_writes_table_json_and_curves_that_agree(tiny_corpus, tmp_path):
    out = tmp_path / "report"
    result = invoke("compare", tiny_corpus, "--models", "unrolled,lstm", "--epochs", "2",
                    "--out", out, "--sample-text", "the lazy", *TINY)
    assert result.exit_code == 0, result.output
    assert {p.name for p in out.iterdir()} >= {"results.md", "results.json", "curves.png",
                                                "unrolled", "lstm"}
    assert (out / "curves.png").read_bytes().startswith(b"\x89PNG")
    report = json.loads((out / "results.json").read_text())
    markdown = (out / "results.md").read_text()
    assert report["command"] in markdown and "--models unrolled,lstm" in report["command"]
    table = table_rows(markdown)
    for row in report["models"]:
        cells = table[row["model"]]
        metrics = [json.loads(line) for line in
                   (out / row["model"] / "metrics.jsonl").read_text().splitlines()]
        assert cells["val bpc"] == f"{min(m['val_bpc'] for m in metrics):.3f}"
        assert row["val_bpc"] == min(m["val_bpc"] for m in metrics)
        assert cells["test bpc"] == f"{row['test_bpc']:.3f}"
        assert cells["parameters"] == f"{row['parameters']:,}"
        assert int(cells["epochs"]) == row["epochs"] == metrics[-1]["epoch"] == 2
        assert row["sample"].startswith("the lazy") and len(row["sample"]) == 8 + 200
        assert 0 <= row["copied"] <= 1 and row["longest_copy"] <= 400
        assert cells["copied"] == f"{row['copied']:.1%} (longest {row['longest_copy']})"
        run_info = invoke("info", out / row["model"])
        assert run_info.exit_code == 0 and f"{row['parameters']:,}" in run_info.output


def test_compare_without_matplotlib_still_writes_the_table(tiny_corpus, tmp_path,
                                                           monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if the plot extra were missing
    out = tmp_path / "report"
    result = invoke("compare", tiny_corpus, "--models", "gru", "--epochs", "1", "--out", out,
                    *TINY)
    assert result.exit_code == 0
    assert "pip install 'charrnn[plot]'" in result.output
    assert (out / "results.md").exists() and not (out / "curves.png").exists()


@pytest.mark.parametrize("hidden", [32, 256])
def test_match_params_sizes_every_model_within_5_percent(hidden):
    configs = plan(list(MODELS), ModelConfig(vocab_size=84, hidden=hidden), match_params=True)
    counts = {m: count_parameters(build_model(c)) for m, c in configs.items()}
    reference = counts["lstm"]  # the first recurrent model listed
    assert configs["lstm"].hidden == hidden
    for model, count in counts.items():
        assert abs(count - reference) / reference < 0.05, (model, count, reference)
    assert configs["rnn_relu"].hidden > configs["gru"].hidden > hidden


def test_an_interrupted_compare_resumes_and_skips_finished_models(tiny_corpus, tmp_path):
    out = tmp_path / "report"
    command = [sys.executable, "-m", "charrnn", "compare", str(tiny_corpus), "--models",
               "unrolled,lstm", "--epochs", "10", "--patience", "10", "--out", str(out), *TINY]
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    deadline = time.time() + 120
    while not (out / "lstm" / "model.params").exists() and time.time() < deadline:
        time.sleep(0.1)
    child.send_signal(signal.SIGINT)
    output, _ = child.communicate(timeout=120)
    assert child.returncode == 130, output
    assert "--resume" in output
    unrolled_metrics = (out / "unrolled" / "metrics.jsonl").read_text()

    result = invoke("compare", tiny_corpus, "--models", "unrolled,lstm", "--epochs", "3",
                    "--out", out, "--resume", *TINY)
    assert result.exit_code == 0, result.output
    assert "[1/2] unrolled: already trained, skipped" in result.output
    assert (out / "unrolled" / "metrics.jsonl").read_text() == unrolled_metrics
    report = json.loads((out / "results.json").read_text())
    assert [r["model"] for r in report["models"]] == ["unrolled", "lstm"]


def test_compare_closes_each_models_reporter_as_train_does(tiny_corpus, tmp_path):
    """One wiring of the loop (training.train_locked): a reporter is closed, the run unlocked."""
    import fcntl

    import mxnet as mx

    from charrnn.config import TrainConfig
    from charrnn.machine.stopping import StopRequest
    from charrnn.training.comparison import compare_models
    from charrnn.training.reporter import Reporter

    class Recording(Reporter):
        closed = 0

        def close(self) -> None:
            Recording.closed += 1

    rows = compare_models(tiny_corpus, ["lstm", "gru"], ModelConfig(hidden=8, embed=4),
                          TrainConfig(batch_size=4, seq_len=20, max_steps=2), [mx.cpu()],
                          tmp_path / "report", False, False, "the", 0.8, StopRequest(),
                          lambda line: None, Recording)
    assert [row["model"] for row in rows] == ["lstm", "gru"] and Recording.closed == 2
    for model in ("lstm", "gru"):
        with open(tmp_path / "report" / model / ".lock", "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
