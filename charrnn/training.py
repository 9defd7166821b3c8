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

import time
from typing import Any

import gluonnlp
import mxnet as mx
import numpy as np
from mxnet import autograd, gluon

from charrnn import checkpoint, evaluation, generation
from charrnn.batching import bptt_windows, rnn_batch, to_device, window_lengths
from charrnn.config import TrainConfig
from charrnn.corpus import Corpus
from charrnn.distributed import Workers
from charrnn.errors import CharrnnError
from charrnn.models import State, trainable_parameters
from charrnn.plots import plot_runs
from charrnn.progress import INTERRUPTED, Progress, time_budget_used
from charrnn.rundir import BEST, CURVES, SAMPLES, RunDir
from charrnn.schedule import Basis, Schedule
from charrnn.scores import Metrics, bits
from charrnn.stopping import StopRequest
from charrnn.trainer_state import TrainerState


def due(every: int, step: int) -> bool:
    return bool(every) and step % every == 0


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
            losses.append(evaluation.char_losses(logits, y.reshape((-1,))).sum() * scale)
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
                               f"number of devices ({len(contexts)}) (batch_size, from Python).")
        self.columns = rnn_batch(self.workers.shard(corpus.part("train")), config.batch_size)
        self.trainer = make_trainer(model, config, contexts, progress.lr, self.workers.kvstore)
        self.trainer_state = TrainerState(self.trainer)
        if self.workers.kvstore:
            self.trainer_state.start_kvstore()
        _build_graph(model, contexts)
        self.started = 0.0                       # time.time() when training began, in effect
        self.pending: list[mx.nd.NDArray] = []   # per-step losses not yet read back
        self.meter = Throughput()
        self.schedule = Schedule(config, progress, self.reporter.note, self.workers)
        self.evaluated_at = -1                   # the step of the last evaluation
        self.validation_seconds = 0.0            # how long the last validation took

    # -- the loop ------------------------------------------------------------------------

    def run(self) -> Progress:
        """Epoch by epoch: window -> step -> (every N) evaluate -> record -> keep best or
        decay -> decide -> checkpoint."""
        progress, config = self.progress, self.config
        hidden = self.restore() if progress.step else None
        self.started = time.time() - progress.elapsed
        progress.stop(progress.limit_reached(config))
        self.schedule.plan_limits(self.epochs_end())
        while not progress.stop_reason:
            lengths = self.epoch_windows(progress.epoch)
            if not progress.window:
                hidden = begin_states(self.model, config.batch_size, self.contexts)
            self.reporter.epoch_started(progress.epoch + 1, len(lengths), progress.window)
            self.meter.start()
            for data, target in bptt_windows(self.columns, lengths, start=progress.window):
                hidden = self.step(data, target, hidden)
                if due(config.sample_every, progress.step):
                    self.write_samples()
                within_epoch = progress.window < len(lengths)  # an epoch's end evaluates anyway
                if due(config.eval_every, progress.step) and within_epoch:
                    self.evaluate(scheduled=True, windows=len(lengths))
                    self.checkpoint(hidden)
                elif due(config.checkpoint_every, progress.step):
                    self.checkpoint(hidden)
                if not progress.stop_reason:
                    progress.stop(self.why_stop())
                if progress.stop_reason:
                    break
            self.flush()
            self.meter.pause()
            if progress.stop_reason != INTERRUPTED:
                whole_epoch = progress.end_epoch(len(lengths))
                if whole_epoch or self.evaluated_at != progress.step:
                    self.evaluate(scheduled=whole_epoch, windows=len(lengths))
            self.checkpoint(hidden)
        return progress

    def epoch_windows(self, epoch: int) -> list[int]:
        rng = (np.random.default_rng([self.config.seed, epoch]) if self.config.random_seq_len
               else None)
        return window_lengths(len(self.columns), self.config.seq_len, rng)

    def step(self, data: np.ndarray, target: np.ndarray, hidden: list[State]) -> list[State]:
        """One optimizer step on one window; the losses are read back every --log-interval."""
        config, progress = self.config, self.progress
        mx.random.seed(mxnet_seed(config.seed, progress.step, self.workers.rank))
        # With random lengths a shorter window takes a smaller step (AWD-LSTM).
        scale = len(data) / config.seq_len if config.random_seq_len else 1.0
        self.trainer.set_learning_rate(self.schedule.rate() * scale)
        hidden, loss = train_step(self.model, self.trainer, data, target, hidden,
                                  self.contexts, config.clip, self.workers.count)
        self.pending.append(loss)
        progress.took_step()
        self.meter.add(data.size)
        if len(self.pending) >= config.log_interval:
            self.flush()
            self.corpus.release()  # a memory-mapped corpus's pages, read and done with
        return hidden

    def epochs_end(self) -> int:
        """The step at which the last of --epochs ends."""
        config, progress = self.config, self.progress
        left = config.epochs - progress.epoch
        if left <= 0:
            return progress.step
        this_epoch = len(self.epoch_windows(progress.epoch)) - progress.window
        if config.random_seq_len and left <= 1000:  # the windows of each epoch, as drawn
            later = sum(len(self.epoch_windows(e))
                        for e in range(progress.epoch + 1, config.epochs))
        else:
            later = (left - 1) * len(self.epoch_windows(progress.epoch))
        return progress.step + this_epoch + later

    def why_stop(self) -> str:
        """Why to stop after this step, if at all; all workers of a job decide alike."""
        config, progress = self.config, self.progress
        limit = progress.step_limit(config) or progress.cooled_down(config)
        if limit:
            return limit
        logging_step = progress.step % config.log_interval == 0
        if self.workers.count > 1 and not logging_step:
            return ""  # signals and clocks differ between workers: vote at logging steps only
        self.clock()
        if logging_step:
            self.schedule.plan_budget(self.epochs_end, self.validation_seconds)
        interrupted, out_of_time = self.workers.total(self.stop.signal is not None,
                                                      bool(progress.time_limit(config)))
        if interrupted:
            return INTERRUPTED
        return time_budget_used(config) if out_of_time else ""

    def clock(self) -> None:
        self.progress.timed(time.time() - self.started)

    def flush(self) -> None:
        """Read back the pending losses (the one synchronisation), check them, report."""
        if not self.pending:
            return
        losses = mx.nd.concat(*self.pending, dim=0).asnumpy().astype(np.float64)
        self.pending = []
        _check_finite(losses, self.progress, self.config)
        self.progress.read_losses(float(losses.sum()), len(losses))
        self.reporter.advanced(len(losses), float(losses.mean()), self.meter.rate(),
                               self.schedule.now())

    # -- evaluating and deciding ---------------------------------------------------------

    def evaluate(self, scheduled: bool, windows: int) -> None:
        """Worker 0 validates and decides; every worker then follows its verdict and rate.
        Scheduled: an epoch's end or --eval-every; not: a stop."""
        self.flush()
        self.evaluated_at = self.progress.step
        lr_before = self.progress.lr
        began = time.time()
        verdict = self.validate(scheduled, windows) if self.workers.chief else ""
        self.validation_seconds = time.time() - began
        self.follow_chief(verdict, lr_before)

    def validate(self, scheduled: bool, windows: int) -> str:
        """Score the validation split, keep the best weights (and, when scheduled, the score:
        patience and decay), record the row; why the run is finished, if it is."""
        config, progress = self.config, self.progress
        metrics = evaluation.evaluate(self.model, self.corpus.part("val"), self.contexts[0],
                                      config.eval_batch_size, config.seq_len,
                                      config.eval_batches)
        self.corpus.release()
        improved = progress.improves(metrics.loss)
        if improved:
            self.run_dir.save_params(self.model, BEST)
        if scheduled:
            progress.keep_score(metrics.loss, config.lr_decay)
            if self.schedule.patience_ran_out():
                self.schedule.cool_down()
        self.record(metrics, improved, windows)
        return progress.finished(config)

    def follow_chief(self, verdict: str, lr_before: float) -> None:
        """The verdict, whether the rate decayed and whether patience began a cooldown cross
        the kvstore as float32 flags; each worker decays its own rate and plans its own
        cooldown, so every worker's rate is exactly the chief's."""
        stop, decayed, cooling = self.workers.from_chief(
            bool(verdict), self.progress.lr < lr_before,
            self.progress.plan.basis == Basis.PATIENCE)
        if decayed and not self.workers.chief:
            self.progress.decay(self.config.lr_decay)
        if cooling and self.progress.plan.basis != Basis.PATIENCE:
            self.schedule.cool_down()
        self.trainer.set_learning_rate(self.progress.lr)
        if stop:
            self.progress.stop(verdict or "worker 0 ended the job")

    def record(self, metrics: Metrics, improved: bool, windows_per_epoch: int) -> None:
        """Append this evaluation to metrics.jsonl, show it, redraw the curves."""
        progress = self.progress
        self.clock()
        epoch = progress.epoch + (round(progress.window / windows_per_epoch, 3)
                                  if progress.window else 0)
        train_loss = progress.mean_train_loss()
        if not progress.window:
            progress.restart_train_loss()
        row = {"epoch": epoch, "step": progress.step,
               "train_loss": train_loss, "train_bpc": bits(train_loss),
               "val_loss": metrics.loss, "val_bpc": metrics.bpc,
               "val_accuracy": metrics.accuracy, "lr": self.schedule.rate(),
               "planned_end": progress.plan.end,
               "best": improved, "chars_per_s": round(self.meter.rate()),
               "elapsed": round(progress.elapsed, 2)}
        self.meter.restart()
        self.run_dir.append_metrics(row)
        progress.wrote_row()
        self.reporter.epoch_ended(row)
        plot_runs([(self.run_dir.path.name, self.run_dir.metrics())],
                  self.run_dir.file(CURVES), f"charrnn: {self.run_dir.path.name}")

    def write_samples(self) -> None:
        """A short sample from the current weights at each temperature, kept in
        samples.jsonl; its seed is a line of the corpus chosen by (seed, step). NumPy draws
        only: MXNet's random stream, and so the run, is unchanged."""
        self.flush()
        if not self.workers.chief:
            return
        vocab, step = self.corpus.vocab, self.progress.step
        rng = np.random.default_rng([self.config.seed, step])
        seed_ids = generation.corpus_line(self.corpus.part("train"), vocab.id_of("\n"), rng,
                                          60)
        for temperature in self.config.temperatures():
            text = "".join(generation.characters(
                self.model, vocab, seed_ids, generation.SAMPLE_LENGTH, temperature=temperature,
                seed=int(rng.integers(2 ** 31)), ctx=self.contexts[0]))
            row = {"step": step, "epoch": self.progress.epoch, "temperature": temperature,
                   "seed": vocab.decode(seed_ids), "text": text}
            self.run_dir.append_row(SAMPLES, row)
            self.progress.wrote_sample()
            self.reporter.sampled(row)

    # -- checkpoints (checkpoint.py) -----------------------------------------------------

    def checkpoint(self, hidden: list[State]) -> None:
        self.flush()
        self.clock()
        checkpoint.save(self.run_dir, self.progress, self.model, self.trainer_state, hidden,
                        self.contexts, self.workers)

    def restore(self) -> list[State]:
        fresh = begin_states(self.model, self.config.batch_size, self.contexts)
        return checkpoint.restore(self.run_dir, self.model, self.trainer_state, fresh,
                                  self.contexts, self.workers, self.reporter.note)


def _check_finite(losses: np.ndarray, progress: Progress, config: TrainConfig) -> None:
    """Stop with the step and a way out at the first loss that is not a number."""
    bad = np.flatnonzero(~np.isfinite(losses))
    if len(bad):
        first_step = progress.step - len(losses) + 1
        raise Diverged(
            f"training diverged: the loss became {losses[bad[0]]} at step "
            f"{first_step + bad[0]} (epoch {progress.epoch + 1}). The best checkpoint so far is "
            f"kept. Try a lower --lr (now {progress.lr:g}) or --clip (now {config.clip:g}).")


def _build_graph(model: gluon.HybridBlock, contexts: list[mx.Context]) -> None:
    """Build the model's cached graph now, in inference mode. Gluon reads every parameter once
    more while it builds: with weight drop in training mode that draws extra masks, which
    would shift the random stream of whichever step comes first in the process."""
    for ctx in contexts:
        model(to_device(np.zeros((1, 1)), ctx), model.begin_state(1, ctx))


def train_locked(model, corpus, config, contexts, run, progress, reporter: Reporter,
                 stop, workers=None):
    """The loop over a run its caller has locked (start_run, resume_run): the lock goes and the
    reporter closes however the loop ends, for `charrnn.train` and `compare` alike."""
    try:
        return TrainingLoop(model, corpus, config, contexts, run, progress, reporter, stop,
                            workers).run()
    finally:
        run.unlock()
        reporter.close()
