"""How many threads MXNet and NumPy use: every core charrnn may run on, unless told otherwise.

MXNet reads its OpenMP thread count once, as it loads, and by default takes half the
processors (1 of 2 here: the default LSTM trained at 3.99 steps/s against 7.42 with both).
`configure` therefore runs before MXNet is imported (charrnn/__init__.py calls it).
"""
from __future__ import annotations

import os
import time
from contextlib import contextmanager
from typing import Iterator

# Variables by which a user has already chosen MXNet's thread count.
USER_THREAD_VARIABLES = ("OMP_NUM_THREADS", "MXNET_OMP_MAX_THREADS")


def usable_cores() -> int:
    """Processors this process may run on (its affinity mask, e.g. under taskset or a cgroup)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def configure() -> None:
    """Give MXNet one OpenMP thread per usable core unless the user chose a count."""
    if not any(os.environ.get(name) for name in USER_THREAD_VARIABLES):
        os.environ["OMP_NUM_THREADS"] = str(usable_cores())
        os.environ["CHARRNN_SET_THREADS"] = "1"  # so that `describe` can say who chose


def mxnet_threads() -> int:
    """The OpenMP threads MXNet runs with (as configured before it loaded)."""
    for name in USER_THREAD_VARIABLES:
        value = os.environ.get(name, "")
        if value.strip().isdigit() and int(value) > 0:
            return int(value)
    return max(1, usable_cores() // 2)  # MXNet's own default


def describe() -> str:
    """'2 threads' and, when the user chose the count, by which variable."""
    count = mxnet_threads()
    chosen = next((name for name in USER_THREAD_VARIABLES if os.environ.get(name)), None)
    if os.environ.get("CHARRNN_SET_THREADS") or chosen is None:
        return f"{count} thread{'s' * (count != 1)}"
    return f"{count} thread{'s' * (count != 1)} ({chosen})"


def free_cores(interval: float = 0.03) -> int:
    """Usable cores that other processes left idle over the next `interval` seconds (from
    /proc/stat), at least 1; where /proc/stat is missing, the load average stands in. This
    process's own time does not count: MXNet's threads spin on a while after its last call
    (a measurement right after one read 1 of 2 cores free, and inspection ran at 0.6x)."""
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    ours = time.process_time()
    try:
        idle = _idle_fractions(cores, interval)
    except (OSError, ValueError, IndexError):
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
        return max(1, round(usable_cores() - load))
    own_cores = (time.process_time() - ours) / interval
    return max(1, min(len(cores), int(sum(idle) + own_cores + 0.25)))


def _idle_fractions(cores: list[int], interval: float) -> list[float]:
    def read() -> dict[str, list[int]]:
        with open("/proc/stat") as f:
            return {line.split()[0]: [int(x) for x in line.split()[1:]]
                    for line in f if line.startswith("cpu") and line[3].isdigit()}
    first = read()
    time.sleep(interval)
    second = read()
    fractions = []
    for core in cores:
        a, b = first[f"cpu{core}"], second[f"cpu{core}"]
        total = sum(b) - sum(a)
        idle = (b[3] + b[4]) - (a[3] + a[4])  # idle + iowait
        fractions.append(idle / total if total > 0 else 1.0)
    return fractions


@contextmanager
def blas_threads(count: int) -> Iterator[None]:
    """NumPy's BLAS limited to `count` threads: per-character steps are tiny products, and
    BLAS threads spinning against a busy core cost 4.8x here."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - a dependency; keep working without it
        yield
        return
    with threadpool_limits(limits=count, user_api="blas"):
        yield
