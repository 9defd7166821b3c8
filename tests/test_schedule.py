"""The learning rate's schedule: it warms up, decays and reaches zero where the run is planned to
end (its epochs or its time budget), follows the plan saved in state.json when resumed, and
plans again, saying so, when given new limits. Real MXNet, real run directories."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import charrnn
from charrnn.training import schedule
from charrnn.training.schedule import Plan

from .conftest import PANGRAM, last_weights

TINY = {"hidden": 32, "embed": 16, "batch_size": 4, "seq_len": 20, "sample_length": 0,
        "verbose": False, "warmup": 5}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("schedule") / "tiny.txt"
    path.write_text(PANGRAM * 200, encoding="utf-8")
    return path


def rows(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def state(run: Path) -> dict:
    return json.loads((run / "state.json").read_text())


@pytest.mark.parametrize("shape", ["linear", "cosine", "cooldown"])
def test_each_shape_warms_up_then_falls_to_zero_at_the_plans_end(shape):
    plan = Plan().replanned(0, 110, "epochs", warmup=10, epochs=2, time_budget=0)
    factors = [plan.factor(shape, step) for step in range(111)]
    assert factors[0] == pytest.approx(0.1) and factors[9] == pytest.approx(1.0)
    assert factors[10] == pytest.approx(1.0) and factors[110] == 0.0
    assert all(a >= b for a, b in zip(factors[10:], factors[11:]))
    halfway = {"linear": 0.5, "cosine": 0.5, "cooldown": 1.0}[shape]
    assert factors[60] == pytest.approx(halfway)
    assert Plan().factor("constant", 5) == 1.0 == plan.factor("constant", 200)


def test_a_warm_up_takes_at_most_a_tenth_of_the_plan_and_is_cut_when_the_plan_shrinks():
    short = Plan().replanned(0, 150, "epochs", warmup=200, epochs=1, time_budget=0)
    assert short.warmup == 15 and short.factor("cooldown", 14) == pytest.approx(1.0)
    long = Plan().replanned(0, 5000, "epochs", warmup=200, epochs=30, time_budget=0)
    cut = long.replanned(40, 170, "time budget", warmup=200, epochs=30, time_budget=20)
    assert cut.warmup == 40 and cut.factor("cooldown", 40) == pytest.approx(1.0)
    assert cut.factor("cooldown", 170) == 0.0


def test_a_new_plan_starts_where_the_old_one_stands_and_restarts_once_complete():
    plan = Plan().replanned(0, 100, "epochs", warmup=0, epochs=1, time_budget=0)
    longer = plan.replanned(40, 200, "time budget", warmup=0, epochs=1, time_budget=60)
    assert longer.factor("linear", 40) == pytest.approx(plan.factor("linear", 40))
    assert longer.factor("linear", 200) == 0.0 and longer.factor("linear", 120) > 0
    again = plan.replanned(100, 300, "epochs", warmup=10, epochs=2, time_budget=0)
    assert again.factor("linear", 100) == pytest.approx(0.1)  # a new warm-up
    assert again.factor("linear", 110) == pytest.approx(1.0)
    assert again.factor("linear", 300) == 0.0


def test_patience_that_runs_out_cools_a_held_rate_down_and_hastens_a_falling_one():
    plan = Plan().replanned(0, 1000, "epochs", warmup=0, epochs=10, time_budget=0)
    held = plan.cooling("cooldown", 300, patience=3)
    end = 300 + round(300 * schedule.PATIENCE_COOLDOWN)
    assert (held.end, held.basis, held.patience) == (end, "patience", 3)
    assert held.factor("cooldown", 300) == 1.0 > held.factor("cooldown", 301)
    assert held.factor("cooldown", end) == 0.0
    falling = plan.cooling("linear", 300, patience=3)
    assert falling.factor("linear", 300) == pytest.approx(plan.factor("linear", 300))
    assert falling.factor("linear", end) == 0.0
    assert plan.cooling("linear", 900, patience=3).end == 1000  # never past the plan's end


def test_an_early_stop_under_a_decaying_schedule_ends_annealed_and_stays_stopped(
        corpus, tmp_path, capsys):
    # lr 0.3 overshoots: validation stops improving, patience runs out, the rate cools down.
    run = charrnn.train(corpus, tmp_path / "run", lr=0.3, patience=2, epochs=60,
                        **{**TINY, "batch_size": 16, "verbose": True})
    assert "validation did not improve for 2 epochs: the learning rate now falls" in \
        capsys.readouterr().out
    plan, last = state(run.path)["plan"], rows(run.path)[-1]
    assert run.stop_reason.endswith("and the rate cooled down to 0"), run.stop_reason
    assert plan["basis"] == "patience" and last["step"] == plan["end"] and last["lr"] == 0.0
    assert last["epoch"] < 60
    stopped = rows(run.path)
    assert charrnn.train(resume=run.path, verbose=False).stop_reason == "finished"
    assert rows(run.path) == stopped
    charrnn.train(resume=run.path, patience=4, verbose=False)  # more patience plans again
    assert rows(run.path)[len(stopped)]["lr"] > 0


def test_a_run_of_epochs_ends_with_the_rate_at_zero(corpus, tmp_path):
    run = charrnn.train(corpus, tmp_path / "run", epochs=3, lr_schedule="linear", **TINY)
    lrs = [row["lr"] for row in rows(run.path)]
    assert lrs[0] > lrs[1] > lrs[2] == 0.0
    assert rows(run.path)[-1]["planned_end"] == run.summary.last["step"]
    assert state(run.path)["plan"]["basis"] == "epochs"


def test_more_epochs_on_resume_plan_again_and_say_so(corpus, tmp_path, capsys):
    run = charrnn.train(corpus, tmp_path / "run", epochs=2, lr_schedule="linear", **TINY)
    end = state(run.path)["plan"]["end"]
    charrnn.train(resume=run.path, epochs=3, verbose=True)
    assert "new limits (--epochs 3" in capsys.readouterr().out
    last = rows(run.path)
    assert last[-1]["lr"] == 0.0 and last[-1]["planned_end"] > end


def test_a_budgeted_run_resumed_follows_the_plan_recorded_in_its_checkpoint(
        corpus, tmp_path, monkeypatch):
    """The plan is fixed once made (no re-planning on pace), then a run stopped at step 80
    and resumed twice ends with the weights of one resumed once."""
    monkeypatch.setattr(schedule, "REPLAN_TOLERANCE", float("inf"))
    settings = {**TINY, "lr_schedule": "linear", "epochs": 10**6, "time_budget": 60,
                "dropout": 0.3}
    first = charrnn.train(corpus, tmp_path / "once", stop_at_step=80, **settings).path
    plan = state(first)["plan"]
    assert plan["basis"] == "time budget" and plan["end"] > 160, plan
    twice = tmp_path / "twice"
    shutil.copytree(first, twice)
    charrnn.train(resume=first, stop_at_step=160, verbose=False)
    charrnn.train(resume=twice, stop_at_step=120, verbose=False)
    charrnn.train(resume=twice, stop_at_step=160, verbose=False)
    assert state(first)["plan"] == state(twice)["plan"] == plan
    once, resumed = last_weights(first), last_weights(twice)
    assert once.keys() == resumed.keys()
    assert max(float(np.abs(once[k] - resumed[k]).max()) for k in once) < 1e-5
    assert rows(first)[-1]["lr"] < rows(first)[0]["lr"]  # on its way down, not constant


def test_a_budgeted_run_plans_its_end_and_ends_annealed_within_the_budget(corpus, tmp_path):
    run = charrnn.train(corpus, tmp_path / "run", lr_schedule="linear", epochs=10**6,
                        time_budget=8, log_interval=5, **TINY)
    plan, last = state(run.path)["plan"], rows(run.path)[-1]
    assert plan["basis"] == "time budget" and run.stop_reason.startswith("used the time budget")
    assert last["lr"] < 0.05 * run.summary.training.lr
    assert last["elapsed"] <= 8 + 2  # the last validation may run past by its own length


def test_max_steps_is_a_planned_end_that_a_resume_plans_again(corpus, tmp_path, capsys):
    """nanoGPT's max_iters: the run ends annealed at --max-steps, whichever limit comes
    first; more --max-steps on resume makes a new plan, as more --epochs does."""
    run = charrnn.train(corpus, tmp_path / "run", max_steps=60, log_interval=5, **TINY)
    plan, last = state(run.path)["plan"], rows(run.path)[-1]
    assert plan["basis"] == "max steps" and plan["end"] == 60 == last["step"]
    assert run.stop_reason == "reached --max-steps 60"
    assert last["lr"] <= 0.1 * run.summary.training.lr
    charrnn.train(resume=run.path, max_steps=90, verbose=True)
    assert "new limits (--epochs 30, --max-steps 90" in capsys.readouterr().out
    assert state(run.path)["plan"]["end"] == 90 and rows(run.path)[-1]["step"] == 90


def test_stop_at_step_pauses_without_a_plan_and_a_resume_goes_past_it(corpus, tmp_path):
    run = charrnn.train(corpus, tmp_path / "run", stop_at_step=10, epochs=1, **TINY)
    assert run.stop_reason == "stopped at step 10 (--stop-at-step)"
    assert state(run.path)["plan"]["basis"] == "epochs"
    resumed = charrnn.train(resume=run.path, verbose=False)
    assert resumed.stop_reason == "completed 1 epochs" and rows(run.path)[-1]["lr"] == 0.0
