"""charrnn/core_share.py: MXNet's threads step aside for other processes and come back."""
from __future__ import annotations

import ctypes
import os
import subprocess
import sys
import time

import mxnet as mx
import pytest

from charrnn.machine import core_share
from charrnn.machine.core_share import CoreShare, threads_for


def test_mxnet_gets_the_cores_other_processes_leave():
    assert threads_for(0.0, 2) == 2
    assert threads_for(0.2, 2) == 2  # a shell or an idle browser: not worth a thread
    assert threads_for(0.67, 2) == 1  # one busy process beside two spinning threads
    assert threads_for(1.0, 2) == 1
    assert threads_for(2.0, 2) == 1  # never none
    assert threads_for(3.0, 8) == 5


def worker_threads(context: mx.Context) -> int:
    """The OpenMP thread count MXNet's engine worker for `context` runs with now."""
    gomp = ctypes.CDLL("libgomp.so.1")
    seen = []
    probe = core_share._SyncFunc(lambda _run, _param: seen.append(gomp.omp_get_max_threads()))
    device = core_share._Context(1, context.device_id)
    marker = mx.nd.zeros(1, ctx=context)
    handles = (ctypes.c_void_p * 1)(marker.handle.value)
    mx.base.check_call(mx.base._LIB.MXEnginePushSyncND(
        probe, None, None, ctypes.byref(device), None, 0, handles, 1, None, 0, None))
    marker.wait_to_read()
    return seen[0]


def test_a_count_set_reaches_the_engine_worker_of_each_device():
    contexts = [mx.cpu(0), mx.cpu(1)]
    share = CoreShare(contexts)
    before = [worker_threads(c) for c in contexts]
    share._set(1)
    assert [worker_threads(c) for c in contexts] == [1, 1]
    share._set(2)
    assert [worker_threads(c) for c in contexts] == [2, 2]
    share._set(before[0])


def test_threads_go_at_once_and_come_back_after_two_quiet_readings():
    share = CoreShare([mx.cpu()])
    share.usable, share.threads = 2, 2
    readings = [0.0, 1.0, 0.9, 0.0, 1.0, 0.0, 0.0, 0.0]
    counts = []
    for others in readings:
        share.threads = share.decide(others)
        counts.append(share.threads)
    assert counts == [2, 1, 1, 1, 1, 1, 2, 2]


@pytest.mark.skipif(len(os.sched_getaffinity(0)) != 2, reason="written for two cores")
def test_a_busy_core_takes_a_thread_away():
    share = CoreShare([mx.cpu()])
    share._set(2)
    share.start()
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        deadline = time.monotonic() + 20
        while share.threads != 1 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert share.threads == 1
        assert worker_threads(mx.cpu()) == 1
    finally:
        busy.kill()
        busy.wait()
        share.stop()
        share._set(2)
