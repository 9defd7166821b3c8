"""One step of truncated back-propagation through time, over one or more devices (and workers).

The hidden state is carried from one window to the next and detached, the loss is the mean
cross-entropy per character, its gradient is clipped by global norm, and one optimizer step
follows. Every random draw of a step is a function of (seed, step, worker): MXNet's generator
is reseeded before each step (about 10 microseconds).
"""
from __future__ import annotations

import gluonnlp
import mxnet as mx
import numpy as np
from mxnet import autograd, gluon

from charrnn.config import TrainConfig
from charrnn.errors import CharrnnError
from charrnn.models import State, trainable_parameters
from charrnn.models.evaluation import char_losses
from charrnn.text.batching import to_device
from charrnn.training.progress import Progress


class Diverged(CharrnnError):
    pass


def make_trainer(model: gluon.Block, config: TrainConfig, contexts: list[mx.Context],
                 lr: float, kvstore: mx.kv.KVStore | str | None = None) -> gluon.Trainer:
    """Adam or SGD; gradients are summed over devices (and workers) by a kvstore, and every
    process updates its own copy of the weights, so clipping sees the whole gradient."""
    if kvstore is None and len(contexts) > 1:
        kvstore = "device" if contexts[0].device_type == "gpu" else "local"
    options = {"learning_rate": lr, "wd": config.weight_decay}
    if config.optimizer == "adam":
        options["beta2"] = config.beta2
    return gluon.Trainer(model.collect_params(), config.optimizer, options, kvstore=kvstore,
                         update_on_kvstore=False if kvstore else None)


def split_columns(window: np.ndarray, contexts: list[mx.Context]) -> list[mx.nd.NDArray]:
    """Each device gets an equal, contiguous share of the batch columns."""
    return [to_device(part, ctx) for part, ctx in
            zip(np.array_split(window, len(contexts), axis=1), contexts)]


def begin_states(model: gluon.Block, batch_size: int, contexts: list[mx.Context]) -> list[State]:
    share = batch_size // len(contexts)
    return [model.begin_state(share, ctx) for ctx in contexts]


def forward_backward(model: gluon.Block, data: np.ndarray, target: np.ndarray,
                     hidden: list[State], contexts: list[mx.Context], workers: int = 1):
    """Forward every device's columns from its carried state, then backward.

    Each device's summed loss is divided by the global token count, so the gradients summed
    over devices (and workers) are those of the mean loss. Returns the detached states to
    carry into the next window and the mean loss (on the first device, not read back).
    """
    scale = 1.0 / (data.size * workers)
    inputs, targets = split_columns(data, contexts), split_columns(target, contexts)
    losses, carried = [], []
    with autograd.record():
        for x, y, state in zip(inputs, targets, hidden):
            logits, state = model(x, state)
            losses.append(char_losses(logits, y.reshape((-1,))).sum() * scale)
            carried.append([s.detach() for s in state])
    autograd.backward(losses)
    total = mx.nd.add_n(*[loss.as_in_context(contexts[0]) for loss in losses])
    return carried, total * workers


def clip_gradients(model: gluon.Block, clip: float) -> mx.nd.NDArray:
    """Rescale the gradients so that their global norm is at most `clip`; returns the norm."""
    return gluonnlp.utils.clip_grad_global_norm(trainable_parameters(model), clip,
                                                check_isfinite=False)


def train_step(model: gluon.Block, trainer: gluon.Trainer, data: np.ndarray,
               target: np.ndarray, hidden: list[State], contexts: list[mx.Context],
               clip: float, workers: int = 1):
    """One window: forward and backward, sum gradients over devices, clip, update."""
    carried, loss = forward_backward(model, data, target, hidden, contexts, workers)
    trainer.allreduce_grads()
    clip_gradients(model, clip)
    trainer.update(1)
    return carried, loss


def mxnet_seed(seed: int, step: int, rank: int = 0) -> int:
    """MXNet's seed for a step: dropout masks are a function of (seed, step, worker)."""
    return (seed * 1_000_003 + step * 1_009 + rank) % (2 ** 31)


def check_finite(losses: np.ndarray, progress: Progress, config: TrainConfig) -> None:
    """Stop with the step and a way out at the first loss that is not a number."""
    bad = np.flatnonzero(~np.isfinite(losses))
    if len(bad):
        first_step = progress.step - len(losses) + 1
        raise Diverged(
            f"training diverged: the loss became {losses[bad[0]]} at step "
            f"{first_step + bad[0]} (epoch {progress.epoch + 1}). The best checkpoint so far is "
            f"kept. Try a lower --lr (now {progress.lr:g}) or --clip (now {config.clip:g}).")


def build_graph(model: gluon.HybridBlock, contexts: list[mx.Context]) -> None:
    """Build the model's cached graph now, in inference mode. Gluon reads every parameter once
    more while it builds: with weight drop in training mode that draws extra masks, which
    would shift the random stream of whichever step comes first in the process."""
    for ctx in contexts:
        model(to_device(np.zeros((1, 1)), ctx), model.begin_state(1, ctx))
