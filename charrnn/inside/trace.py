"""One pass of a model's step form over a text, in chunks: what it predicted at every
position and what every unit and gate held after reading it."""
from __future__ import annotations

import copy
import dataclasses
from typing import Iterator

import numpy as np

from charrnn.models import CharModel

# Activations that are a model's memory (ranked, shown); the rest of a step's activations are
# gates (their saturation is counted).
STATES = ("c", "h", "hidden")
TOP = 5
CHUNK = 1024


@dataclasses.dataclass
class Chunk:
    """Positions [start, start + len(bits)) of the text."""

    start: int
    bits: np.ndarray        # surprisal of the character after each position, in bits (nan: none)
    top_ids: np.ndarray     # (n, TOP) the most likely next characters, best first
    top_p: np.ndarray       # (n, TOP) their probabilities
    activations: dict[tuple[int, str], np.ndarray]  # (layer from 1, name) -> (n, units)


class StepForm:
    """A model's step form, made once; each pass steps a copy from the zero state. No pass
    calls MXNet, so any thread may run one (the server's batcher runs the model meanwhile)."""

    def __init__(self, model: CharModel):
        self.stepper = model.stepper()
        self.zero = [s.asnumpy() for s in model.begin_state(1)]
        self.layout = self._layout()

    def started(self):
        stepper = copy.copy(self.stepper)  # the weights are shared, the state is its own
        stepper.recording = True
        stepper.set_state([z.copy() for z in self.zero])
        return stepper

    def _layout(self) -> list[tuple[int, str, int]]:
        """(layer, name, units) of every activation the step form shows, in its order."""
        stepper = self.started()
        stepper.step(np.zeros(1, dtype=np.int64))
        return [(layer, name, values.shape[1])
                for layer, seen in enumerate(stepper.activations(), 1)
                for name, values in seen.items()]


def trace(form: StepForm, ids: np.ndarray, chunk: int = CHUNK) -> Iterator[Chunk]:
    """Step the model through `ids` from its zero state, one character at a time, as
    `charrnn evaluate --batch-size 1` scores it."""
    stepper = form.started()
    for start in range(0, len(ids), chunk):
        window = np.asarray(ids[start:start + chunk], dtype=np.int64)
        logits, seen = [], []
        for char in window:
            logits.append(stepper.step(char[None])[0])
            seen.append(stepper.activations())
        logits = np.stack(logits).astype(np.float64)
        log_p = logits - logits.max(axis=1, keepdims=True)
        log_p -= np.log(np.exp(log_p).sum(axis=1, keepdims=True))
        following = np.asarray(ids[start + 1:start + 1 + len(window)], dtype=np.int64)
        bits = np.full(len(window), np.nan)
        bits[:len(following)] = -log_p[np.arange(len(following)), following] / np.log(2)
        top_ids = np.argsort(-log_p, axis=1)[:, :TOP]
        activations = {(layer, name): np.stack([step[layer - 1][name][0] for step in seen])
                       for layer, layer_seen in enumerate(seen[0], 1) for name in layer_seen}
        yield Chunk(start, bits, top_ids, np.exp(np.take_along_axis(log_p, top_ids, axis=1)),
                    activations)
