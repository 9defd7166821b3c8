"""Where a run stands and what follows from it: Progress's decisions, in pure Python."""
from __future__ import annotations

import pytest

from charrnn.config import TrainConfig
from charrnn.errors import CharrnnError
from charrnn.training.progress import INTERRUPTED, Progress


def test_steps_windows_and_epochs_are_counted():
    progress = Progress(lr=0.1)
    for _ in range(3):
        progress.took_step()
    assert (progress.step, progress.window, progress.epoch) == (3, 3, 0)
    assert not progress.end_epoch(windows_per_epoch=4)
    progress.took_step()
    assert progress.end_epoch(windows_per_epoch=4)
    assert (progress.step, progress.window, progress.epoch) == (4, 0, 1)


def test_the_training_loss_is_the_mean_of_the_windows_read_back():
    progress = Progress()
    progress.read_losses(total=6.0, windows=3)
    progress.read_losses(total=2.0, windows=1)
    assert progress.mean_train_loss() == 2.0
    progress.restart_train_loss()
    assert progress.mean_train_loss() == 0.0


def test_a_scheduled_evaluation_keeps_the_best_or_counts_patience_and_decays():
    progress = Progress(lr=1.0)
    assert progress.improves(2.0)
    progress.keep_score(2.0, lr_decay=0.5)
    assert progress.best_val_loss == 2.0 and progress.bad_epochs == 0 and progress.lr == 1.0
    assert not progress.improves(2.5)
    progress.keep_score(2.5, lr_decay=0.5)
    assert progress.best_val_loss == 2.0 and progress.bad_epochs == 1 and progress.lr == 0.5
    assert progress.improves(1.5)
    progress.keep_score(1.5, lr_decay=0.5)
    assert progress.best_val_loss == 1.5 and progress.bad_epochs == 0 and progress.lr == 0.5


def test_asking_whether_a_score_improves_changes_nothing():
    progress = Progress(lr=1.0, best_val_loss=2.0, bad_epochs=1)
    before = progress.as_dict()
    assert progress.improves(1.0) and not progress.improves(3.0)
    assert progress.as_dict() == before


def test_a_decay_and_a_new_rate():
    progress = Progress(lr=0.8, bad_epochs=2)
    progress.decay(0.25)
    assert progress.lr == 0.2 and progress.bad_epochs == 2
    progress.new_learning_rate(0.01)
    assert progress.lr == 0.01 and progress.bad_epochs == 0


def test_the_first_reason_to_stop_is_kept_and_a_resume_clears_it():
    progress = Progress()
    progress.stop("")
    assert progress.stop_reason == ""
    progress.stop(INTERRUPTED)
    progress.stop("completed 3 epochs")
    assert progress.stop_reason == INTERRUPTED
    progress.resumed()
    assert progress.stop_reason == ""


def test_rows_samples_and_time_are_recorded_for_resume():
    progress = Progress()
    progress.wrote_row()
    progress.wrote_row()
    progress.wrote_sample()
    progress.timed(12.5)
    assert (progress.rows, progress.samples, progress.elapsed) == (2, 1, 12.5)


@pytest.mark.parametrize("standing, config, reason", [
    ({"step": 10}, {"max_steps": 10}, "reached --max-steps 10"),
    ({"step": 9}, {"max_steps": 10}, ""),
    ({"elapsed": 61.0}, {"time_budget": 60.0}, "used the time budget of 60 s"),
    ({"elapsed": 59.0}, {"time_budget": 60.0}, ""),
    ({"epoch": 3}, {"epochs": 3}, "completed 3 epochs"),
    ({"bad_epochs": 2}, {"patience": 2},
     "stopped early: validation did not improve for 2 epochs"),
    ({}, {}, ""),
])
def test_limits_name_the_limit_reached(standing, config, reason):
    progress = Progress(**standing)
    assert progress.limit_reached(TrainConfig(**{"epochs": 5, **config})) == reason


def test_a_state_that_is_not_an_object_is_refused_and_unknown_fields_are_ignored():
    with pytest.raises(CharrnnError, match=r"state\.json is damaged"):
        Progress.from_dict([1, 2], "state.json")
    restored = Progress.from_dict({**Progress(step=4, lr=0.5).as_dict(), "unknown": 1}, "s")
    assert restored == Progress(step=4, lr=0.5)
