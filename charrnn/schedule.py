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

SHAPES = ("linear", "cosine", "cooldown", "constant")
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
