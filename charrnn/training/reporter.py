"""What the training loop tells the user, and how fast it goes."""
from __future__ import annotations

import time
from typing import Any


class Reporter:
    """What the loop tells the user; the CLI shows it, tests may record it."""

    def epoch_started(self, epoch: int, windows: int, done: int) -> None:
        pass

    def advanced(self, windows: int, loss: float | None, chars_per_s: float,
                 schedule: dict[str, Any]) -> None:
        """`schedule`: the rate now ("lr"), the planned end ("end", a step, or 0) and the
        seconds left until then ("left", or None while the pace is unknown)."""

    def epoch_ended(self, row: dict[str, Any]) -> None:
        pass

    def note(self, text: str) -> None:
        pass

    def sampled(self, row: dict[str, Any]) -> None:
        pass

    def close(self) -> None:
        """Training is over (finished, stopped or failed)."""


class Throughput:
    """Training characters per second since the last record, evaluations excluded."""

    def __init__(self) -> None:
        self.chars, self.seconds, self.since = 0, 0.0, None

    def start(self) -> None:
        self.since = time.time()

    def pause(self) -> None:
        if self.since is not None:
            self.seconds += time.time() - self.since
            self.since = None

    def add(self, chars: int) -> None:
        self.chars += chars

    def rate(self) -> float:
        running = time.time() - self.since if self.since is not None else 0.0
        return self.chars / max(self.seconds + running, 1e-9)

    def restart(self) -> None:
        self.chars, self.seconds = 0, 0.0
        if self.since is not None:
            self.since = time.time()
