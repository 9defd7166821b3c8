"""Continuous batching: every request in flight is one row of a single batch, stepped together.

One step of a small model costs about as much for 32 rows as for one (66,000 against 10,000
characters a second here), and several generations stepping on their own make NumPy's BLAS
threads fight over the cores. So one thread owns the model's step form (models/base.py) and
loops: admit new requests as rows, choose each row's next input, step all rows at once, hand
each row its character, drop the rows that are done. A row first reads its seed, one
character per step beside the others' sampling (its "prefill"), so a long seed delays nobody;
then it samples with its own temperature, top-k, top-p and random generator.

The state after each seed is kept (a few hundred, least recently used first out): the page's
keyboard asks again after every keystroke with one character more, and its *Continue* sends
the text it just asked about, so a row usually starts from a kept state and reads one
character, or none, instead of the whole text.
"""
from __future__ import annotations

import dataclasses
import queue
import threading
import time
from collections import OrderedDict
from typing import Callable, List, Tuple

import numpy as np

from charrnn.errors import CharrnnError
from charrnn.machine import threads
from charrnn.models import CharModel, Stepper
from charrnn.models.constraints import Guide
from charrnn.models.generation import UNSCALED, choose
from charrnn.text.corpus import CharVocab


@dataclasses.dataclass(frozen=True)
class Sampling:
    temperature: float = UNSCALED
    top_k: int = 0
    top_p: float = 1.0
    greedy: bool = False


@dataclasses.dataclass(eq=False)
class Job:
    """One request: `length` characters after `seed_ids`, or with length 0 the probabilities
    of the next character. `emit(event, value)` is called from the batcher's thread:
    ("char", c) for each character when `stream`, then ("text", (text, seconds)) or
    ("next", probabilities), or ("error", message), or ("refused", message) when its
    constraints leave no character. Setting `cancelled` drops the row at the
    next step."""

    seed_ids: np.ndarray
    length: int
    emit: Callable[[str, object], None]
    sampling: Sampling = Sampling()
    random_seed: int | None = None
    stream: bool = False
    cancelled: bool = False
    guide: Guide | None = None  # its constraints, if any: the row ends when they say


# The model's state (batch of one) and logits after reading a seed.
Reading = Tuple[List[np.ndarray], np.ndarray]


class _Row:
    """A job's place in the batch: how much of its seed it has read (starting after the
    longest prefix whose state was kept), what it has chosen."""

    def __init__(self, job: Job, kept: OrderedDict[bytes, Reading]):
        self.job = job
        self.rng = np.random.default_rng(job.random_seed)
        self.start: Reading | None = None
        self.read = 0
        seed = np.asarray(job.seed_ids, np.int64)
        for length in range(len(seed), max(len(seed) - KEPT_LOOKBACK, 0), -1):
            self.start = kept.get(seed[:length].tobytes())
            if self.start is not None:
                kept.move_to_end(seed[:length].tobytes())
                self.read = length
                break
        self.kept = self.read == len(seed)  # its whole seed's state is kept already
        self.chosen: list[int] = []
        self.started = time.perf_counter()

    @property
    def reading(self) -> bool:
        return self.read < len(self.job.seed_ids)


KEPT_SEEDS = 512  # states kept after reading a seed (8 KB each for a 2 x 512 LSTM)
KEPT_LOOKBACK = 32  # how many characters shorter a kept prefix may be


class Batcher:
    """Owns the model's step form; `submit` from any thread."""

    def __init__(self, model: CharModel, vocab: CharVocab, stepper: Stepper | None = None):
        self.vocab = vocab
        self.stepper = stepper or model.stepper()  # or onnxruntime's (exporting/runtime.py)
        self.empty_row = [s.asnumpy() for s in model.begin_state(1)]
        self.batch_axes = [info["__layout__"].find("N") for info in model.state_info()]
        self.incoming: queue.SimpleQueue[Job] = queue.SimpleQueue()
        self.rows: list[_Row] = []
        self.largest_batch = 0  # the most rows stepped together so far (/healthz shows it)
        self.kept: OrderedDict[bytes, Reading] = OrderedDict()
        self.thread = threading.Thread(target=self._run, name="charrnn-batcher", daemon=True)
        self.thread.start()

    def submit(self, job: Job) -> None:
        if len(job.seed_ids) == 0:
            raise ValueError("a job needs at least one seed character")
        self.incoming.put(job)

    @property
    def in_flight(self) -> int:
        return len(self.rows) + self.incoming.qsize()

    def _run(self) -> None:
        # One BLAS thread: the batch's products are small, and the other cores serve HTTP
        # (or other workers); BLAS threads spinning against a busy core cost 4.8x here.
        with threads.blas_threads(1):
            while True:
                try:
                    self._loop()
                except Exception as error:  # a bug must fail its requests, not hang them all
                    for row in self.rows:
                        row.job.emit("error", f"{type(error).__name__}: {error}")
                    self.rows = []

    def _loop(self) -> None:
        logits = np.zeros((0, len(self.vocab)), np.float32)
        while True:
            joined = self._admit(block=not self.rows)
            kept = [i for i, row in enumerate(self.rows) if not row.job.cancelled]
            if joined or len(kept) < len(self.rows):
                logits = self._regroup(kept, joined, logits)
            inputs, finished = self._advance(logits)
            if finished:
                kept = [i for i in range(len(self.rows)) if i not in finished]
                logits, inputs = self._regroup(kept, [], logits), inputs[kept]
            if self.rows:
                logits = self.stepper.step(inputs)
                self.largest_batch = max(self.largest_batch, len(self.rows))

    def _admit(self, block: bool) -> list[_Row]:
        joined = []
        try:
            if block:
                joined.append(_Row(self.incoming.get(), self.kept))
            while True:
                joined.append(_Row(self.incoming.get_nowait(), self.kept))
        except queue.Empty:
            return joined

    def _regroup(self, kept: list[int], joined: list[_Row], logits: np.ndarray) -> np.ndarray:
        """The batch of rows `kept` (indices into the current rows) and `joined` after them,
        each from its kept state or a zero one; returns their logits."""
        starts = [row.start or (self.empty_row, np.zeros(logits.shape[1], np.float32))
                  for row in joined]
        if kept or joined:
            carried = self.stepper.get_state() if kept else [None] * len(self.batch_axes)
            self.stepper.set_state([
                np.concatenate(([np.take(s, kept, axis=axis)] if kept else [])
                               + [state[i] for state, _ in starts], axis=axis)
                for i, (s, axis) in enumerate(zip(carried, self.batch_axes))])
        self.rows = [self.rows[i] for i in kept] + joined
        fresh = np.array([row_logits for _, row_logits in starts], np.float32)
        return np.concatenate([logits[kept], fresh.reshape(len(joined), logits.shape[1])])

    def _keep(self, index: int, row: _Row, logits: np.ndarray) -> None:
        """Keep the state of a row that has just read its whole seed."""
        state = [np.take(s, [index], axis=axis)
                 for s, axis in zip(self.stepper.get_state(), self.batch_axes)]
        self.kept[np.asarray(row.job.seed_ids, np.int64).tobytes()] = (state, logits[index])
        if len(self.kept) > KEPT_SEEDS:
            self.kept.popitem(last=False)
        row.kept = True

    def _advance(self, logits: np.ndarray) -> tuple[np.ndarray, set[int]]:
        """Each row's next input (its next seed character, or the one it samples now), and
        the rows that are done, their results handed over."""
        inputs = np.zeros(len(self.rows), np.int64)
        finished = set()
        sampling = []
        for i, row in enumerate(self.rows):
            if row.reading:
                inputs[i] = row.job.seed_ids[row.read]
                row.read += 1
                continue
            if not row.kept:
                self._keep(i, row, logits)
            if row.job.length == 0:
                row.job.emit("next", softmax(logits[i]))
                finished.add(i)
            else:
                sampling.append(i)
        if sampling:
            rows = [self.rows[i] for i in sampling]
            settings = [row.job.sampling for row in rows]
            inputs[sampling] = choose(self._allowed(logits[sampling], rows, sampling, finished),
                                      [row.rng for row in rows],
                                      *(_one_or_each([getattr(s, name) for s in settings])
                                        for name in ("temperature", "top_k", "greedy", "top_p")))
            for i, row in zip(sampling, rows):
                if i not in finished and self._take(row, int(inputs[i])):
                    finished.add(i)
        return inputs, finished

    def _allowed(self, logits: np.ndarray, rows: list[_Row], indices: list[int],
                 finished: set[int]) -> np.ndarray:
        """The rows' logits with what their constraints forbid taken out; a row whose
        constraints leave nothing fails alone."""
        if not any(row.job.guide for row in rows):
            return logits
        allowed = np.ones(logits.shape, dtype=bool)
        for k, (i, row) in enumerate(zip(indices, rows)):
            if row.job.guide:
                try:
                    allowed[k] = row.job.guide.allowed()
                except CharrnnError as error:  # the request's fault: a 422, not a 500
                    row.job.emit("refused", str(error))
                    finished.add(i)
        return np.where(allowed, logits, -np.inf)

    def _take(self, row: _Row, char_id: int) -> bool:
        """Record a row's chosen character; whether that was its last."""
        row.chosen.append(char_id)
        if row.job.stream:
            row.job.emit("char", self.vocab.chars[char_id])
        guide = row.job.guide
        if guide:
            guide.advance(char_id)
        if not (guide.finished if guide else len(row.chosen) >= row.job.length):
            return False
        row.job.emit("text", (self.vocab.decode(row.chosen), time.perf_counter() - row.started))
        return True


def _one_or_each(values: list) -> object:
    """One value when all rows share it (choose's shorter path: 41 against 64 us for eight
    rows here), else one per row."""
    return values[0] if values.count(values[0]) == len(values) else np.array(values)


def softmax(logits: np.ndarray) -> np.ndarray:
    weights = np.exp(logits.astype(np.float64) - logits.max())
    return weights / weights.sum()
