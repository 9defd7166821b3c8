"""Stopping a training cleanly: a request set by Ctrl-C or SIGTERM, honoured between steps."""
from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Iterator


class StopRequest:
    """Set from a signal handler; the loop finishes its step, checkpoints and stops."""

    def __init__(self) -> None:
        self.signal: int | None = None


@contextmanager
def stop_on_signals(stop: StopRequest) -> Iterator[StopRequest]:
    """First SIGINT/SIGTERM (Ctrl-C, or a notebook's interrupt button): finish the step,
    checkpoint, stop. A second one: stop now. Python lets only the main thread install
    handlers: elsewhere none is installed and the request is set by whoever holds it."""
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def handler(signum, frame):
        stop.signal = signum
        signal.signal(signum, previous[signum])

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
