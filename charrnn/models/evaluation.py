"""How well a model predicts held-out text: loss in nats, bits per character, perplexity.

Two ways to score: `evaluate`, with the weights fixed, and `evaluate_dynamic`, where the model
keeps learning from the text it has already scored (dynamic evaluation, Krause et al. 2018).
"""
from __future__ import annotations

import mxnet as mx
import numpy as np

from charrnn.errors import CharrnnError
from charrnn.models import trainable_parameters
from charrnn.models.scores import Metrics
from charrnn.text.batching import (
    bptt_windows,
    check_long_enough,
    rnn_batch,
    to_device,
    window_lengths,
)

# The step of dynamic evaluation that scored the bundled corpus's validation split best
# (1.805 bits/char for params/nietzsche-pretrained; 3e-5 gave 1.831, 1e-3 diverged).
DYNAMIC_LR = 1e-4


def evaluate(model: mx.gluon.HybridBlock, ids: np.ndarray, ctx: mx.Context,
             batch_size: int = 32, seq_len: int = 100, max_windows: int = 0) -> Metrics:
    """Score `ids` in `batch_size` columns, carrying the state from window to window; with
    `max_windows`, only that many windows (the start of every column, spread over `ids`).
    """
    columns = _columns(ids, batch_size, "evaluation text")
    batch_size = columns.shape[1]
    state = model.begin_state(batch_size, ctx)
    losses: list[mx.nd.NDArray] = []
    hits: list[mx.nd.NDArray] = []
    lengths = window_lengths(len(columns), seq_len)[:max_windows or None]
    for data, target in bptt_windows(columns, lengths):
        logits, state = model(to_device(data, ctx), state)
        target = to_device(target, ctx).reshape((-1,))
        losses.append(char_losses(logits, target).sum())
        hits.append((mx.nd.argmax(logits, axis=1) == target).sum())
    return _metrics(losses, hits, sum(lengths) * batch_size)


def gradient_rms(model: mx.gluon.HybridBlock, ids: np.ndarray, ctx: mx.Context,
                 seq_len: int = 50, windows: int = 100,
                 batch_size: int = 32) -> list[mx.nd.NDArray]:
    """The root-mean-square gradient of each weight over `windows` windows of `ids` (training
    text): dynamic evaluation divides its steps by it, so weights that training moved little
    move little."""
    columns = _columns(ids, batch_size, "training text")
    params = trainable_parameters(model)
    squares = [mx.nd.zeros_like(p.data(ctx)) for p in params]
    state = model.begin_state(columns.shape[1], ctx)
    lengths = window_lengths(len(columns), seq_len)[:windows]
    for data, target in bptt_windows(columns, lengths):
        _, _, state = _scored_backward(model, data, target, state, ctx)
        for square, param in zip(squares, params):
            square += param.grad(ctx) ** 2
    return [mx.nd.sqrt(square / len(lengths)) + 1e-5 for square in squares]


def evaluate_dynamic(model: mx.gluon.HybridBlock, ids: np.ndarray, ctx: mx.Context,
                     rms: list[mx.nd.NDArray], lr: float = DYNAMIC_LR,
                     seq_len: int = 50) -> Metrics:
    """Score `ids` as one stream and, after each window is scored, take a step on it: every
    character is still predicted before the model learns from it. Changes the model's weights.

    The step is the gradient of the window's mean loss divided by `rms` (Krause et al. 2018,
    without their decay towards the trained weights, which lost 0.02 bits/char here).
    """
    columns = _columns(ids, 1, "evaluation text")
    params = trainable_parameters(model)
    state = model.begin_state(1, ctx)
    losses: list[mx.nd.NDArray] = []
    hits: list[mx.nd.NDArray] = []
    lengths = window_lengths(len(columns), seq_len)
    for data, target in bptt_windows(columns, lengths):
        window_losses, hit_count, state = _scored_backward(model, data, target, state, ctx)
        for param, scale in zip(params, rms):
            weight = param.data(ctx)
            weight -= lr * param.grad(ctx) / scale
        losses.append(window_losses.sum())
        hits.append(hit_count)
    return _metrics(losses, hits, sum(lengths))


def _columns(ids: np.ndarray, batch_size: int, what: str) -> np.ndarray:
    """`ids` as `batch_size` columns, fewer for a short text (each needs two characters)."""
    batch_size = max(1, min(batch_size, len(ids) // 2))
    check_long_enough(len(ids), batch_size, what)
    return rnn_batch(ids, batch_size)


def check_dynamic(metrics: Metrics, vocab_size: int, lr: float) -> None:
    """Dynamic evaluation has diverged when it scores worse than a uniform guess."""
    if not metrics.loss < np.log(vocab_size):
        raise CharrnnError(f"dynamic evaluation diverged: {metrics.bpc:.4g} bits/char, worse "
                           f"than a uniform guess; use a smaller --dynamic-lr (now {lr:g}).")


def _scored_backward(model: mx.gluon.HybridBlock, data: np.ndarray, target: np.ndarray,
                     state: list[mx.nd.NDArray], ctx: mx.Context):
    """One window without dropout: its per-character losses and correct guesses, and the
    state to carry; the weights' gradients are those of its mean loss."""
    state = [s.detach() for s in state]
    target = to_device(target, ctx).reshape((-1,))
    with mx.autograd.record(train_mode=False):
        logits, state = model(to_device(data, ctx), state)
        losses = char_losses(logits, target)
        mean_loss = losses.mean()
    mean_loss.backward()
    return losses, (mx.nd.argmax(logits, axis=1) == target).sum(), state


def char_losses(logits: mx.nd.NDArray, target: mx.nd.NDArray) -> mx.nd.NDArray:
    """Each character's cross-entropy in nats: the one loss that training and scoring use."""
    return -mx.nd.pick(mx.nd.log_softmax(logits), target)


def _metrics(losses: list[mx.nd.NDArray], hits: list[mx.nd.NDArray], count: int) -> Metrics:
    """Sums stay on the device until here: one synchronisation per evaluation."""
    loss_sum = mx.nd.stack(*losses).asnumpy().astype(np.float64).sum()
    hit_sum = mx.nd.stack(*hits).asnumpy().astype(np.float64).sum()
    return Metrics(loss=float(loss_sum / count), accuracy=float(hit_sum / count), chars=count)
