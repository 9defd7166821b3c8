"""Training speed on a shared machine: alone, beside a busy core, and two trainings at once.

`python -m benchmarks.sharing STEPS` trains the default LSTM (batch 32) in this process, as
`charrnn train` does (charrnn/core_share.py watching), and prints its characters per second
over STEPS steps after a warm-up. `make bench` runs it in fresh processes, one condition at a
time, so that nothing else of its own competes for the cores.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from contextlib import contextmanager
from typing import Iterator

import charrnn  # noqa: F401  (MXNet's threads are settled before MXNet loads)

WARMUP = 8  # steps: hybridization, and the watcher's first readings


def training_rate(steps: int) -> float:
    import mxnet as mx

    from benchmarks import measure
    from charrnn.config import TrainConfig
    from charrnn.machine import core_share
    from charrnn.training.step import make_trainer, train_step

    data = measure.corpus()
    net = measure.model("lstm", len(data.vocab))
    trainer = make_trainer(net, TrainConfig(), [mx.cpu()], 0.002)
    batch, length = 32, measure.SEQ_LEN
    columns = data.part("train")[:((WARMUP + steps) * length + 1) * batch].reshape(batch, -1).T
    hidden = [net.begin_state(batch)]
    def run(first: int, count: int) -> None:
        nonlocal hidden
        for step in range(first, first + count):
            window = columns[step * length:(step + 1) * length + 1]
            hidden, loss = train_step(net, trainer, window[:-1], window[1:], hidden,
                                      [mx.cpu()], 1.0)
        loss.wait_to_read()

    with core_share.sharing([mx.cpu()]):
        run(0, WARMUP)
        started = time.perf_counter()
        run(WARMUP, steps)
    return steps * length * batch / (time.perf_counter() - started)


def _command(steps: int) -> list[str]:
    return [sys.executable, "-m", "benchmarks.sharing", str(steps)]


def _env(threads: str | None) -> dict[str, str]:
    """A user's environment: charrnn chooses the threads unless `threads` fixes them."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("OMP_NUM_THREADS", "MXNET_OMP_MAX_THREADS", "CHARRNN_SET_THREADS")}
    return {**env, "OMP_NUM_THREADS": threads} if threads else env


def rates(steps: int, processes: int = 1, threads: str | None = None) -> list[float]:
    """Characters per second of each of `processes` trainings started together."""
    started = [subprocess.Popen(_command(steps), env=_env(threads), stdout=subprocess.PIPE,
                                text=True) for _ in range(processes)]
    return [float(process.communicate()[0].split()[-1]) for process in started]


@contextmanager
def busy_core() -> Iterator[None]:
    """Another process keeping one core busy, as a test suite or a browser does."""
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.5)
        yield
    finally:
        busy.kill()
        busy.wait()


if __name__ == "__main__":
    print(f"{training_rate(int(sys.argv[1])):.1f}")
