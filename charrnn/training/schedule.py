"""The learning rate's schedule: a warm-up, then a decay that reaches zero where the run ends.

A run ends at the first of its planned limits: the end of --epochs and --max-steps, known in
steps from the start, and --time-budget, known in steps once the speed is measured (and
planned again while the speed changes: another process took a core, validation took longer
than assumed). Running out of --patience is one too: the rate falls to zero from there, over
a quarter of the steps so far, and the run stops at zero (an early stop ends annealed too).
--stop-at-step is not: it stops a run as Ctrl-C would, to be resumed exactly.

The rate is the run's peak (Progress.lr) times the plan's factor at the step, and the plan is
saved with the run's progress in state.json, so a resumed run follows the plan it was on. New
limits make a new plan, which starts where the old one stands (the rate is continuous); one
made after the last was complete starts again with a warm-up, but for a constant rate, which
an extension simply continues.
"""
from __future__ import annotations

import dataclasses
import enum
import math
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable

COOLDOWN = 0.5          # the share of a plan over which "cooldown" falls (benchmarks/NOTES.md)
PATIENCE_COOLDOWN = 0.25  # ran-out patience cools down over this share of the steps so far
REPLAN_TOLERANCE = 0.02  # re-plan a budget when its end moves by more than this share
PACE_WINDOW = 60.0       # seconds of recent training and validation that measure the pace


class Basis(str, enum.Enum):
    """What set a plan's end (a str, so that state.json holds its value)."""

    UNPLANNED = ""
    EPOCHS = "epochs"
    MAX_STEPS = "max steps"
    TIME_BUDGET = "time budget"
    PATIENCE = "patience"


@dataclass
class Plan:
    """Where the decay ends and how it got there; saved in state.json."""

    end: int = 0           # the step at which the rate reaches zero (0: not planned yet)
    start: int = 0         # the step the plan took over
    done: float = 0.0      # how far along the decay the rate was at `start`, 0 to 1
    warmup_from: int = 0   # the step of the last warm-up's start
    warmup: int = 0        # its length: --warmup, at most a tenth of the plan
    basis: Basis = Basis.UNPLANNED  # what set the end
    epochs: int = 0        # the limits the plan was made for: new ones make a new plan
    time_budget: float = 0.0
    max_steps: int = 0
    patience: int = 0      # the --patience that ran out (basis PATIENCE)

    def __post_init__(self) -> None:
        self.basis = Basis(self.basis)  # from state.json: its value

    def made_for(self, epochs: int, time_budget: float, max_steps: int) -> bool:
        """Whether these are the limits the plan was made for."""
        return (self.epochs, self.time_budget, self.max_steps) == (epochs, time_budget,
                                                                   max_steps)

    def progress(self, step: int) -> float:
        """How far along the decay `step` is: 0 until planned, 1 at and after the end."""
        if not self.end or step <= self.start:
            return self.done if self.end else 0.0
        return min(1.0, self.done + (1 - self.done) * (step - self.start)
                   / max(self.end - self.start, 1))

    def factor(self, shape: str, step: int) -> float:
        """The learning rate's factor at `step`: linear warm-up, then the shape's decay."""
        since = step - self.warmup_from
        if since < self.warmup:
            return (since + 1) / self.warmup
        done = self.progress(step)
        if shape == "constant":
            return 1.0
        if done >= 1.0:
            return 0.0
        if shape == "linear":
            return 1.0 - done
        if shape == "cosine":
            return 0.5 * (1 + math.cos(math.pi * done))
        if shape == "cooldown":
            return 1.0 - math.sqrt(max(done - (1 - COOLDOWN), 0.0) / COOLDOWN)
        raise ValueError(f"unknown schedule {shape!r}")

    def complete(self, step: int) -> bool:
        return bool(self.end) and self.progress(step) >= 1.0

    def cooling(self, shape: str, step: int, patience: int) -> Plan:
        """Validation stopped improving at `step`: fall to zero from here over a quarter of
        the steps so far (never past this plan's end): long enough to anneal, short enough
        not to train on long after validation stopped improving. A held rate starts its
        cooldown now; a falling one goes on falling, faster."""
        span = max(round((step - self.warmup_from) * PATIENCE_COOLDOWN), 1)
        done = self.progress(step)
        if shape == "cooldown":
            done = max(done, 1 - COOLDOWN)
        return dataclasses.replace(self, end=max(min(step + span, self.end), step + 1),
                                   start=step, done=done, basis=Basis.PATIENCE,
                                   patience=patience)

    def replanned(self, step: int, end: int, basis: Basis, warmup: int, epochs: int,
                  time_budget: float, max_steps: int = 0, constant: bool = False) -> Plan:
        """A plan ending at `end` from `step` on, where this one stands; after a complete
        plan, a new warm-up and a decay from the full rate. A warm-up takes at most a tenth
        of the plan, so that a short run is not all warm-up (a warm-up under way is cut
        short, not stretched, when the plan shrinks). A `constant` rate has no decay for the
        plan to shape: its warm-up is --warmup whatever the limits, and a new plan goes on
        from where the old one stands, so that 1 epoch then a resume to 2 is 2 epochs."""
        limits = {"basis": basis, "epochs": epochs, "time_budget": time_budget,
                  "max_steps": max_steps}
        if constant:
            begun = self.warmup_from if self.end else step
            length = self.warmup if self.end else warmup
            return Plan(end=max(end, step + 1), start=step, warmup_from=begun, warmup=length,
                        **limits)
        if self.complete(step) or not self.end:
            length = min(warmup, (end - step) // 10)
            return Plan(end=max(end, step + length + 1), start=step + length, warmup_from=step,
                        warmup=length, **limits)
        length = self.warmup
        if step < self.warmup_from + self.warmup:  # still warming up
            length = min(warmup, max((end - self.warmup_from) // 10, step - self.warmup_from))
        start = max(step, self.warmup_from + length)
        return Plan(end=max(end, start + 1), start=start, done=self.progress(step),
                    warmup_from=self.warmup_from, warmup=length, **limits)


class Pace:
    """Seconds per step over the last PACE_WINDOW seconds of a run's clock (training and
    validation alike: validation time is budget time)."""

    def __init__(self) -> None:
        self.points: deque[tuple[int, float]] = deque()

    def observe(self, step: int, elapsed: float) -> None:
        self.points.append((step, elapsed))
        while len(self.points) > 2 and elapsed - self.points[1][1] >= PACE_WINDOW:
            self.points.popleft()

    def seconds_per_step(self) -> float | None:
        if len(self.points) < 2:
            return None
        (first_step, first), (last_step, last) = self.points[0], self.points[-1]
        return (last - first) / (last_step - first_step) if last_step > first_step else None


def budget_end(step: int, elapsed: float, time_budget: float, seconds_per_step: float) -> int:
    """The step at which the time budget runs out at this pace."""
    return step + max(int((time_budget - elapsed) / seconds_per_step), 1)


def worth_replanning(plan: Plan, step: int, end: int) -> bool:
    """The end moved by more than REPLAN_TOLERANCE of the steps left."""
    return abs(end - plan.end) > REPLAN_TOLERANCE * max(plan.end - step, 1)


def limit_end(epochs_end: int, max_steps: int) -> tuple[int, Basis]:
    """The first of the limits known in steps: the end of --epochs, or --max-steps."""
    if max_steps and max_steps < epochs_end:
        return max_steps, Basis.MAX_STEPS
    return epochs_end, Basis.EPOCHS


class Schedule:
    """The learning rate's policy over one run, which the training loop asks for the rate:
    the plan for the limits known in steps, re-planned on the pace for a time budget and on
    patience running out; every worker follows worker 0's plan.

    It reads the run's settings (a TrainConfig), its Progress (where the plan is kept) and the
    job's Workers by their attributes: config.py and progress.py import this module.
    """

    def __init__(self, config: Any, progress: Any, note: Callable[[str], None],
                 workers: Any):
        self.config, self.progress, self.note, self.workers = config, progress, note, workers
        self.pace = Pace()

    def rate(self) -> float:
        """The learning rate now: the run's peak (after any decay) times the plan's factor."""
        progress = self.progress
        return progress.lr * progress.plan.factor(self.config.lr_schedule, progress.step)

    def now(self) -> dict[str, Any]:
        """The rate, the plan's end and the seconds left until it, for the progress line."""
        progress, seconds_per_step = self.progress, self.pace.seconds_per_step()
        end = progress.plan.end
        left = (max(end - progress.step, 0) * seconds_per_step
                if end and seconds_per_step is not None else None)
        return {"lr": self.rate(), "end": end, "left": left}

    def plan_limits(self, epochs_end: int) -> None:
        """Plan the decay to end with --epochs or --max-steps, unless a plan for these limits
        is on record (a resumed run follows it). A budget's end is planned once the pace is
        known (`plan_budget`)."""
        config, progress = self.config, self.progress
        plan = progress.plan
        if plan.end and plan.made_for(config.epochs, config.time_budget, config.max_steps) \
                and plan.patience in (0, config.patience):
            return
        new = self._replanned(*limit_end(epochs_end, config.max_steps))
        if plan.end and config.lr_schedule != "constant":
            self.note(f"new limits (--epochs {config.epochs}, --max-steps {config.max_steps}, "
                      f"--time-budget {config.time_budget:g} s): the learning rate now falls "
                      f"from {self.rate():.3g} at step {progress.step} to 0 at step "
                      f"{new.end}.")
        progress.planned(new)

    def plan_budget(self, epochs_end: Callable[[], int], validation_seconds: float) -> None:
        """At a logging step (the run's clock just read): measure the pace and, if the time
        budget runs out before the other limits do (keeping time for the last validation),
        move the plan's end there when it moved enough. `epochs_end` is asked only with a
        budget (with --random-seq-len it draws every epoch's windows)."""
        config, progress = self.config, self.progress
        self.pace.observe(progress.step, progress.elapsed)
        if not config.time_budget:
            return
        seconds_per_step = self.pace.seconds_per_step()
        end = 0 if seconds_per_step is None else budget_end(
            progress.step, progress.elapsed, config.time_budget - validation_seconds,
            seconds_per_step)
        end = int(self.workers.from_chief(end)[0])
        (limit, limit_basis), plan = limit_end(epochs_end(), config.max_steps), progress.plan
        if not end or (end >= limit and plan.basis == limit_basis) or \
                (plan.basis == Basis.PATIENCE and end >= plan.end):
            return
        basis = Basis.TIME_BUDGET if end < limit else limit_basis
        end = min(end, limit)
        if basis == plan.basis and not worth_replanning(plan, progress.step, end):
            return
        if plan.basis == basis == Basis.TIME_BUDGET and \
                abs(end - plan.end) > 0.1 * (plan.end - plan.warmup_from):
            self.note(f"the pace changed: the learning rate now reaches 0 at step {end} "
                      f"instead of {plan.end}.")
        progress.planned(self._replanned(end, basis))

    def patience_ran_out(self) -> bool:
        """Under a decaying schedule, the first time patience runs out it cools the rate
        down instead of stopping at once: an early stop ends annealed too."""
        config, progress = self.config, self.progress
        return (config.lr_schedule != "constant" and progress.plan.basis != Basis.PATIENCE
                and progress.bad_epochs >= config.patience)

    def cool_down(self) -> None:
        config, progress = self.config, self.progress
        progress.planned(progress.plan.cooling(config.lr_schedule, progress.step,
                                               config.patience))
        if self.workers.chief:
            self.note(f"validation did not improve for {config.patience} epochs: the learning "
                      f"rate now falls from {self.rate():.3g} to 0 at step "
                      f"{progress.plan.end}, and the run stops there.")

    def _replanned(self, end: int, basis: Basis) -> Plan:
        config, progress = self.config, self.progress
        return progress.plan.replanned(progress.step, end, basis, config.warmup, config.epochs,
                                       config.time_budget, config.max_steps,
                                       constant=config.lr_schedule == "constant")
