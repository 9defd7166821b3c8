"""Truncated back-propagation through time: the loop, its checkpoints and its stopping rules.

The hidden state is carried from one window to the next and detached, the loss is the mean
cross-entropy per character, its gradient is clipped by global norm, and one optimizer step
follows. Losses stay on the device until the logging interval, so the loop never waits for
the device in between.
"""
from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from typing import Any

import gluonnlp
import mxnet as mx
import numpy as np
from mxnet import autograd, gluon

from charrnn import checkpoint
from charrnn.atomic import arrays_writer, json_writer
from charrnn.batching import bptt_windows, rnn_batch, to_device, window_lengths
from charrnn.checkpoint import (
    RunDir,
    gather_hidden,
    optimizer_arrays,
    optimizer_counts,
    restore_optimizer,
    rng_states,
    scatter_hidden,
    set_rng_states,
)
from charrnn.config import TrainConfig
from charrnn.corpus import Corpus
from charrnn.distributed import Workers
from charrnn.errors import CharrnnError
from charrnn.evaluation import Metrics, evaluate
from charrnn.models import State

_LOSS = gluon.loss.SoftmaxCrossEntropyLoss()


@dataclass
class Progress:
    """Where a run stands; saved as state.json, enough to resume exactly."""

    epoch: int = 0           # epochs completed
    window: int = 0          # windows done in the current epoch
    step: int = 0            # optimizer steps done
    lr: float = 0.0          # current learning rate (after any decay)
    best_val_loss: float | None = None
    bad_epochs: int = 0      # epochs since validation last improved
    elapsed: float = 0.0     # seconds of training and evaluation
    loss_sum: float = 0.0    # sum of the window losses of the current epoch so far
    loss_windows: int = 0
    stop_reason: str = ""    # why training ended; empty while it can go on

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str) -> Progress:
        try:
            fields = {f.name for f in dataclasses.fields(cls)}
            return cls(**{k: v for k, v in data.items() if k in fields})
        except TypeError as error:
            raise CharrnnError(f"{source} is damaged ({error}).") from None


class Reporter:
    """What the loop tells the user; the CLI shows it, tests may record it."""

    def epoch_started(self, epoch: int, windows: int, done: int) -> None:
        pass

    def advanced(self, windows: int, loss: float | None, chars_per_s: float) -> None:
        pass

    def epoch_ended(self, row: dict[str, Any]) -> None:
        pass


class StopRequest:
    """Set from a signal handler; the loop finishes its batch, checkpoints and stops."""

    def __init__(self) -> None:
        self.signal: int | None = None


class Diverged(CharrnnError):
    pass


def make_trainer(model: gluon.Block, config: TrainConfig, contexts: list[mx.Context],
                 lr: float, kvstore: mx.kv.KVStore | str | None = None) -> gluon.Trainer:
    """Adam or SGD; gradients are summed over devices (and workers) by a kvstore, and every
    process updates its own copy of the weights, so clipping sees the whole gradient."""
    if kvstore is None and len(contexts) > 1:
        kvstore = "device" if contexts[0].device_type == "gpu" else "local"
    options = {"learning_rate": lr, "wd": config.weight_decay}
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
            losses.append(_LOSS(logits, y.reshape((-1,))).sum() * scale)
            carried.append([s.detach() for s in state])
    autograd.backward(losses)
    total = mx.nd.add_n(*[loss.as_in_context(contexts[0]) for loss in losses])
    return carried, total * workers


def clip_gradients(model: gluon.Block, clip: float) -> mx.nd.NDArray:
    """Rescale the gradients so that their global norm is at most `clip`; returns the norm."""
    parameters = [p for p in model.collect_params().values() if p.grad_req != "null"]
    return gluonnlp.utils.clip_grad_global_norm(parameters, clip, check_isfinite=False)


def train_step(model: gluon.Block, trainer: gluon.Trainer, data: np.ndarray,
               target: np.ndarray, hidden: list[State], contexts: list[mx.Context],
               clip: float, workers: int = 1):
    """One window: forward and backward, sum gradients over devices, clip, update."""
    carried, loss = forward_backward(model, data, target, hidden, contexts, workers)
    trainer.allreduce_grads()
    clip_gradients(model, clip)
    trainer.update(1)
    return carried, loss


def check_corpus_size(corpus: Corpus, config: TrainConfig) -> None:
    """The training split must fill one window of every column; say how long a corpus must be."""
    train, val = len(corpus.part("train")), len(corpus.part("val"))
    needed = config.batch_size * (config.seq_len + 1)
    if train < needed or val < 2:
        share = train / len(corpus.ids)
        minimum = max(math.ceil(needed / share) if share else needed, math.ceil(2 / 0.05))
        raise CharrnnError(
            f"corpus {corpus.path} is too short for one batch: with --batch-size "
            f"{config.batch_size} and --seq-len {config.seq_len} the training split needs "
            f"{needed:,} characters but has {train:,}; the corpus needs at least {minimum:,}. "
            "Use a longer text, or a smaller --batch-size or --seq-len.")


def mxnet_seed(seed: int, step: int) -> int:
    """The MXNet seed at a resumable point: dropout masks then repeat exactly on resume."""
    return (seed * 1_000_003 + step) % (2 ** 31)


class TrainingLoop:
    """Trains `model` into `run` from `progress` on; `run()` returns when training stops."""

    def __init__(self, model: gluon.HybridBlock, corpus: Corpus, config: TrainConfig,
                 contexts: list[mx.Context], run: RunDir, progress: Progress,
                 reporter: Reporter | None = None, stop: StopRequest | None = None,
                 workers: Workers | None = None):
        self.model, self.corpus, self.config = model, corpus, config
        self.contexts, self.run_dir, self.progress = contexts, run, progress
        self.reporter = reporter or Reporter()
        self.stop = stop or StopRequest()
        self.workers = workers or Workers()
        if config.batch_size % len(contexts):
            raise CharrnnError(f"--batch-size {config.batch_size} must be a multiple of the "
                               f"number of devices ({len(contexts)}).")
        self.columns = rnn_batch(self.workers.shard(corpus.part("train")), config.batch_size)
        self.trainer = make_trainer(model, config, contexts, progress.lr, self.workers.kvstore)
        if self.workers.kvstore:
            # gluon.Trainer creates its kvstore and broadcasts the weights lazily, in the first
            # step, after the first forward and backward pass. Measured here, a worker then
            # sometimes kept a zeroed weight (9 of 15 runs) and the workers silently diverged.
            # Set the gradient scale, create the kvstore, broadcast worker 0's weights and
            # wait for them before the first forward pass (30 of 30 runs agreed).
            self.trainer._optimizer.rescale_grad = 1.0
            self.trainer._init_kvstore()
            self.trainer._init_params()
            mx.nd.waitall()
        self.started = 0.0                       # time.time() when training began, in effect
        self.pending: list[mx.nd.NDArray] = []   # per-step losses not yet read back
        self.chars = 0               # characters trained on this epoch, and the seconds it took
        self.seconds = 0.0

    # -- the loop ------------------------------------------------------------------------

    def run(self) -> Progress:
        hidden = self.restore() if self.progress.step else None
        self.started = time.time() - self.progress.elapsed
        while not self.progress.stop_reason:
            lengths = self.epoch_windows(self.progress.epoch)
            if not self.progress.window:
                hidden = begin_states(self.model, self.config.batch_size, self.contexts)
                mx.random.seed(mxnet_seed(self.config.seed, self.progress.step))
            self.reporter.epoch_started(self.progress.epoch + 1, len(lengths),
                                        self.progress.window)
            hidden = self.train_epoch(lengths, hidden)
            if self.progress.stop_reason == "interrupted":
                self.save_last(hidden)
                break
            self.end_epoch(lengths)
            self.save_last(hidden)
        return self.progress

    def epoch_windows(self, epoch: int) -> list[int]:
        rng = (np.random.default_rng([self.config.seed, epoch]) if self.config.random_seq_len
               else None)
        return window_lengths(len(self.columns), self.config.seq_len, rng)

    def train_epoch(self, lengths: list[int], hidden: list[State]) -> list[State]:
        config, progress = self.config, self.progress
        tick = time.time()
        for data, target in bptt_windows(self.columns, lengths, start=progress.window):
            if config.random_seq_len:  # a shorter window takes a smaller step (AWD-LSTM)
                self.trainer.set_learning_rate(progress.lr * len(data) / config.seq_len)
            hidden, loss = train_step(self.model, self.trainer, data, target, hidden,
                                      self.contexts, config.clip, self.workers.count)
            self.pending.append(loss)
            progress.window += 1
            progress.step += 1
            self.chars += data.size
            if len(self.pending) >= config.log_interval:
                self.flush(tick)
            if config.checkpoint_every and progress.step % config.checkpoint_every == 0:
                self.flush(tick)
                self.save_last(hidden)
                mx.random.seed(mxnet_seed(config.seed, progress.step))
            progress.stop_reason = self.stop_reason()
            if progress.stop_reason:
                break
        self.flush(tick)
        self.seconds += time.time() - tick
        return hidden

    def stop_reason(self) -> str:
        """Why to stop after this step, if at all; all workers of a job decide alike."""
        config, step = self.config, self.progress.step
        if config.max_steps and step >= config.max_steps:
            return f"reached --max-steps {config.max_steps}"
        if self.workers.count > 1 and step % config.log_interval:
            return ""  # signals and clocks differ between workers: vote at logging steps only
        interrupted = self.stop.signal is not None
        out_of_time = bool(config.time_budget and
                           time.time() - self.started >= config.time_budget)
        interrupted, out_of_time = self.workers.total(interrupted, out_of_time)
        if interrupted:
            return "interrupted"
        if out_of_time:
            return f"used the time budget of {config.time_budget:g} s"
        return ""

    def flush(self, tick: float) -> None:
        """Read back pending losses (the one sync), check they are finite, report."""
        if not self.pending:
            return
        losses = mx.nd.concat(*self.pending, dim=0).asnumpy().astype(np.float64)
        first_step = self.progress.step - len(losses) + 1
        self.pending = []
        bad = np.flatnonzero(~np.isfinite(losses))
        if len(bad):
            raise Diverged(
                f"training diverged: the loss became {losses[bad[0]]} at step "
                f"{first_step + bad[0]} (epoch {self.progress.epoch + 1}). The best checkpoint "
                f"so far is kept. Try a lower --lr (now {self.progress.lr:g}) or --clip "
                f"(now {self.config.clip:g}).")
        self.corpus.release()
        self.progress.loss_sum += float(losses.sum())
        self.progress.loss_windows += len(losses)
        self.reporter.advanced(len(losses), float(losses.mean()),
                               self.chars / max(self.seconds + time.time() - tick, 1e-9))

    # -- end of an epoch -----------------------------------------------------------------

    def end_epoch(self, lengths: list[int]) -> None:
        """Worker 0 validates and decides; every worker takes its learning rate and verdict."""
        progress = self.progress
        whole_epoch = progress.window >= len(lengths)
        if whole_epoch:
            progress.epoch += 1
            progress.window = 0
        finished = self.validate(lengths, whole_epoch) if self.workers.chief else ""
        stop, progress.lr = self.workers.from_chief(bool(finished), progress.lr)
        self.trainer.set_learning_rate(progress.lr)
        if not progress.stop_reason and stop:
            progress.stop_reason = finished or "worker 0 ended the job"

    def validate(self, lengths: list[int], whole_epoch: bool) -> str:
        """Score the validation split, keep the best weights, log; returns why to stop."""
        progress, config = self.progress, self.config
        metrics = evaluate(self.model, self.corpus.part("val"), self.contexts[0],
                           config.eval_batch_size, config.seq_len)
        self.corpus.release()
        improved = progress.best_val_loss is None or metrics.loss < progress.best_val_loss
        if improved:
            progress.best_val_loss = metrics.loss
            progress.bad_epochs = 0
            self.run_dir.save_params(self.model, checkpoint.BEST)
        elif whole_epoch:
            progress.bad_epochs += 1
            progress.lr *= config.lr_decay
        progress.elapsed = time.time() - self.started
        row = self.metrics_row(metrics, improved, lengths)
        self.run_dir.append_metrics(row)
        self.reporter.epoch_ended(row)
        return self.finished_reason()

    def finished_reason(self) -> str:
        if self.progress.bad_epochs >= self.config.patience:
            return (f"stopped early: validation did not improve for {self.config.patience} "
                    "epochs")
        if self.progress.epoch >= self.config.epochs:
            return f"completed {self.config.epochs} epochs"
        return ""

    def metrics_row(self, metrics: Metrics, improved: bool, lengths: list[int]) -> dict[str, Any]:
        progress = self.progress
        train_loss = progress.loss_sum / max(progress.loss_windows, 1)
        chars_per_s = self.chars / max(self.seconds, 1e-9)
        self.chars, self.seconds = 0, 0.0
        epoch = progress.epoch + (round(progress.window / len(lengths), 3) if progress.window
                                  else 0)
        if not progress.window:
            progress.loss_sum, progress.loss_windows = 0.0, 0
        return {"epoch": epoch, "step": progress.step,
                "train_loss": train_loss, "train_bpc": train_loss / math.log(2),
                "val_loss": metrics.loss, "val_bpc": metrics.bpc,
                "val_accuracy": metrics.accuracy, "lr": self.progress.lr,
                "best": improved, "chars_per_s": round(chars_per_s),
                "elapsed": round(progress.elapsed, 2)}

    # -- checkpoints ---------------------------------------------------------------------

    def save_last(self, hidden: list[State]) -> None:
        """last.params, trainer.states, hidden.params and state.json, renamed together."""
        if not self.workers.chief:
            return
        self.progress.elapsed = time.time() - self.started
        state = dataclasses.asdict(self.progress)
        state["rng"] = {**rng_states(), "mxnet_seed": mxnet_seed(self.config.seed,
                                                                  self.progress.step)}
        state["optimizer_counts"] = optimizer_counts(self.trainer)
        self.run_dir.save({
            checkpoint.LAST: self.model.save_parameters,
            checkpoint.OPTIMIZER: arrays_writer(optimizer_arrays(self.trainer)),
            checkpoint.HIDDEN: arrays_writer(gather_hidden(hidden)),
            checkpoint.STATE: json_writer(state),
        })

    def restore(self) -> list[State]:
        """Load last.params, the optimizer state, RNG states and the carried hidden state."""
        run = self.run_dir
        run.load_params(self.model, checkpoint.LAST, self.contexts)
        state = run.read_json(checkpoint.STATE)
        restore_optimizer(self.trainer, run.load_arrays(checkpoint.OPTIMIZER),
                          state.get("optimizer_counts", {}), self.contexts)
        set_rng_states(state.get("rng", {}))
        mx.random.seed(mxnet_seed(self.config.seed, self.progress.step))
        if not self.workers.chief:  # only worker 0's state was saved; others restart theirs
            return begin_states(self.model, self.config.batch_size, self.contexts)
        return scatter_hidden(run.load_arrays(checkpoint.HIDDEN), self.contexts)
