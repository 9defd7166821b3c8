"""charrnn/runs/summary.py: the one summary of a run, as info, train, serve and compare show it."""
import json

from charrnn.models import count_parameters
from charrnn.runs.loading import open_run
from charrnn.runs.rundir import RunDir
from charrnn.runs.summary import summarize

from .conftest import invoke


def test_the_summary_holds_the_best_evaluation_and_what_was_recorded(trained_run):
    rows = [json.loads(line) for line in (trained_run / "metrics.jsonl").read_text().splitlines()]
    model, _, run = open_run(trained_run)
    summary = summarize(run, count_parameters(model))
    assert summary.best_val_bpc == min(row["val_bpc"] for row in rows)
    assert summary.best["epoch"] == min(rows, key=lambda row: row["val_bpc"])["epoch"]
    assert summary.last == rows[-1] and summary.parameters == count_parameters(model)
    assert summary.test_bpc() is None
    assert invoke("evaluate", str(trained_run), "--split", "test", "--record").exit_code == 0
    recorded = summarize(RunDir.open(trained_run), summary.parameters)
    assert recorded.test_bpc() == recorded.evaluations["test"]["bpc"]


def test_info_shows_the_summary(trained_run):
    model, _, run = open_run(trained_run)
    summary = summarize(run, count_parameters(model))
    shown = invoke("info", str(trained_run)).output
    assert f"validation {summary.best_val_bpc:.4f} bits/char at epoch {summary.best['epoch']}" \
        in shown
    assert f"parameters  {summary.parameters:,}" in shown
