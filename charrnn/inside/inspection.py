"""One inspection of a model on a text: the figures of inspect.json and the per-character
view of the report and the page, from one pass of the model's step form (and one of an
untrained twin over the ranked characters, and one of a second model for a comparison)."""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Iterable, Sequence

import mxnet as mx
import numpy as np

from charrnn.errors import CharrnnError
from charrnn.inside import ranking
from charrnn.inside.properties import BUILT_IN, Property, pattern_property
from charrnn.inside.report import inline, write_inspection
from charrnn.inside.trace import STATES, Chunk, StepForm, trace
from charrnn.machine import threads
from charrnn.models import CharModel, initialize
from charrnn.runs import loading
from charrnn.runs.rundir import RunDir
from charrnn.text.corpus import CharVocab

SHOW = 2000            # characters the report and the page colour, one by one
RANKED = 40_000        # characters whose every activation is kept to rank units
CONTEXTS = 10          # contexts per unit and direction
CANDIDATES = 60        # kept per unit and direction, from which CONTEXTS apart are chosen
APART = 20             # characters between the positions of two contexts of one unit
BEFORE, AFTER = 30, 10  # characters of a context before and after its position
BEST = 10              # units listed per property
LOW, HIGH = 0.1, 0.9   # a gate below LOW is left-saturated, above HIGH right-saturated


@dataclasses.dataclass(frozen=True)
class Unit:
    layer: int  # from 1
    state: str
    unit: int   # from 0

    @property
    def key(self) -> str:
        return f"{self.layer}.{self.state}.{self.unit}"


@dataclasses.dataclass(repr=False)
class Inspection:
    """What `Model.inspect` returns: a notebook shows the report inline (`_repr_html_`),
    `save` writes it as `charrnn inspect` does, `to_json` is what `--json` prints.

    Attributes
    ----------
    figures : dict
        Everything inspect.json holds: bits per character, rankings, saturation, contexts.
    view : dict
        The first `show` characters one by one: surprisal and top 5.
    """

    figures: dict   # inspect.json
    view: dict      # the first SHOW characters, one by one
    shown_activations: dict[str, np.ndarray]  # state key "1.c" -> (shown, units)
    title: str = "Inside"
    units: Sequence[Unit] = ()  # the units whose contexts and activations to_json gives

    @property
    def bpc(self) -> float:
        """The text's mean surprisal in bits per character."""
        return self.figures["bpc"]

    def save(self, out: str | Path) -> list[Path]:
        """index.html and inspect.json (and saturation.png) in `out`, written together."""
        return write_inspection(Path(out), self, self.title)

    def to_json(self) -> dict:
        """The figures, the per-character view, and the chosen units' activations."""
        return for_units(self, self.units)

    def __repr__(self) -> str:  # the figures would be megabytes of text
        return (f"<charrnn.Inspection {self.title}: {self.bpc:.3f} bits/char over "
                f"{self.figures['text_chars']:,} characters>")

    def _repr_html_(self) -> str:
        return inline(self, self.title)


def parse_units(specs: Iterable[str], form: StepForm) -> list[Unit]:
    """`LAYER.STATE.UNIT` (1.c.42: layer 1's cell state, unit 42), checked against the model."""
    sizes = {(layer, name): size for layer, name, size in form.layout if name in STATES}
    names = ", ".join(f"{layer}.{name}.0-{size - 1}" for (layer, name), size in sizes.items())
    units = []
    for spec in specs:
        parts = str(spec).split(".")
        try:
            unit = Unit(int(parts[0]), parts[1], int(parts[2]))
        except (IndexError, ValueError):
            unit = None
        if unit is None or len(parts) != 3 or not 0 <= unit.unit < sizes.get(
                (unit.layer, unit.state), 0):
            raise CharrnnError(f"unit {spec!r} is not one of this model's: write LAYER.STATE.UNIT "
                               f"within {names}.")
        units.append(unit)
    return units


def known_text(text: str, vocabs: Sequence[CharVocab], strict: bool) -> tuple[str, list[str]]:
    """The text without the characters a model lacks, and those characters; refused when
    nothing is left to score, or with `strict` when any is missing."""
    missing = list(dict.fromkeys(c for v in vocabs for c in v.unknown(text)))
    if missing and (strict or len(vocabs) > 1):
        which = "the models' vocabularies" if len(vocabs) > 1 else "the model's vocabulary"
        raise CharrnnError(f"the text has {len(missing)} characters outside {which} "
                           f"({', '.join(map(repr, missing[:10]))}): remove them"
                           f"{'' if len(vocabs) > 1 else ', or drop --strict to skip them'}.")
    kept = "".join(c for c in text if c not in set(missing)) if missing else text
    if len(kept) < 2:
        raise CharrnnError("the text has fewer than 2 characters the model knows: give a "
                           "longer text (the first character only sets the context).")
    return kept, missing


@dataclasses.dataclass
class Inspected:
    """A model to inspect: the trained one, its untrained twin and its vocabulary."""

    name: str
    model: StepForm
    untrained: StepForm
    vocab: CharVocab


def inspected(name: str, model: CharModel, vocab: CharVocab, run: RunDir) -> Inspected:
    """A trained model and an untrained twin of its architecture (the baseline of every
    ranking), seeded so that the baseline is the same on every run."""
    model_config, _, _ = run.config()
    untrained = initialize(loading.checked_model(model_config), [mx.cpu()], seed=0)
    return Inspected(name, StepForm(model), StepForm(untrained), vocab)


def inspect(subject: Inspected, text: str, patterns: Sequence[str] = (),
            other: Inspected | None = None, strict: bool = False, show: int = SHOW,
            ranked: int = RANKED) -> Inspection:
    """`subject` on `text`, without the characters it does not know (counted), or both
    models on the characters both know; `ranked` 0: no rankings (one pass, for the page)."""
    kept, missing = known_text(text, [subject.vocab] + ([other.vocab] if other else []), strict)
    inspection = inspect_text(subject.model, subject.untrained if ranked else None,
                              subject.vocab, kept, patterns,
                              (other.model, other.vocab) if other else None, show, ranked)
    inspection.figures = {"run": subject.name, **inspection.figures, "skipped": sum(
        text.count(c) for c in missing), "skipped_chars": missing}
    if other:
        inspection.figures["compare"]["run"] = other.name
    return inspection


def inspect_text(model: StepForm, untrained: StepForm | None, vocab: CharVocab, text: str,
                 patterns: Sequence[str] = (),
                 other: tuple[StepForm, CharVocab] | None = None,
                 show: int = SHOW, ranked: int = RANKED, seed: int = 0) -> Inspection:
    """Everything the report shows of `model` on `text` (every character in `vocab`); without
    `untrained`, no rankings."""
    ids = vocab.encode(text)
    properties = BUILT_IN + [pattern_property(p, text[:ranked]) for p in patterns]
    properties = properties if untrained else []
    labels = {p.name: p.label(text[:ranked]) for p in properties}
    wide = max(size for _, _, size in model.layout) >= 512
    with threads.blas_threads(threads.free_cores() if wide else 1):
        untrained_best = {}
        if untrained:
            untrained_pass = _Pass(ids[:ranked], 0, ranked)
            for chunk in trace(untrained, ids[:ranked]):
                untrained_pass.add(chunk)
            untrained_best = _best_scores(properties, labels, untrained_pass.take_window()[0])
        passed = _Pass(ids, show, ranked)
        for chunk in trace(model, ids):
            passed.add(chunk)
        other_bits = _bits(other[0], other[1].encode(text)) if other else None
    figures = {
        "text_chars": len(ids), "bpc": float(np.nanmean(passed.bits)),
        "ranked_chars": min(len(ids), ranked),
        "units": [{"layer": layer, "state": name, "size": size}
                  for layer, name, size in model.layout if name in STATES],
        "properties": _rankings(properties, labels, *passed.take_window(), untrained_best,
                                seed),
        "saturation": passed.saturation(),
        "contexts": passed.contexts(text),
    }
    view = {"text": text[:show], "bits": _rounded(passed.bits[:show]),
            "top": passed.top(vocab)}
    if other_bits is not None:
        figures["compare"] = {"bpc": float(np.nanmean(other_bits)),
                              "gain_bits": float(np.nansum(other_bits - passed.bits))}
        view["other_bits"] = _rounded(other_bits[:show])
    return Inspection(figures, view, passed.shown)


def _bits(model: StepForm, ids: np.ndarray) -> np.ndarray:
    """Each character's surprisal (nan for the first, which nothing predicts)."""
    following = np.concatenate([chunk.bits for chunk in trace(model, ids)])
    return np.concatenate([[np.nan], following[:-1]])


def _rounded(values: np.ndarray) -> list:
    return [None if np.isnan(v) else round(float(v), 4) for v in values]


class _Pass:
    """What one trace leaves: every surprisal, the shown characters' guesses and states, the
    ranked characters' states, each unit's extremes and each gate's saturation counts."""

    def __init__(self, ids: np.ndarray, show: int, ranked: int):
        self.ids, self.show, self.ranked = ids, min(show, len(ids)), min(ranked, len(ids))
        self.bits = np.full(len(ids), np.nan)
        self.guesses: list[tuple[np.ndarray, np.ndarray]] = []
        self.shown_parts: dict[str, list[np.ndarray]] = {}
        self.window: dict[tuple[int, str], np.ndarray] = {}  # views of one array per layer
        self.layers: dict[int, np.ndarray] = {}
        self.extremes: dict[tuple[int, str], _Extremes] = {}
        self.saturated: dict[tuple[int, str], np.ndarray] = {}

    def add(self, chunk: Chunk) -> None:
        start, count = chunk.start, len(chunk.bits)
        self.bits[start + 1:start + 1 + count] = chunk.bits[:len(self.bits) - start - 1]
        if start < self.show:
            self.guesses.append((chunk.top_ids[:self.show - start],
                                 chunk.top_p[:self.show - start]))
        for (layer, name), values in chunk.activations.items():
            if name not in STATES:
                counts = self.saturated.setdefault((layer, name), np.zeros((2, values.shape[1])))
                counts += [(values < LOW).sum(axis=0), (values > HIGH).sum(axis=0)]
                continue
            if start < self.show:
                self.shown_parts.setdefault(f"{layer}.{name}", []).append(
                    values[:self.show - start])
            if start < self.ranked:
                self._window_of(layer, name, chunk)[start:start + count] = values[
                    :self.ranked - start]
            self.extremes.setdefault((layer, name), _Extremes(values.shape[1])).add(start, values)

    def _window_of(self, layer: int, name: str, chunk: Chunk) -> np.ndarray:
        """The ranked characters' states, one float32 array per layer (its states side by
        side: the probe's features), allocated once: no copy ever doubles it."""
        if (layer, name) not in self.window:
            names = [(n, v.shape[1]) for (l_, n), v in chunk.activations.items()
                     if l_ == layer and n in STATES]
            self.layers[layer] = np.zeros((self.ranked, sum(size for _, size in names)),
                                          dtype=np.float32)
            offset = 0
            for state, size in names:
                self.window[layer, state] = self.layers[layer][:, offset:offset + size]
                offset += size
        return self.window[layer, name]

    def take_window(self) -> tuple[dict[tuple[int, str], np.ndarray], dict[int, np.ndarray]]:
        """The ranked characters' states, by state and by layer, handed over once."""
        window, layers = self.window, self.layers
        self.window, self.layers = {}, {}
        return window, layers

    @property
    def shown(self) -> dict[str, np.ndarray]:
        return {key: np.concatenate(parts) for key, parts in self.shown_parts.items()}

    def top(self, vocab: CharVocab) -> list:
        """Per shown character, the model's TOP guesses for it (none for the first)."""
        if not self.guesses:
            return []
        top_ids = np.concatenate([ids for ids, _ in self.guesses])
        top_p = np.concatenate([p for _, p in self.guesses])
        return [None] + [[[vocab.chars[i], round(float(p), 4)] for i, p in zip(row, row_p)]
                         for row, row_p in zip(top_ids[:self.show - 1], top_p)]

    def saturation(self) -> list[dict]:
        characters = len(self.ids)
        return [{"layer": layer, "gate": name, "left": _rounded(counts[0] / characters),
                 "right": _rounded(counts[1] / characters)}
                for (layer, name), counts in self.saturated.items()]

    def contexts(self, text: str) -> dict[str, dict[str, list]]:
        return {f"{layer}.{name}.{unit}": {direction: [_context(text, int(p), float(v))
                                                      for v, p in _apart(values[unit],
                                                                         where[unit])]
                                          for direction, (values, where) in extremes.items()}
                for (layer, name), found in self.extremes.items()
                for extremes in [found.directions()] for unit in range(found.units)}


def _apart(values: np.ndarray, where: np.ndarray) -> list[tuple[float, int]]:
    """The CONTEXTS largest values at least APART characters from each other's positions: a
    unit high for a whole phrase would otherwise give one context shifted ten times."""
    chosen: list[tuple[float, int]] = []
    for value, position in zip(values, where):
        if all(abs(position - other) >= APART for _, other in chosen):
            chosen.append((value, position))
        if len(chosen) == CONTEXTS:
            break
    return chosen


class _Extremes:
    """Each unit's CANDIDATES highest and lowest values and their positions, kept as chunks pass
    (as rows of (units, CONTEXTS): selecting along rows is fast, down columns slow)."""

    def __init__(self, units: int):
        self.units = units
        self.high = (np.zeros((units, 0)), np.zeros((units, 0), dtype=np.int64))
        self.low = (np.zeros((units, 0)), np.zeros((units, 0), dtype=np.int64))

    def add(self, start: int, values: np.ndarray) -> None:
        rows = np.ascontiguousarray(values.T)
        where = np.broadcast_to(np.arange(start, start + len(values)), rows.shape)
        self.high = _best(self.high, rows, where)
        self.low = _best(self.low, -rows, where)

    def directions(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        return {"positive": self.high, "negative": (-self.low[0], self.low[1])}


def _best(kept: tuple[np.ndarray, np.ndarray], values: np.ndarray, where: np.ndarray):
    """The CANDIDATES largest of kept and new values per row, largest first."""
    candidates = np.hstack([kept[0], values]), np.hstack([kept[1], where])
    if candidates[0].shape[1] > CANDIDATES:
        chosen = np.argpartition(-candidates[0], CANDIDATES - 1, axis=1)[:, :CANDIDATES]
        candidates = tuple(np.take_along_axis(c, chosen, axis=1) for c in candidates)
    order = np.argsort(-candidates[0], axis=1, kind="stable")
    return tuple(np.take_along_axis(c, order, axis=1) for c in candidates)


def _context(text: str, position: int, value: float) -> dict:
    start = max(0, position - BEFORE)
    return {"text": text[start:position + AFTER], "at": position - start,
            "value": round(value, 4)}


def _best_scores(properties: Sequence[Property], labels: dict[str, np.ndarray],
                 window: dict[tuple[int, str], np.ndarray]) -> dict[str, float]:
    """Each property's best score over all units of `window` (the untrained baseline)."""
    best = {p.name: 0.0 for p in properties}
    for values in window.values():
        unit_ranks = ranking.ranks(values)
        for prop in properties:
            best[prop.name] = max(best[prop.name], np.nanmax(ranking.scores(
                prop.kind, labels[prop.name], values, unit_ranks), initial=0))
    return best


def _rankings(properties: Sequence[Property], labels: dict[str, np.ndarray],
              trained: dict[tuple[int, str], np.ndarray], layers: dict[int, np.ndarray],
              untrained_best: dict[str, float], seed: int) -> list[dict]:
    """Each property's best units, with the best score for block-permuted labels and for an
    untrained model, and the best layer's linear probe. The ranks of one state at a time are
    kept (those of a 2 x 512 LSTM's four states over 40,000 characters would take 330 MB)."""
    rng = np.random.default_rng(seed)
    permuted = {p.name: ranking.permuted_in_blocks(labels[p.name], rng) for p in properties}
    scored = {p.name: [] for p in properties}
    permuted_best = {p.name: 0.0 for p in properties}
    for key, values in trained.items():
        unit_ranks = ranking.ranks(values)
        for prop in properties:
            scored[prop.name].append((key, ranking.scores(prop.kind, labels[prop.name], values,
                                                          unit_ranks)))
            permuted_best[prop.name] = max(permuted_best[prop.name], np.nanmax(ranking.scores(
                prop.kind, permuted[prop.name], values, unit_ranks), initial=0))
    if not properties:
        return []
    label_matrix = np.stack([labels[p.name] for p in properties], axis=1)
    per_layer = [ranking.probes([p.kind for p in properties], label_matrix, features)
                 for features in layers.values()]
    return [_ranked(prop, labels[prop.name], scored[prop.name], permuted_best[prop.name],
                    untrained_best[prop.name],
                    max(({**found[i], "layer": layer} for layer, found in zip(layers, per_layer)),
                        key=lambda probe: (probe["score"], probe.get("auroc", 0))))
            for i, prop in enumerate(properties)]


def _ranked(prop: Property, labels: np.ndarray, scored: list, permuted_best: float,
            untrained_best: float, probe: dict) -> dict:
    result = {"name": prop.name, "kind": prop.kind, "positives": round(float(np.mean(labels)), 4)}
    flat = [(float(score), layer, name, unit) for (layer, name), scores in scored
            for unit, score in enumerate(scores) if not np.isnan(score)]
    if not flat:  # the property never changes in this text: nothing to rank
        return {**result, "best": [], "baseline_permuted": None, "baseline_untrained": None,
                "probe": None}
    flat.sort(key=lambda item: -item[0])
    return {**result,
            "best": [{"layer": layer, "state": name, "unit": unit, "score": round(score, 4)}
                     for score, layer, name, unit in flat[:BEST]],
            "baseline_permuted": round(float(permuted_best), 4),
            "baseline_untrained": round(float(untrained_best), 4),
            "probe": {key: round(value, 4) if isinstance(value, float) else value
                      for key, value in probe.items()}}


def for_units(found: Inspection, units: Sequence[Unit]) -> dict:
    """The figures with the per-character view, and only `units`' contexts and activations
    (all of a large model's would be megabytes): what `--json` prints and the API answers."""
    figures = {key: value for key, value in found.figures.items() if key != "contexts"}
    return {**figures, "view": found.view,
            "contexts": {u.key: found.figures["contexts"][u.key] for u in units},
            "activations": {u.key: _rounded(found.shown_activations[f"{u.layer}.{u.state}"]
                                            [:, u.unit]) for u in units}}
