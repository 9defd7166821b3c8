"""Ids to (steps, batch) columns, and columns to the windows of truncated BPTT."""
from __future__ import annotations

from typing import Iterator

import mxnet as mx
import numpy as np

from charrnn.errors import CharrnnError


def rnn_batch(data: np.ndarray, batch_size: int) -> np.ndarray:
    """Reshape ids to `(nbatch, batch_size)`: column j is the j-th contiguous segment.

    The remainder that does not fill a row is dropped. The result is a view, so a memory-mapped
    corpus stays on disk.
    """
    nbatch = len(data) // batch_size
    return data[:nbatch * batch_size].reshape(batch_size, nbatch).T


def check_long_enough(length: int, batch_size: int, what: str) -> None:
    """A split must give every column at least one (input, target) pair."""
    needed = 2 * batch_size
    if length < needed:
        raise CharrnnError(
            f"the {what} has {length:,} characters, too few for one batch of {batch_size} columns "
            f"(it needs at least {needed:,}): use a longer text or a smaller --batch-size.")


def window_lengths(steps: int, seq_len: int, rng: np.random.Generator = None) -> list[int]:
    """Lengths of consecutive windows covering `steps - 1` predictions.

    With `rng`, each length is drawn around `seq_len` as in AWD-LSTM (Merity et al. 2017): the
    base is seq_len with probability 0.95, else seq_len / 2, plus normal noise of s.d. 5.
    """
    lengths, done, total = [], 0, steps - 1
    while done < total:
        n = seq_len
        if rng is not None:
            base = seq_len if rng.random() < 0.95 else seq_len / 2
            n = max(5, round(rng.normal(base, 5)))
        n = min(n, total - done)
        lengths.append(n)
        done += n
    return lengths


class EpochWindows:
    """The window lengths of each epoch over `steps` rows: `seq_len` each, or, with a `seed`,
    drawn from (seed, epoch) (window_lengths), so that a resumed run draws the same."""

    def __init__(self, steps: int, seq_len: int, seed: int | None = None):
        self.steps, self.seq_len, self.seed = steps, seq_len, seed

    def __call__(self, epoch: int) -> list[int]:
        rng = np.random.default_rng([self.seed, epoch]) if self.seed is not None else None
        return window_lengths(self.steps, self.seq_len, rng)

    def end(self, step: int, epoch: int, window: int, epochs: int) -> int:
        """The step at which epoch `epochs` ends, for a run at `step`, `window` windows into
        `epoch` (both counted from 0)."""
        left = epochs - epoch
        if left <= 0:
            return step
        this_epoch = len(self(epoch)) - window
        if self.seed is not None and left <= 1000:  # the windows of each epoch, as drawn
            later = sum(len(self(e)) for e in range(epoch + 1, epochs))
        else:
            later = (left - 1) * len(self(epoch))
        return step + this_epoch + later


def bptt_windows(batched: np.ndarray, lengths: list[int],
                 start: int = 0) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield (data, target) windows, target shifted one character ahead, from window `start` on."""
    position = sum(lengths[:start])
    for n in lengths[start:]:
        yield batched[position:position + n], batched[position + 1:position + 1 + n]
        position += n


def to_device(window: np.ndarray, ctx: mx.Context) -> mx.nd.NDArray:
    """A window of ids as the float32 array the embedding takes."""
    return mx.nd.array(window, ctx=ctx, dtype="float32")
