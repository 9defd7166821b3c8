"""Scores of units against a property of each position, and the baselines that say what a
score is worth: AUROC (max(a, 1 - a)) for binary properties, |Pearson r| for counts; the
same for labels permuted in blocks; a linear probe on all units of a layer."""
from __future__ import annotations

import numpy as np

from charrnn.inside.properties import BINARY

BLOCK = 200  # characters per block of the permuted-labels baseline


def ranks(activations: np.ndarray, block: int = 64) -> np.ndarray:
    """Each column's values replaced by their ranks from 1, ties by their mean rank (a ReLU
    unit is 0 at many positions). In blocks of columns: ranking takes ~60 bytes per value."""
    result = np.empty(activations.shape, dtype=np.float32)  # exact to 2^24 positions
    for start in range(0, activations.shape[1], block):
        result[:, start:start + block] = _ranks(activations[:, start:start + block])
    return result


def _ranks(activations: np.ndarray) -> np.ndarray:
    """Sorted as rows: 3x faster than down strided columns."""
    count, units = activations.shape
    rows = np.ascontiguousarray(activations.T)
    order = np.argsort(rows, axis=1)
    ordered = np.take_along_axis(rows, order, axis=1)
    starts = np.ones((units, count), dtype=bool)
    starts[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
    starts = starts.ravel()                       # row by row: runs of equal values
    first = np.flatnonzero(starts)
    run_lengths = np.diff(np.append(first, count * units))
    mean_rank = (first % count + 1 + (run_lengths - 1) / 2).astype(np.float32)
    result = np.empty((units, count), dtype=np.float32)
    np.put_along_axis(result, order, mean_rank[np.cumsum(starts) - 1].reshape(units, count),
                      axis=1)
    return result.T


def scores(kind: str, labels: np.ndarray, activations: np.ndarray,
           unit_ranks: np.ndarray | None = None) -> np.ndarray:
    """One score per unit (column) of `activations`, in [0.5, 1] for binary labels (AUROC,
    either direction) and [0, 1] for counts (|r|); nan where the labels do not vary."""
    labels = np.asarray(labels, dtype=np.float64)
    if kind == BINARY:
        area = auroc(labels, activations, unit_ranks)
        return np.maximum(area, 1 - area)
    centred = labels - labels.mean()
    if not centred.any():
        return np.full(activations.shape[1], np.nan)
    values = activations - activations.mean(axis=0)
    spread = np.sqrt((values ** 2).sum(axis=0) * (centred ** 2).sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.nan_to_num(np.abs(centred @ values) / spread)


def auroc(labels: np.ndarray, activations: np.ndarray,
          unit_ranks: np.ndarray | None = None) -> np.ndarray:
    """Per column, the chance that a positive position's value exceeds a negative one's
    (Mann-Whitney, ties counting a half); nan where the labels do not vary."""
    labels = np.asarray(labels, dtype=np.float64)
    positives = labels.sum()
    negatives = len(labels) - positives
    if not positives or not negatives:
        return np.full(activations.shape[1], np.nan)
    unit_ranks = ranks(activations) if unit_ranks is None else unit_ranks
    return (labels @ unit_ranks - positives * (positives + 1) / 2) / (positives * negatives)


def permuted_in_blocks(labels: np.ndarray, rng: np.random.Generator,
                       block: int = BLOCK) -> np.ndarray:
    """The labels with blocks of `block` positions shuffled: each block keeps its own runs
    (a quotation stays whole), so a unit that merely varies slowly scores as well here."""
    starts = np.arange(0, len(labels), block)
    return np.concatenate([labels[s:s + block] for s in rng.permutation(starts)])


RIDGES = (1e-3, 1e-2, 1e-1, 1.0, 10.0)  # per position, against features of unit scale


def probes(kinds: list[str], labels: np.ndarray, features: np.ndarray) -> list[dict]:
    """Ridge least-squares probes on all units of a layer, one per column of `labels`, fitted
    on the first half of the text and scored on the second, against the best constant answer
    from the first half. Binary: the share of positions right (over 0.5 or not), against the
    majority class (and, as accuracy says little when 2 % of positions are positive, the
    AUROC of its output, against 0.5); counts: R^2, against the first half's mean (near 0).
    Each probe's ridge is the one of RIDGES that scores best on the last quarter of the first
    half when fitted on the rest of it: 1,024 units fitted to 15,000 characters overfit
    without one."""
    labels = np.asarray(labels, dtype=np.float64)
    half = len(labels) // 2
    fit = half * 3 // 4
    trial = _Ridge(features[:fit], labels[:fit])
    held_out = {ridge: trial.predict(ridge, features[fit:half]) for ridge in RIDGES}
    chosen = [max(RIDGES, key=lambda ridge: _score(kind, labels[fit:half, column],
                                                   held_out[ridge][:, column]))
              for column, kind in enumerate(kinds)]
    final = _Ridge(features[:half], labels[:half])
    predicted = {ridge: final.predict(ridge, features[half:]) for ridge in set(chosen)}
    results = []
    for column, kind in enumerate(kinds):
        truth, first = labels[half:, column], labels[:half, column]
        constant = float(first.mean() >= 0.5) if kind == BINARY else first.mean()
        guess = predicted[chosen[column]][:, column]
        results.append({"score": _score(kind, truth, guess),
                        "majority": _score(kind, truth, np.full(len(truth), constant)),
                        "ridge": chosen[column]})
        if kind == BINARY:
            results[-1]["auroc"] = float(auroc(truth, guess[:, None].astype(np.float32))[0])
    return results


class _Ridge:
    """Ridge regressions of labels (columns) on features, for any ridge: one Gram matrix."""

    def __init__(self, features: np.ndarray, labels: np.ndarray):
        self.mean, self.label_mean = features.mean(axis=0), labels.mean(axis=0)
        centred = features - self.mean
        self.gram = (centred.T @ centred).astype(np.float64)  # float32 products: no copies
        self.moment = (centred.T @ (labels - self.label_mean).astype(np.float32)).astype(
            np.float64)
        self.count = len(features)

    def predict(self, ridge: float, features: np.ndarray) -> np.ndarray:
        gram = self.gram + ridge * self.count * np.eye(len(self.gram))
        return (features - self.mean) @ np.linalg.solve(gram, self.moment) + self.label_mean


def _score(kind: str, truth: np.ndarray, predicted: np.ndarray) -> float:
    if kind == BINARY:
        return float(((predicted > 0.5) == truth).mean())
    total = ((truth - truth.mean()) ** 2).sum() or 1.0
    return float(1 - ((truth - predicted) ** 2).sum() / total)
