"""Where a run stands, and the decisions that follow from it; saved in state.json.

Every change to a run's standing goes through a method here, so that the training loop only
sequences them and a checkpoint is this object plus arrays.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from charrnn.config import TrainConfig
from charrnn.errors import CharrnnError
from charrnn.training.schedule import Basis, Plan

INTERRUPTED = "interrupted"


@dataclass
class Progress:
    """Enough, with the checkpoint's arrays, to resume exactly."""

    epoch: int = 0           # epochs completed
    window: int = 0          # windows done in the current epoch
    step: int = 0            # optimizer steps done
    lr: float = 0.0          # current learning rate (after any decay)
    best_val_loss: float | None = None
    bad_epochs: int = 0      # evaluations since validation last improved
    elapsed: float = 0.0     # seconds of training and evaluation
    loss_sum: float = 0.0    # sum of the window losses of the current epoch so far
    loss_windows: int = 0
    stop_reason: str = ""    # why training ended; empty while it can go on
    rows: int = 0            # rows of metrics.jsonl and samples.jsonl written so far: on
    samples: int = 0         # resume, those written after the checkpoint are dropped
    plan: Plan = field(default_factory=Plan)  # where the learning rate's decay ends

    @classmethod
    def from_dict(cls, data: Any, source: str) -> Progress:
        if not isinstance(data, dict):
            raise CharrnnError(f"{source} is damaged (expected a JSON object).")
        try:
            fields = {f.name for f in dataclasses.fields(cls)}
            values = {k: v for k, v in data.items() if k in fields}
            values["plan"] = Plan(**values.get("plan", {}))
            return cls(**values)
        except TypeError as error:
            raise CharrnnError(f"{source} is damaged ({error}).") from None

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    # -- what happens to a run: one verb per event --------------------------------------------

    def took_step(self) -> None:
        """One optimizer step, on the epoch's next window."""
        self.window += 1
        self.step += 1

    def read_losses(self, total: float, windows: int) -> None:
        """The losses of `windows` steps, summing to `total`, came back from the device."""
        self.loss_sum += total
        self.loss_windows += windows

    def end_epoch(self, windows_per_epoch: int) -> bool:
        """Count the epoch if all its windows are done; True if it was."""
        if self.window < windows_per_epoch:
            return False
        self.epoch += 1
        self.window = 0
        return True

    def restart_train_loss(self) -> None:
        self.loss_sum, self.loss_windows = 0.0, 0

    def keep_score(self, val_loss: float, lr_decay: float) -> None:
        """A scheduled evaluation (an epoch's end, --eval-every): a new best resets patience;
        anything else counts a bad evaluation and decays the rate. An evaluation taken only
        because training stopped (--max-steps, a signal, the time budget) keeps nothing, so
        that a run stopped and resumed decides as one that never stopped."""
        if self.improves(val_loss):
            self.best_val_loss = val_loss
            self.bad_epochs = 0
        else:
            self.bad_epochs += 1
            self.decay(lr_decay)

    def decay(self, lr_decay: float) -> None:
        self.lr *= lr_decay

    def new_learning_rate(self, lr: float) -> None:
        """A new step size starts a new schedule: patience counts afresh, and the cooldown
        that ran-out patience started is dropped (the run plans again)."""
        self.lr = lr
        self.bad_epochs = 0
        if self.plan.basis == Basis.PATIENCE:
            self.plan = Plan()

    def planned(self, plan: Plan) -> None:
        """The learning rate follows `plan` from this step on."""
        self.plan = plan

    def wrote_row(self) -> None:
        """A row of metrics.jsonl: on resume, rows written after the checkpoint are dropped."""
        self.rows += 1

    def wrote_sample(self) -> None:
        """A row of samples.jsonl (dropped on resume like the metrics' rows)."""
        self.samples += 1

    def timed(self, elapsed: float) -> None:
        """Seconds of training and evaluation so far, for the time budget and the records."""
        self.elapsed = elapsed

    def stop(self, reason: str) -> None:
        """Stop for `reason` (nothing if empty); the first reason given is the one kept."""
        self.stop_reason = self.stop_reason or reason

    def resumed(self) -> None:
        """A resumed run goes on: the reason it stopped no longer holds."""
        self.stop_reason = ""

    # -- what it asks ------------------------------------------------------------------------

    def improves(self, val_loss: float) -> bool:
        """Whether `val_loss` beats the best validation loss so far."""
        return self.best_val_loss is None or val_loss < self.best_val_loss

    def mean_train_loss(self) -> float:
        return self.loss_sum / max(self.loss_windows, 1)

    def finished(self, config: TrainConfig) -> str:
        """Why the run is complete under `config` (its epochs, patience); '' if it is not.
        Under a decaying schedule, patience that runs out first cools the rate down to 0
        (`Plan.cooling`), and the run stops there."""
        cooled_down = self.cooled_down(config)
        if cooled_down:
            return cooled_down
        if self.plan.basis != Basis.PATIENCE and self.bad_epochs >= config.patience:
            return f"stopped early: validation did not improve for {config.patience} epochs"
        if self.epoch >= config.epochs:
            return f"completed {config.epochs} epochs"
        return ""

    def cooled_down(self, config: TrainConfig) -> str:
        """The cooldown that ran-out patience started has reached 0 (a larger --patience on
        resume makes a new plan instead)."""
        plan = self.plan
        if plan.basis == Basis.PATIENCE and plan.patience == config.patience and \
                plan.complete(self.step):
            return (f"stopped early: validation did not improve for {config.patience} "
                    f"epochs, and the rate cooled down to 0")
        return ""

    def step_limit(self, config: TrainConfig) -> str:
        """--max-steps (a planned end: the rate is 0 there) or --stop-at-step (a pause, as
        Ctrl-C would make one) reached."""
        if config.max_steps and self.step >= config.max_steps:
            return f"reached --max-steps {config.max_steps}"
        if config.stop_at_step and self.step >= config.stop_at_step:
            return f"stopped at step {config.stop_at_step} (--stop-at-step)"
        return ""

    def time_limit(self, config: TrainConfig) -> str:
        """The budget is used up, or its plan is complete: the rate is 0, the rest would be
        wasted (a new budget makes a new plan)."""
        plan = self.plan
        planned_end = (plan.basis == Basis.TIME_BUDGET and plan.time_budget == config.time_budget
                       and config.lr_schedule != "constant" and plan.complete(self.step))
        if config.time_budget and (self.elapsed >= config.time_budget or planned_end):
            return time_budget_used(config)
        return ""

    def limit_reached(self, config: TrainConfig) -> str:
        """Why not to take another step: a limit of `config` that this progress has reached."""
        return self.step_limit(config) or self.time_limit(config) or self.finished(config)


def time_budget_used(config: TrainConfig) -> str:
    """The reason a job stops when any of its workers ran out of time."""
    return f"used the time budget of {config.time_budget:g} s"
