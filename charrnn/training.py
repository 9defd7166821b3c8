"""Truncated back-propagation through time: the loop, its checkpoints and its stopping rules.

The hidden state is carried from one window to the next and detached, the loss is the mean
cross-entropy per character, its gradient is clipped by global norm, and one optimizer step
follows. Losses stay on the device until the logging interval, so the loop never waits for
the device in between.

Every random draw of a step is a function of (seed, step, worker): MXNet's generator is
reseeded before each step (about 10 microseconds) and the window lengths of an epoch come from
(seed, epoch). A run stopped anywhere and resumed therefore computes what it would have.
"""
from __future__ import annotations

import math
import time
from typing import Any

import gluonnlp
import mxnet as mx
import numpy as np
from mxnet import autograd, gluon

from charrnn import checkpoint
from charrnn.atomic import arrays_writer
from charrnn.batching import bptt_windows, rnn_batch, to_device, window_lengths
from charrnn.checkpoint import (
    HIDDEN,
    OPTIMIZER,
    WEIGHTS,
    gather_hidden,
    hidden_arrays,
    hidden_list,
    optimizer_arrays,
    optimizer_counts,
    restore_optimizer,
    scatter_hidden,
)
from charrnn.config import TrainConfig
from charrnn.corpus import Corpus
from charrnn.distributed import Workers
from charrnn.errors import CharrnnError
from charrnn.evaluation import char_losses, evaluate
from charrnn.generation import corpus_line
from charrnn.generation import sample as generate
from charrnn.models import State, trainable_parameters
from charrnn.plots import plot_runs
from charrnn.progress import INTERRUPTED, Progress
from charrnn.rundir import BEST, CURVES, SAMPLES, RunDir
from charrnn.scores import Metrics, bits
from charrnn.stopping import StopRequest

SAMPLE_LENGTH = 200


def due(every: int, step: int) -> bool:
    return bool(every) and step % every == 0


class Reporter:
    """What the loop tells the user; the CLI shows it, tests may record it."""

    def epoch_started(self, epoch: int, windows: int, done: int) -> None:
        pass

    def advanced(self, windows: int, loss: float | None, chars_per_s: float) -> None:
        pass

    def epoch_ended(self, row: dict[str, Any]) -> None:
        pass

    def note(self, text: str) -> None:
        pass

    def sampled(self, row: dict[str, Any]) -> None:
        pass


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


def schedule(config: TrainConfig, step: int, windows_per_epoch: int) -> float:
    """The learning rate's factor at `step`: a linear warm-up, then constant or a half
    cosine down to 0 at the last step (a function of the step, so resume is exact)."""
    if config.warmup and step < config.warmup:
        return (step + 1) / config.warmup
    if config.lr_schedule == "constant":
        return 1.0
    total = config.epochs * windows_per_epoch  # not --max-steps: a stop, changed on resume
    done = (step - config.warmup) / max(total - config.warmup, 1)
    return 0.5 * (1 + math.cos(math.pi * min(done, 1.0)))


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
        _build_graph(model, contexts)
        self.started = 0.0                       # time.time() when training began, in effect
        self.pending: list[mx.nd.NDArray] = []   # per-step losses not yet read back
        self.chars = 0               # characters trained since the last record, the seconds it
        self.seconds = 0.0           # took, and when the current stretch of steps began
        self.tick = 0.0
        self.evaluated_at = -1       # the step of the last evaluation

    # -- the loop ------------------------------------------------------------------------

    def run(self) -> Progress:
        """Epoch by epoch: windows -> steps -> evaluate -> record -> keep best or decay ->
        decide -> checkpoint."""
        progress = self.progress
        hidden = self.restore() if progress.step else None
        self.started = time.time() - progress.elapsed
        progress.stop_reason = progress.limit_reached(self.config)
        while not progress.stop_reason:
            lengths = self.epoch_windows(progress.epoch)
            if not progress.window:
                hidden = begin_states(self.model, self.config.batch_size, self.contexts)
            self.reporter.epoch_started(progress.epoch + 1, len(lengths), progress.window)
            hidden = self.train_windows(lengths, hidden)
            if progress.stop_reason != INTERRUPTED:
                whole_epoch = progress.end_epoch(len(lengths))
                if whole_epoch or self.evaluated_at != progress.step:
                    self.evaluate_and_decide(whole_epoch, len(lengths))
            self.checkpoint(hidden)
        return progress

    def epoch_windows(self, epoch: int) -> list[int]:
        rng = (np.random.default_rng([self.config.seed, epoch]) if self.config.random_seq_len
               else None)
        return window_lengths(len(self.columns), self.config.seq_len, rng)

    def train_windows(self, lengths: list[int], hidden: list[State]) -> list[State]:
        """The optimizer steps of one epoch from where it stands, until it ends or a stop."""
        config, progress = self.config, self.progress
        self.tick = time.time()
        for data, target in bptt_windows(self.columns, lengths, start=progress.window):
            mx.random.seed(mxnet_seed(config.seed, progress.step, self.workers.rank))
            # With random lengths a shorter window takes a smaller step (AWD-LSTM).
            scale = len(data) / config.seq_len if config.random_seq_len else 1.0
            self.trainer.set_learning_rate(progress.lr * scale *
                                           schedule(config, progress.step, len(lengths)))
            hidden, loss = train_step(self.model, self.trainer, data, target, hidden,
                                      self.contexts, config.clip, self.workers.count)
            self.pending.append(loss)
            progress.advance()
            self.chars += data.size
            if len(self.pending) >= config.log_interval:
                self.flush()
            if due(config.sample_every, progress.step):
                self.flush()
                self.sample()
            evaluate_now = (due(config.eval_every, progress.step)
                            and progress.window < len(lengths))  # epoch ends evaluate anyway
            if evaluate_now:
                self.flush()
                self.evaluate_and_decide(True, len(lengths))
            if evaluate_now or due(config.checkpoint_every, progress.step):
                self.flush()
                self.checkpoint(hidden)
            if not progress.stop_reason:
                progress.stop_reason = self.stop_reason()
            if progress.stop_reason:
                break
        self.flush()
        self.seconds += time.time() - self.tick
        self.tick = 0.0
        return hidden

    def stop_reason(self) -> str:
        """Why to stop after this step, if at all; all workers of a job decide alike."""
        config, progress = self.config, self.progress
        if config.max_steps and progress.step >= config.max_steps:
            return f"reached --max-steps {config.max_steps}"
        if self.workers.count > 1 and progress.step % config.log_interval:
            return ""  # signals and clocks differ between workers: vote at logging steps only
        progress.elapsed = time.time() - self.started
        interrupted = self.stop.signal is not None
        out_of_time = bool(config.time_budget and progress.elapsed >= config.time_budget)
        interrupted, out_of_time = self.workers.total(interrupted, out_of_time)
        if interrupted:
            return INTERRUPTED
        if out_of_time:
            return f"used the time budget of {config.time_budget:g} s"
        return ""

    def chars_per_s(self) -> float:
        """Training characters per second since the last record, evaluation excluded."""
        running = time.time() - self.tick if self.tick else 0.0
        return self.chars / max(self.seconds + running, 1e-9)

    def flush(self) -> None:
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
        self.progress.stepped(float(losses.sum()), len(losses))
        self.reporter.advanced(len(losses), float(losses.mean()),
                               self.chars_per_s())

    # -- evaluating and deciding ---------------------------------------------------------

    def evaluate_and_decide(self, scheduled: bool, windows_per_epoch: int) -> None:
        """Worker 0 scores the validation split, keeps the best weights (or, at a scheduled
        evaluation, counts patience and decays the learning rate), records the row and
        decides whether the run is finished; every worker then takes its learning rate and
        verdict. Scheduled: an epoch's end or --eval-every; not: a stop."""
        progress, config = self.progress, self.config
        finished, lr = "", progress.lr
        self.evaluated_at = progress.step
        if self.workers.chief:
            metrics = evaluate(self.model, self.corpus.part("val"), self.contexts[0],
                               config.eval_batch_size, config.seq_len, config.eval_batches)
            self.corpus.release()
            improved = progress.judge(metrics.loss, config.lr_decay, scheduled)
            if improved:
                self.run_dir.save_params(self.model, BEST)
            self.record(metrics, improved, windows_per_epoch)
            finished = progress.finished(config)
        # The verdict and whether the rate decayed cross the kvstore as float32 flags; each
        # worker decays its own rate, so every worker's rate is exactly the chief's.
        stop, decayed = self.workers.from_chief(bool(finished), progress.lr < lr)
        if decayed and not self.workers.chief:
            progress.lr *= config.lr_decay
        self.trainer.set_learning_rate(progress.lr)
        if not progress.stop_reason and stop:
            progress.stop_reason = finished or "worker 0 ended the job"

    def record(self, metrics: Metrics, improved: bool, windows_per_epoch: int) -> None:
        """Append this evaluation to metrics.jsonl and show it."""
        progress = self.progress
        progress.elapsed = time.time() - self.started
        epoch = progress.epoch + (round(progress.window / windows_per_epoch, 3)
                                  if progress.window else 0)
        train_loss = progress.mean_train_loss()
        if not progress.window:
            progress.restart_train_loss()
        row = {"epoch": epoch, "step": progress.step,
               "train_loss": train_loss, "train_bpc": bits(train_loss),
               "val_loss": metrics.loss, "val_bpc": metrics.bpc,
               "val_accuracy": metrics.accuracy,
               "lr": progress.lr * schedule(self.config, progress.step, windows_per_epoch),
               "best": improved, "chars_per_s": round(self.chars_per_s()),
               "elapsed": round(progress.elapsed, 2)}
        self.chars, self.seconds = 0, 0.0
        self.tick = time.time() if self.tick else 0.0
        self.run_dir.append_metrics(row)
        progress.rows += 1
        self.reporter.epoch_ended(row)
        plot_runs([(self.run_dir.path.name, self.run_dir.metrics())],
                  self.run_dir.file(CURVES), f"charrnn: {self.run_dir.path.name}")

    def sample(self) -> None:
        """A short sample from the current weights at each temperature, kept in
        samples.jsonl; its seed is a line of the corpus chosen by (seed, step). NumPy draws
        only: MXNet's random stream, and so the run, is unchanged."""
        if not self.workers.chief:
            return
        vocab, step = self.corpus.vocab, self.progress.step
        rng = np.random.default_rng([self.config.seed, step])
        seed_ids = corpus_line(self.corpus.part("train"), vocab.id_of("\n"), rng, 60)
        for temperature in self.config.temperatures():
            text = "".join(chars[0] for chars in generate(
                self.model, vocab, seed_ids, SAMPLE_LENGTH, temperature=temperature,
                seed=int(rng.integers(2 ** 31)), ctx=self.contexts[0]))
            row = {"step": step, "epoch": self.progress.epoch, "temperature": temperature,
                   "seed": vocab.decode(seed_ids), "text": text}
            self.run_dir.append_row(SAMPLES, row)
            self.progress.samples += 1
            self.reporter.sampled(row)

    # -- checkpoints ---------------------------------------------------------------------

    def checkpoint(self, hidden: list[State]) -> None:
        """Commit weights, optimizer state, every worker's carried state and the progress as
        one set (see checkpoint.py). Every worker calls this together."""
        carried = self.workers.gather_columns(gather_hidden(hidden))
        if not self.workers.chief:
            return
        self.progress.elapsed = time.time() - self.started
        devices = len(self.contexts) * self.workers.count
        checkpoint.commit(self.run_dir, self.progress,
                          {"optimizer_counts": optimizer_counts(self.trainer),
                           "devices": devices}, {
                              WEIGHTS: self.model.save_parameters,
                              OPTIMIZER: arrays_writer(optimizer_arrays(self.trainer)),
                              HIDDEN: arrays_writer(hidden_arrays(carried))})

    def restore(self) -> list[State]:
        """Load the checkpoint's weights, optimizer state and this worker's carried state."""
        _, state, folder = checkpoint.load(self.run_dir)
        devices = len(self.contexts) * self.workers.count
        if self.workers.chief and state.get("devices", devices) != devices:
            self.reporter.note(f"the run was trained on {state['devices']} device(s) and now "
                               f"continues on {devices}: dropout masks are drawn per device, "
                               "so it goes on well but not bit for bit as it would have.")
        self.run_dir.load_params(self.model, folder / WEIGHTS, self.contexts)
        arrays = checkpoint.load_arrays(folder / OPTIMIZER)
        _check_optimizer_shapes(self.trainer, arrays, folder / OPTIMIZER)
        restore_optimizer(self.trainer, arrays, state.get("optimizer_counts", {}),
                          self.contexts)
        carried = hidden_list(checkpoint.load_arrays(folder / HIDDEN))
        expected = [(*a.shape[:1], a.shape[1] * self.workers.count, *a.shape[2:]) for a in
                    gather_hidden(begin_states(self.model, self.config.batch_size,
                                               self.contexts))]
        if [a.shape for a in carried] != expected:
            raise CharrnnError(f"{folder / HIDDEN} holds states of shapes "
                               f"{[a.shape for a in carried]}, not {expected}: the checkpoint "
                               "does not belong to this run.")
        return scatter_hidden(self.workers.own_columns(carried), self.contexts)


def _build_graph(model: gluon.HybridBlock, contexts: list[mx.Context]) -> None:
    """Build the model's cached graph now, in inference mode. Gluon reads every parameter once
    more while it builds: with weight drop in training mode that draws extra masks, which
    would shift the random stream of whichever step comes first in the process."""
    for ctx in contexts:
        model(to_device(np.zeros((1, 1)), ctx), model.begin_state(1, ctx))


def _check_optimizer_shapes(trainer: gluon.Trainer, arrays: dict[str, mx.nd.NDArray],
                            path: Any) -> None:
    params = trainer._params
    for key, array in arrays.items():
        index = int(key.split(".")[0]) if key.split(".")[0].isdigit() else -1
        if not 0 <= index < len(params) or array.shape != params[index].shape:
            raise CharrnnError(f"{path} does not match the model's parameters ({key}): the "
                               "checkpoint does not belong to this run.")
