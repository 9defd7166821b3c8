"""Stopping a training cleanly: a request set by Ctrl-C or SIGTERM, honoured between steps."""
from __future__ import annotations

import signal
from contextlib import contextmanager
from typing import Iterator


class StopRequest:
    """Set from a signal handler; the loop finishes its step, checkpoints and stops."""

    def __init__(self) -> None:
        self.signal: int | None = None


@contextmanager
def stop_on_signals(stop: StopRequest) -> Iterator[StopRequest]:
    """First SIGINT/SIGTERM: finish the step, checkpoint, stop. A second one: stop now."""
    def handler(signum, frame):
        stop.signal = signum
        signal.signal(signum, previous[signum])

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
