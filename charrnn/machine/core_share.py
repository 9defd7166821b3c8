"""Fewer MXNet threads while other processes keep cores busy; every core again once they stop.

MXNet's OpenMP threads (the system libgomp) spin at barriers, so when another process keeps
one of two cores busy, two threads train at 0.27x their idle speed where one thread keeps
0.55x (benchmarks/NOTES.md); two trainings side by side ran 30x slower. MXNet reads its thread
count once, at load, but each of its engine's worker threads keeps its own OpenMP count: a
function pushed to the engine sets it there, between two operations. A daemon thread reads
/proc/stat once a second; the busy time of this process's cores less its own CPU time is what
other processes use, and MXNet gets the cores they leave.
"""
from __future__ import annotations

import ctypes
import os
import threading
import time
from contextlib import contextmanager
from typing import Iterator

import mxnet as mx

from charrnn.machine import threads

INTERVAL = 1.0  # seconds between two readings of /proc/stat
UP_AFTER = 2  # readings in a row that must agree before threads are added back
# What the startup line adds to '2 threads' where sharing applies.
DESCRIPTION = "fewer while other processes keep cores busy"


def threads_for(others: float, usable: int) -> int:
    """MXNet threads when other processes use `others` of this process's `usable` cores: all
    of them when the others use less than a quarter core (a shell, a browser idling), else
    the cores they leave, at least one."""
    if others < 0.25:
        return usable
    return max(1, min(usable, int(usable - others + 0.5)))


def applies(contexts: list[mx.Context]) -> bool:
    """Only when charrnn chose the thread count (a user's OMP_NUM_THREADS stays as given), on
    CPU devices, with more than one core and one engine worker per device (MXNet's default)."""
    return (bool(os.environ.get("CHARRNN_SET_THREADS")) and threads.usable_cores() > 1
            and all(c.device_type == "cpu" for c in contexts)
            and os.environ.get("MXNET_CPU_WORKER_NTHREADS", "1") == "1"
            and os.path.exists("/proc/stat") and _libgomp() is not None)


def _libgomp() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL("libgomp.so.1")
    except OSError:
        return None


class _Context(ctypes.Structure):  # mxnet::Context, as include/mxnet/base.h lays it out
    _fields_ = [("dev_type", ctypes.c_int), ("dev_id", ctypes.c_int)]


_SyncFunc = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p)


class CoreShare:
    """Keeps the OpenMP thread count of MXNet's workers for `contexts` at `threads_for`."""

    def __init__(self, contexts: list[mx.Context]):
        self.usable = threads.usable_cores()
        self.threads = threads.mxnet_threads()
        self._agreeing = 0  # readings in a row that asked for more threads
        self._contexts = contexts
        self._done = threading.Event()
        self._watcher = threading.Thread(target=self._watch, name="charrnn-core-share",
                                         daemon=True)

    def start(self) -> None:
        self._watcher.start()

    def stop(self) -> None:
        self._done.set()
        self._watcher.join()

    def _watch(self) -> None:
        busy, ours, wall = _busy_seconds(), time.process_time(), time.monotonic()
        while not self._done.wait(INTERVAL):
            now_busy, now_ours, now = _busy_seconds(), time.process_time(), time.monotonic()
            others = max(0.0, (now_busy - busy) - (now_ours - ours)) / (now - wall)
            busy, ours, wall = now_busy, now_ours, now
            self._set(self.decide(others))

    def decide(self, others: float) -> int:
        """The thread count after a reading: fewer at once (each second at too many costs
        most of it), more only after UP_AFTER readings in a row ask for more."""
        wanted = threads_for(others, self.usable)
        self._agreeing = self._agreeing + 1 if wanted > self.threads else 0
        if wanted > self.threads and self._agreeing < UP_AFTER:
            return self.threads
        self._agreeing = 0
        return wanted

    def _set(self, count: int) -> None:
        if count == self.threads:
            return
        self.threads = count
        for context in self._contexts:
            device = _Context(1, context.device_id)  # 1: kCPU
            mx.base.check_call(mx.base._LIB.MXEnginePushSync(
                _setter(count), None, None, ctypes.byref(device), None, 0, None, 0, None, 0,
                None))


# One function per thread count, kept for the life of the process: the engine may run a pushed
# function after the CoreShare that pushed it is gone, and a freed one would crash it.
_SETTERS: dict[int, _SyncFunc] = {}


def _setter(count: int) -> _SyncFunc:
    if count not in _SETTERS:
        gomp = _libgomp()
        _SETTERS[count] = _SyncFunc(lambda _run_context, _param: gomp.omp_set_num_threads(count))
    return _SETTERS[count]


def _busy_seconds() -> float:
    """CPU seconds spent busy so far on the cores this process may run on."""
    cores = {f"cpu{core}" for core in os.sched_getaffinity(0)}
    ticks = 0
    with open("/proc/stat") as stat:
        for line in stat:
            fields = line.split()
            if fields and fields[0] in cores:
                user, nice, system, _idle, _iowait, irq, softirq = map(int, fields[1:8])
                ticks += user + nice + system + irq + softirq  # not idle, iowait or steal
    return ticks / os.sysconf("SC_CLK_TCK")


@contextmanager
def sharing(contexts: list[mx.Context]) -> Iterator[CoreShare | None]:
    """A CoreShare watching while the block runs, where it applies (else None)."""
    if not applies(contexts):
        yield None
        return
    share = CoreShare(contexts)
    share.start()
    try:
        yield share
    finally:
        share.stop()

