"""A run stopped anywhere and resumed equals a run never stopped: same weights (< 1e-5), same
metrics rows. Real processes, real signals, real files."""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from charrnn.runs.rundir import RunDir
from charrnn.training import checkpoint

from .conftest import TINY_MODEL, invoke, last_weights

DETERMINISTIC = ("epoch", "step", "train_loss", "val_loss", "val_bpc", "val_accuracy", "lr",
                 "best")
REGULARISED = (*TINY_MODEL, "--layers", "2", "--dropout", "0.3", "--weight-drop", "0.2",
               "--embed-drop", "0.1")


def rows(run: Path) -> list:
    """The metrics rows of completed epochs (a stop inside an epoch adds a row of its own)."""
    lines = (run / "metrics.jsonl").read_text().splitlines()
    return [{k: json.loads(line)[k] for k in DETERMINISTIC} for line in lines
            if float(json.loads(line)["epoch"]).is_integer()]


def largest_difference(a: Path, b: Path) -> float:
    first, second = last_weights(a), last_weights(b)
    assert first.keys() == second.keys()
    return max(float(np.abs(first[k] - second[k]).max()) for k in first)


def assert_same_run(resumed: Path, straight: Path, rel: float = 0.0) -> None:
    difference = largest_difference(resumed, straight)
    print(f"largest weight difference, resumed vs straight: {difference:.2e}")
    assert difference < 1e-5
    first, second = rows(resumed), rows(straight)
    assert len(first) == len(second)
    for a, b in zip(first, second):
        assert a == pytest.approx(b, rel=rel)


@pytest.mark.parametrize("extra", [(), ("--random-seq-len", "--lr-schedule", "cosine",
                                       "--warmup", "20"), ("--ctx", "cpu:0,1")],
                         ids=["regularised", "random-seq-len-cosine", "two-devices"])
def test_a_stop_inside_an_epoch_resumes_exactly(nietzsche_excerpt, tmp_path, extra):
    straight, split = tmp_path / "straight", tmp_path / "split"
    settings = (*REGULARISED, "--epochs", "1", *extra)  # 338 steps; the storm crosses epochs
    assert invoke("train", nietzsche_excerpt, "--out", straight, *settings).exit_code == 0
    stopped = invoke("train", nietzsche_excerpt, "--out", split, "--stop-at-step", "37",
                     *settings)
    assert stopped.exit_code == 0, stopped.output
    state = json.loads((split / "state.json").read_text())
    assert state["step"] == 37 and state["epoch"] == 0
    devices = extra if "--ctx" in extra else ()  # the same devices: masks are drawn per device
    resumed = invoke("train", "--resume", split, *devices)
    assert resumed.exit_code == 0, resumed.output
    assert_same_run(split, straight)


def files(run: Path) -> dict:
    """Every file's bytes, but the lock's (it names the process that last opened the run)."""
    return {p: p.read_bytes() for p in run.rglob("*") if p.is_file() and p.name != ".lock"}


def test_a_finished_run_resumed_changes_nothing_and_says_so(trained_run):
    before = files(trained_run)
    result = invoke("train", "--resume", trained_run)
    assert result.exit_code == 0
    assert "is finished (completed 2 epochs)" in result.output
    assert "nothing was changed" in result.output and "--epochs (now 2)" in result.output
    assert files(trained_run) == before
    more = invoke("train", "--resume", trained_run, "--epochs", "3")
    assert more.exit_code == 0 and "completed 3 epochs" in more.output
    assert len(rows(trained_run)) == 3


def train_command(corpus: Path, run: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "charrnn", "train", str(corpus), "--out", str(run),
            *REGULARISED, "--log-interval", "1", *extra]


def resume_command(run: Path) -> list[str]:
    return [sys.executable, "-m", "charrnn", "train", "--resume", str(run)]


def committed_step(run: Path) -> int:
    try:
        return json.loads((run / "state.json").read_text())["step"]
    except (OSError, ValueError, KeyError):
        return -1


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_signal_at_a_random_moment_resumes_exactly(tiny_corpus, tmp_path, signum):
    straight, stopped = tmp_path / "straight", tmp_path / "stopped"
    assert invoke("train", tiny_corpus, "--out", straight, *REGULARISED, "--epochs",
                  "3").exit_code == 0
    child = subprocess.Popen(train_command(tiny_corpus, stopped, "--epochs", "3"),
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 60
    while committed_step(stopped) < 1 and time.time() < deadline:
        time.sleep(0.02)
    time.sleep(random.Random(int(signum)).uniform(0.0, 0.3))
    child.send_signal(signum)
    output, _ = child.communicate(timeout=60)
    assert child.returncode == 128 + signum, output
    assert "Traceback" not in output
    assert 0 < committed_step(stopped) < 300
    resumed = invoke("train", "--resume", stopped)
    assert resumed.exit_code == 0, resumed.output
    assert_same_run(stopped, straight)


@pytest.mark.slow
def test_a_run_killed_15_times_ends_as_one_never_killed(tiny_corpus, tmp_path):
    """SIGKILL at random moments of a run that commits a checkpoint every step: every
    checkpoint left behind verifies and loads, and the resumed run ends where a run never
    killed ends."""
    steps, kills = 120, 15
    straight, storm = tmp_path / "straight", tmp_path / "storm"
    limits = ("--max-steps", str(steps), "--epochs", "100")
    assert invoke("train", tiny_corpus, "--out", straight, *REGULARISED, *limits).exit_code == 0
    rng = random.Random(0)
    seen = []
    for _ in range(kills):
        start = committed_step(storm)
        command = (resume_command(storm) if start >= 0 else
                   train_command(tiny_corpus, storm, *limits, "--checkpoint-every", "1",
                                 "--overwrite"))
        child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 60
        while committed_step(storm) <= start and time.time() < deadline:
            time.sleep(0.005)
        time.sleep(rng.uniform(0.0, 0.1))
        child.kill()
        child.wait()
        progress, _, folder = checkpoint.load(RunDir(storm))  # verifies every file
        assert checkpoint.load_arrays(folder / checkpoint.WEIGHTS)
        if (storm / "model.params").exists():
            assert checkpoint.load_arrays(storm / "model.params")
        seen.append(progress.step)
    assert seen[-1] < steps, "the storm outlasted the run: make it longer"
    finished = subprocess.run(resume_command(storm), capture_output=True, text=True,
                              timeout=300)
    assert finished.returncode == 0, finished.stderr
    print(f"{kills} kills at steps {seen}")
    assert_same_run(storm, straight)
    assert len(list((storm / "checkpoints").iterdir())) <= 2


def test_a_two_worker_job_stopped_and_resumed_equals_one_never_stopped(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_bytes((Path(__file__).parent.parent / "data" / "nietzsche.txt").read_bytes()
                       [:12000])

    def launch(*train_args: str) -> None:
        command = [sys.executable, "-m", "charrnn", "launch", "-n", "2", "-s", "1",
                   "--timeout", "120", "--", "charrnn", "train", *train_args]
        job = subprocess.run(command, capture_output=True, text=True, timeout=180,
                             env={**os.environ, "OMP_NUM_THREADS": "1"})
        assert job.returncode == 0, job.stdout + job.stderr

    settings = (*REGULARISED, "--epochs", "2", "--log-interval", "5")
    launch(str(corpus), "--out", str(tmp_path / "straight"), *settings)
    launch(str(corpus), "--out", str(tmp_path / "split"), *settings, "--stop-at-step", "35")
    assert committed_step(tmp_path / "split") == 35
    launch("--resume", str(tmp_path / "split"))
    # The servers add the workers' gradients in the order they arrive: two jobs agree to float32
    # rounding (weights within 1e-7 here), not bit for bit.
    assert_same_run(tmp_path / "split", tmp_path / "straight", rel=1e-6)
