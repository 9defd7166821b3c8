"""How well a model predicts held-out text: loss in nats, bits per character, perplexity."""
from __future__ import annotations

import math
from dataclasses import dataclass

import mxnet as mx
import numpy as np

from charrnn.batching import bptt_windows, check_long_enough, rnn_batch, to_device, window_lengths


def bits(nats: float) -> float:
    """Bits per character from a loss in nats per character: the one place it is computed."""
    return nats / math.log(2)


@dataclass(frozen=True)
class Metrics:
    """Mean cross-entropy per character, in nats, and what follows from it."""

    loss: float
    accuracy: float
    chars: int

    @property
    def bpc(self) -> float:
        return bits(self.loss)

    @property
    def perplexity(self) -> float:
        return math.exp(min(self.loss, 700.0))

    def as_dict(self, prefix: str = "") -> dict:
        return {f"{prefix}loss": self.loss, f"{prefix}bpc": self.bpc,
                f"{prefix}perplexity": self.perplexity, f"{prefix}accuracy": self.accuracy}


def evaluate(model: mx.gluon.HybridBlock, ids: np.ndarray, ctx: mx.Context,
             batch_size: int = 32, seq_len: int = 100, max_windows: int = 0) -> Metrics:
    """Score `ids` in `batch_size` columns, carrying the state from window to window; with
    `max_windows`, only that many windows (the start of every column, spread over `ids`).

    Sums stay on the device until the end: one synchronisation per call, not per window.
    """
    batch_size = max(1, min(batch_size, len(ids) // 2))
    check_long_enough(len(ids), batch_size, "evaluation text")
    columns = rnn_batch(ids, batch_size)
    state = model.begin_state(batch_size, ctx)
    losses: list[mx.nd.NDArray] = []
    hits: list[mx.nd.NDArray] = []
    lengths = window_lengths(len(columns), seq_len)[:max_windows or None]
    for data, target in bptt_windows(columns, lengths):
        logits, state = model(to_device(data, ctx), state)
        target = to_device(target, ctx).reshape((-1,))
        losses.append(-mx.nd.pick(mx.nd.log_softmax(logits), target).sum())
        hits.append((mx.nd.argmax(logits, axis=1) == target).sum())
    count = sum(lengths) * batch_size
    loss_sum = mx.nd.stack(*losses).asnumpy().astype(np.float64).sum()
    hit_sum = mx.nd.stack(*hits).asnumpy().astype(np.float64).sum()
    return Metrics(loss=float(loss_sum / count), accuracy=float(hit_sum / count), chars=count)
