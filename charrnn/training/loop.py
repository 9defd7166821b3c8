"""Truncated back-propagation through time: the loop that steps, evaluates, decides and
checkpoints (each of those in the module that owns it: step, records, schedule, checkpoint).

Losses stay on the device until the logging interval, so the loop never waits for the device
in between. The window lengths of an epoch come from (seed, epoch) and every step's random
draws from (seed, step, worker): a run stopped anywhere and resumed computes what it would have.
"""
from __future__ import annotations

import time

import mxnet as mx
import numpy as np
from mxnet import gluon

from charrnn.config import TrainConfig
from charrnn.errors import CharrnnError
from charrnn.machine.distributed import Workers
from charrnn.machine.stopping import StopRequest
from charrnn.models import State
from charrnn.models.evaluation import evaluate
from charrnn.runs.rundir import BEST, RunDir
from charrnn.text.batching import EpochWindows, bptt_windows, rnn_batch
from charrnn.text.corpus import Corpus
from charrnn.training import checkpoint
from charrnn.training.progress import INTERRUPTED, Progress, time_budget_used
from charrnn.training.records import Logbook
from charrnn.training.reporter import Reporter, Throughput
from charrnn.training.schedule import Basis, Schedule
from charrnn.training.step import (
    begin_states,
    build_graph,
    check_finite,
    make_trainer,
    mxnet_seed,
    train_step,
)
from charrnn.training.trainer_state import TrainerState


def due(every: int, step: int) -> bool:
    return bool(every) and step % every == 0



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
        self.windows = EpochWindows(len(self.columns), config.seq_len,
                                    config.seed if config.random_seq_len else None)
        self.trainer = make_trainer(model, config, contexts, progress.lr, self.workers.kvstore)
        self.trainer_state = TrainerState(self.trainer)
        if self.workers.kvstore:
            self.trainer_state.start_kvstore()
        build_graph(model, contexts)
        self.started = 0.0                       # time.time() when training began, in effect
        self.pending: list[mx.nd.NDArray] = []   # per-step losses not yet read back
        self.meter = Throughput()
        self.logbook = Logbook(run, self.reporter, self.meter)
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
            lengths = self.windows(progress.epoch)
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
        progress = self.progress
        return self.windows.end(progress.step, progress.epoch, progress.window,
                                self.config.epochs)

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
        check_finite(losses, self.progress, self.config)
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
        metrics = evaluate(self.model, self.corpus.part("val"), self.contexts[0],
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
        self.clock()
        self.logbook.evaluation(progress, metrics, improved, windows, self.schedule.rate())
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

    def write_samples(self) -> None:
        self.flush()
        if self.workers.chief:
            self.logbook.samples(self.model, self.corpus, self.config, self.progress,
                                 self.contexts[0])

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
