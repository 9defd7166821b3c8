"""Resuming a run gives what an uninterrupted run gives; signals stop it cleanly."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from .conftest import TINY_MODEL, checkpoint_file, invoke, last_weights

DETERMINISTIC = ("epoch", "step", "train_loss", "val_loss", "val_bpc", "val_accuracy", "lr",
                 "best")


def weights(run) -> dict:
    return last_weights(run)


def rows(run) -> list:
    lines = (run / "metrics.jsonl").read_text().splitlines()
    return [{k: json.loads(line)[k] for k in DETERMINISTIC} for line in lines]


@pytest.mark.parametrize("extra", [(), ("--checkpoint-every", "7", "--random-seq-len")])
def test_one_epoch_then_resume_equals_two_epochs(nietzsche_excerpt, tmp_path, extra):
    # A constant rate: a run of 1 epoch plans its rate to reach 0 at its end, and a resume
    # with --epochs 2 plans again from there (tests/test_schedule.py), so only a constant rate
    # makes the two legs one 2-epoch run; its warm-up (--warmup, whatever the limits) is not
    # repeated by the extension.
    settings = (*TINY_MODEL, "--batch-size", "16", "--dropout", "0.3", "--layers", "2",
                "--lr-schedule", "constant", "--warmup", "30", *extra)
    straight, split = tmp_path / "straight", tmp_path / "split"
    assert invoke("train", nietzsche_excerpt, "--out", straight, "--epochs", "2",
                  *settings).exit_code == 0
    assert invoke("train", nietzsche_excerpt, "--out", split, "--epochs", "1",
                  *settings).exit_code == 0
    resumed = invoke("train", "--resume", split, "--epochs", "2")
    assert resumed.exit_code == 0, resumed.output
    assert rows(split) == rows(straight)
    a, b = weights(straight), weights(split)
    assert a.keys() == b.keys()
    assert max(float(np.abs(a[k] - b[k]).max()) for k in a) < 1e-5


def test_resume_refuses_another_corpus_or_other_model_settings(trained_run, tmp_path):
    other = tmp_path / "other.txt"
    other.write_text("the quick brown fox jumps over the lazy cat. " * 200)
    result = invoke("train", other, "--resume", trained_run)
    assert result.exit_code == 1
    assert "not the corpus this run was trained on" in result.output
    result = invoke("train", "--resume", trained_run, "--hidden", "64", "--seq-len", "30")
    assert result.exit_code == 1
    assert "different model settings (hidden 32 -> 64)" in result.output
    result = invoke("train", "--resume", trained_run, "--seq-len", "30")
    assert "different training settings (seq-len 20 -> 30)" in result.output


def test_an_existing_run_is_not_overwritten_by_accident(trained_run, tiny_corpus):
    before = (trained_run / "model.params").read_bytes()
    result = invoke("train", tiny_corpus, "--out", trained_run, *TINY_MODEL)
    assert result.exit_code == 1
    assert "already holds a model: pass --resume" in result.output
    assert (trained_run / "model.params").read_bytes() == before
    assert invoke("train", tiny_corpus, "--out", trained_run, "--overwrite", "--epochs", "1",
                  *TINY_MODEL).exit_code == 0
    assert len((trained_run / "metrics.jsonl").read_text().splitlines()) == 1


def _start_training(corpus, run, *extra) -> subprocess.Popen:
    command = [sys.executable, "-m", "charrnn", "train", str(corpus), "--out", str(run),
               *TINY_MODEL, "--epochs", "1000", "--log-interval", "1", *extra]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})


@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_stops_after_the_batch_saves_and_prints_the_resume_command(
        tiny_corpus, tmp_path, signum, code):
    run = tmp_path / "run"
    child = _start_training(tiny_corpus, run)
    deadline = time.time() + 60
    while not (run / "model.params").exists() and time.time() < deadline:
        time.sleep(0.1)
    child.send_signal(signum)
    output, _ = child.communicate(timeout=60)
    assert child.returncode == code, output
    assert f"charrnn train --resume {run}" in output
    assert "Traceback" not in output
    state = json.loads((run / "state.json").read_text())
    assert state["step"] > 0
    resumed = invoke("train", "--resume", run, "--epochs", str(state["epoch"] + 1))
    assert resumed.exit_code == 0, resumed.output
    assert json.loads((run / "state.json").read_text())["step"] > state["step"]


def test_a_diverging_run_stops_naming_the_step_and_keeps_the_best_checkpoint(tiny_corpus,
                                                                             tmp_path):
    run = tmp_path / "run"
    settings = (*TINY_MODEL, "--model", "rnn_relu", "--optimizer", "sgd")
    assert invoke("train", tiny_corpus, "--out", run, "--epochs", "1", *settings).exit_code == 0
    before = {path: path.read_bytes() for path in (run / "model.params", checkpoint_file(run))}
    steps = json.loads((run / "state.json").read_text())["step"]
    # An absurd step size overflows the unbounded ReLU units within a few steps.
    result = invoke("train", "--resume", run, "--epochs", "3", "--lr", "1e30")
    assert result.exit_code == 1
    assert f"training diverged: the loss became nan at step {steps + 2}" in result.output
    assert "Try a lower --lr (now 1e+30) or --clip" in result.output
    assert {path: path.read_bytes() for path in before} == before
    assert invoke("generate", run, "--seed-text", "the", "--length", "10").exit_code == 0


def test_resuming_with_a_new_learning_rate_restarts_the_patience(tiny_corpus, tmp_path):
    run = tmp_path / "run"
    assert invoke("train", tiny_corpus, "--out", run, "--lr", "0.3", "--patience", "2",
                  "--epochs", "40", *TINY_MODEL).exit_code == 0
    stopped = rows(run)
    assert len(stopped) < 40 and not stopped[-1]["best"]
    # Three epochs more at most: the new rate may go on improving for the rest of 40 (50 s).
    result = invoke("train", "--resume", run, "--lr", "0.001", "--patience", "2",
                    "--epochs", str(len(stopped) + 3))
    assert result.exit_code == 0, result.output
    resumed = rows(run)
    assert len(resumed) >= len(stopped) + 2
    # The early stop had cooled the rate to 0: the new rate makes a new plan (a warm-up to it).
    assert max(row["lr"] for row in resumed[len(stopped):]) == pytest.approx(0.001)
