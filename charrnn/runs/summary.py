"""What a run is and how far it got, read from its directory: the one summary that `info`,
the last line of `train`, serve's /model and `compare` show."""
from __future__ import annotations

from dataclasses import dataclass
from statistics import mean
from typing import Any

from charrnn.config import ModelConfig, TrainConfig
from charrnn.runs.rundir import EVALUATION, RunDir


@dataclass(frozen=True)
class Summary:
    model: ModelConfig
    training: TrainConfig
    corpus: dict[str, Any]
    parameters: int
    metrics: list[dict[str, Any]]  # one row per evaluation, as metrics.jsonl holds them
    evaluations: dict[str, dict[str, Any]]  # recorded scores by split (`evaluate --record`)

    @property
    def best(self) -> dict[str, Any] | None:
        """The evaluation row with the lowest validation bits/char (the weights kept)."""
        return min(self.metrics, key=lambda row: row["val_bpc"]) if self.metrics else None

    @property
    def best_val_bpc(self) -> float | None:
        return self.best["val_bpc"] if self.best else None

    @property
    def last(self) -> dict[str, Any] | None:
        return self.metrics[-1] if self.metrics else None

    @property
    def mean_chars_per_s(self) -> float | None:
        return mean(row["chars_per_s"] for row in self.metrics) if self.metrics else None

    def test_bpc(self) -> float | None:
        return self.evaluations.get("test", {}).get("bpc")


def summarize(run: RunDir, parameters: int) -> Summary:
    """`parameters`: the model's count (the caller has the model; the store has no MXNet
    model of its own)."""
    model, training, corpus = run.config()
    evaluations = run.read_json(EVALUATION) if run.has(EVALUATION) else {}
    return Summary(model, training, corpus, parameters, run.metrics(), evaluations)
