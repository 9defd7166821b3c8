"""A parameter-server job on this machine, over 127.0.0.1, with bounded timeouts."""
from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import mxnet as mx
import numpy as np
import pytest

from charrnn.cli.launch import GRACE_SECONDS, remote_options, worker_command
from charrnn.config import ModelConfig, TrainConfig
from charrnn.errors import CharrnnError
from charrnn.training.lifecycle import start_run
from charrnn.training.loop import TrainingLoop

from .conftest import PANGRAM

WORKER = Path(__file__).with_name("dist_worker.py")
JOB_TIMEOUT = 120


def corpus(folder: Path) -> Path:
    # 9,000 characters: a training split of 8,100 = 2 workers x 5 columns x 810 rows, so the
    # workers' columns are exactly those of one process with 10 columns.
    path = folder / "corpus.txt"
    path.write_text(PANGRAM * 200, encoding="utf-8")
    return path


def launch(folder: Path, steps: int, **settings) -> subprocess.Popen:
    command = [sys.executable, "-m", "charrnn", "launch", "-n", "2", "-s", "1", "--timeout",
               str(JOB_TIMEOUT), "--", sys.executable, str(WORKER), str(corpus(folder)),
               str(folder), "5", str(steps), json.dumps(settings)]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})


def arrays(path: Path) -> dict:
    return {k: v.asnumpy() for k, v in mx.nd.load(str(path)).items()}


def test_two_workers_agree_and_match_one_process_with_the_global_batch(tmp_path):
    job = launch(tmp_path, steps=40)
    output, _ = job.communicate(timeout=JOB_TIMEOUT + 30)
    assert job.returncode == 0, output
    first, second = (tmp_path / f"worker-{r}.params" for r in (0, 1))
    assert hashlib.sha256(first.read_bytes()).digest() == \
        hashlib.sha256(second.read_bytes()).digest()

    # One process, 10 columns, the same steps: the gradients differ only in the order of
    # float32 additions (servers add two workers' sums), so after 40 Adam steps the weights
    # agree to 1e-4 (seen: about 2e-6).
    config = TrainConfig(batch_size=10, seq_len=20, max_steps=40, log_interval=5, lr=0.01)
    run, data, model, progress = start_run(
        corpus(tmp_path), ModelConfig(hidden=32, embed=16, dropout=0.0), config,
        tmp_path / "single", False, "utf-8", [mx.cpu()])
    TrainingLoop(model, data, config, [mx.cpu()], run, progress).run()
    single = {k: v.data().asnumpy() for k, v in model._collect_params_with_prefix().items()}
    job_weights = arrays(first)
    difference = max(float(np.abs(single[k] - job_weights[k]).max()) for k in single)
    print(f"largest weight difference, job vs one process: {difference:.2e}")
    assert difference < 1e-4
    chief, = (json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").open())
    one, = (json.loads(line) for line in (tmp_path / "single" / "metrics.jsonl").open())
    assert chief["step"] == one["step"] == 40
    assert abs(chief["val_loss"] - one["val_loss"]) < 1e-5


def test_patience_running_out_cools_every_worker_down_on_worker_0s_plan(tmp_path):
    # lr 0.3 overshoots: worker 0's validation stops improving, patience runs out, and its
    # decision crosses the kvstore: both workers cool the rate down to 0 on the same plan and
    # stop at the same step (a worker that stopped alone would leave the other to hang).
    job = launch(tmp_path, steps=100_000, lr=0.3, patience=2, epochs=60, warmup=5)
    output, _ = job.communicate(timeout=JOB_TIMEOUT + 30)
    assert job.returncode == 0, output
    first, second = (json.loads((tmp_path / f"worker-{r}.json").read_text()) for r in (0, 1))
    assert first["plan"] == second["plan"] and first["step"] == second["step"]
    assert first["plan"]["basis"] == "patience" and first["step"] == first["plan"]["end"]
    assert first["epoch"] < 60 and first["lr"] == second["lr"] == 0.3
    assert first["stop_reason"].endswith("and the rate cooled down to 0"), first["stop_reason"]
    assert second["stop_reason"] == first["stop_reason"]
    assert (tmp_path / "worker-0.params").read_bytes() == \
        (tmp_path / "worker-1.params").read_bytes()
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").open()]
    assert rows[-1]["step"] == first["plan"]["end"] and rows[-1]["lr"] == 0.0


def test_a_dead_worker_ends_the_job_with_an_error_instead_of_a_hang(tmp_path):
    job = launch(tmp_path, steps=1_000_000)
    pid_file = tmp_path / "worker-1.pid"
    deadline = time.time() + 60
    while not pid_file.exists() and time.time() < deadline:
        time.sleep(0.1)
    time.sleep(1.0)  # let the job get going
    killed = time.time()
    pid = int(pid_file.read_text())
    os.kill(pid, signal.SIGKILL)
    output, _ = job.communicate(timeout=60)
    ended = time.time() - killed
    assert job.returncode == 1
    assert f"(pid {pid}) exited with code -9; stopping the job" in output
    print(f"the job ended {ended:.1f} s after its worker was killed")
    # Bound: workers, then servers, each get GRACE_SECONDS to stop before they are killed.
    assert ended < 2 * GRACE_SECONDS + 5, f"the job took {ended:.1f} s to end"


def test_the_worker_command_runs_charrnn_as_a_dist_sync_worker():
    assert worker_command(["charrnn", "train", "c.txt"]) == [
        sys.executable, "-m", "charrnn", "train", "c.txt", "--kvstore", "dist_sync"]
    assert worker_command(["charrnn", "train", "--kvstore", "dist_device_sync"], local=False) \
        == ["charrnn", "train", "--kvstore", "dist_device_sync"]
    assert worker_command(["python", "my_worker.py"]) == ["python", "my_worker.py"]


def test_remote_launchers_go_through_mxnets_dmlc_tracker(tmp_path):
    hosts = tmp_path / "hosts"
    hosts.write_text("node1\nnode2\n")
    options = remote_options(["charrnn", "train", "c.txt"], 2, 1, "ssh", hosts)
    assert (options.num_workers, options.num_servers, options.cluster) == (2, 1, "ssh")
    assert options.host_file == str(hosts)
    assert options.command == ["charrnn", "train", "c.txt", "--kvstore", "dist_sync"]
    with pytest.raises(CharrnnError, match="needs -H HOSTFILE"):
        remote_options(["charrnn", "train"], 2, 1, "mpi", None)
