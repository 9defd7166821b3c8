"""Text from a trained model: prime the state with a seed, then one character per step.

The seed goes through the MXNet model in one forward pass; the characters after it come from
the model's step form (NumPy, see models/base.py), greedily or by sampling with a temperature
and top-k.
Beam search uses gluonnlp's BeamSearchSampler on the MXNet model.
"""
from __future__ import annotations

from typing import Iterator, Sequence, Union

import gluonnlp
import mxnet as mx
import numpy as np
from mxnet import gluon

from charrnn.machine import threads
from charrnn.models.constraints import Rules
from charrnn.text.batching import to_device
from charrnn.text.corpus import CharVocab

# A sampling setting: one value for every row, or an array of one per row.
Setting = Union[float, int, bool, np.ndarray]

# The temperature charrnn samples at unless told otherwise (generate, compare, the sample that
# ends a training): a little safer than the model's own distribution (1.0, what sample() and
# the API default to).
TEMPERATURE = 0.8
# What shapes sampling, with charrnn's defaults: Model.generate and stream and the command
# line's options take theirs from here.
SAMPLING = {"temperature": TEMPERATURE, "top_k": 0, "top_p": 1.0, "greedy": False, "seed": None}
# Characters of the samples shown while training (--sample-every) and in a comparison.
SAMPLE_LENGTH = 200
# The model's own distribution: what sample(), choose() and the API default to.
UNSCALED = 1.0


def prime(model: gluon.HybridBlock, seed_ids: np.ndarray, num_samples: int,
          ctx: mx.Context | None = None):
    """Run the seed through the model once; return the last logits and the state."""
    ctx = ctx or mx.cpu()
    inputs = to_device(np.repeat(seed_ids[:, None], num_samples, axis=1), ctx)
    logits, state = model(inputs, model.begin_state(num_samples, ctx))
    return logits[-num_samples:], state


def choose(logits: np.ndarray, rng: np.random.Generator | Sequence[np.random.Generator],
           temperature: Setting = UNSCALED, top_k: Setting = 0, greedy: Setting = False,
           top_p: Setting = 1.0) -> np.ndarray:
    """Next ids, one per row of logits: argmax, or a draw from softmax(logits / temperature)
    restricted to the `top_k` most likely characters (0: all) and to the smallest set of
    most likely characters whose probabilities reach `top_p` (nucleus sampling; 1: all).

    Each setting is one value for all rows or an array of one per row, and `rng` one
    generator or one per row: the server samples requests with different settings and seeds
    as one batch. One value takes the shorter path (a character costs ~100 us in all).
    """
    per_row = isinstance(greedy, np.ndarray)
    if (greedy.all() if per_row else greedy):
        return logits.argmax(axis=1)
    # Below 1e-30 a temperature would overflow float64; it is greedy long before that.
    if isinstance(temperature, np.ndarray):
        temperature = np.maximum(temperature, 1e-30)[:, None]
    else:
        temperature = max(temperature, 1e-30)
    scaled = logits.astype(np.float64) / temperature
    scaled = _top_k(scaled, top_k)
    weights = np.exp(scaled - scaled.max(axis=1, keepdims=True))
    weights = _nucleus(weights, top_p)
    cumulative = np.cumsum(weights, axis=1)
    if isinstance(rng, np.random.Generator):
        uniforms = rng.random(len(logits))
    else:
        uniforms = np.array([generator.random() for generator in rng])
    draws = uniforms * cumulative[:, -1]
    sampled = np.minimum((cumulative < draws[:, None]).sum(axis=1), logits.shape[1] - 1)
    return np.where(greedy, logits.argmax(axis=1), sampled) if per_row else sampled


def _top_k(scaled: np.ndarray, top_k: Setting) -> np.ndarray:
    """-inf for all but each row's top_k largest (0, or at least the vocabulary: all)."""
    size = scaled.shape[1]
    if not isinstance(top_k, np.ndarray):
        if not 0 < top_k < size:
            return scaled
        cutoff = np.partition(scaled, -top_k, axis=1)[:, -top_k][:, None]
    else:
        limited = (top_k > 0) & (top_k < size)
        if not limited.any():
            return scaled
        keep = np.where(limited, top_k, size)
        cutoff = np.sort(scaled, axis=1)[np.arange(len(scaled)), size - keep][:, None]
    return np.where(scaled >= cutoff, scaled, -np.inf)


def _nucleus(weights: np.ndarray, top_p: Setting) -> np.ndarray:
    """Zero all but the most likely characters whose probabilities first reach top_p."""
    if not isinstance(top_p, np.ndarray) and top_p >= 1.0:
        return weights
    limited = np.asarray(top_p) < 1.0
    if not limited.any():
        return weights
    order = np.argsort(-weights, axis=1)
    ranked = np.take_along_axis(weights, order, axis=1)
    ranked /= ranked.sum(axis=1, keepdims=True)
    within = np.cumsum(ranked, axis=1) - ranked < np.reshape(top_p, (-1, 1))
    if limited.ndim:
        within |= ~limited[:, None]  # rows with top_p 1 keep everything
    keep = np.zeros_like(weights, dtype=bool)
    np.put_along_axis(keep, order, within, axis=1)
    return np.where(keep, weights, 0.0)


def sample(model: gluon.HybridBlock, vocab: CharVocab, seed_ids: np.ndarray, length: int,
           num_samples: int = 1, temperature: float = UNSCALED, top_k: int = 0,
           greedy: bool = False, seed: int | None = None, top_p: float = 1.0,
           ctx: mx.Context | None = None, rules: Rules | None = None) -> Iterator[list[str]]:
    """Yield, per step, the next character of each of `num_samples` continuations; with
    `rules` (constraints.py), only characters they allow, and "" for a continuation they have
    ended, which leaves the batch (the steps end when every one has)."""
    rng = np.random.default_rng(seed)
    logits, state = prime(model, seed_ids, num_samples, ctx)
    stepper = model.stepper()
    stepper.set_state([s.asnumpy() for s in state])
    logits = logits.asnumpy()
    guides = rules.guides(num_samples) if rules else []
    rows = list(range(num_samples))  # the continuations still written, in the batch's order
    # BLAS threads: one for small models (two gain nothing at 256 units); for wider ones as
    # many as there are idle cores: on an idle machine two threads help a 2 x 512 LSTM (5,400
    # against 3,600 chars/s here), against a busy core they cost 7x.
    wide = max(p.shape[0] for p in model.collect_params().values()) >= 1536
    with threads.blas_threads(threads.free_cores() if wide else 1):
        for i in range(length):
            if guides:
                allowed = np.stack([guides[row].allowed() for row in rows])
                logits = np.where(allowed, logits, -np.inf)
            ids = choose(logits, rng, temperature, top_k, greedy, top_p)
            if not guides:
                yield [vocab.chars[k] for k in ids]
            else:
                chars = [""] * num_samples
                for row, k in zip(rows, ids):
                    guides[row].advance(int(k))
                    chars[row] = vocab.chars[k]
                yield chars
                going = [j for j, row in enumerate(rows) if not guides[row].finished]
                if not going:
                    return
                if len(going) < len(rows):
                    rows, ids = [rows[j] for j in going], ids[going]
                    _keep_rows(model, stepper, going)
            if i + 1 < length:
                logits = stepper.step(ids)


def _keep_rows(model: gluon.HybridBlock, stepper, rows: list[int]) -> None:
    """Only `rows` of the stepper's batch go on (a finished continuation stops costing)."""
    axes = [info["__layout__"].find("N") for info in model.state_info()]
    stepper.set_state([np.take(s, rows, axis=axis)
                       for s, axis in zip(stepper.get_state(), axes)])


def characters(model: gluon.HybridBlock, vocab: CharVocab, seed_ids: np.ndarray, length: int,
               **settings) -> Iterator[str]:
    """One continuation, a character at a time (`sample`'s settings)."""
    return (chars[0] for chars in sample(model, vocab, seed_ids, length, 1, **settings))


def corpus_line(ids: np.ndarray, newline: int | None, rng: np.random.Generator,
                longest: int = 200) -> np.ndarray:
    """The first non-empty line after a random position of `ids` (a text's character ids), at
    most `longest` characters; a random stretch when there is no whole line there."""
    start = int(rng.integers(0, max(len(ids) - 1, 1)))
    window = np.asarray(ids[start:start + 20 * longest])
    if newline is not None:
        lines = np.split(window, np.flatnonzero(window == newline) + 1)[1:-1]  # whole lines
        lines = [line[:-1] for line in lines if len(line) > 1]
        if lines:
            return lines[0][:longest]
    return window[:longest]


class _BeamDecoder:
    """The one-step decoder gluonnlp's BeamSearchSampler calls: ids (batch,) -> log-probs."""

    def __init__(self, model: gluon.HybridBlock):
        self.model = model

    def state_info(self, batch_size: int = 0):
        return self.model.state_info()

    def __call__(self, ids: mx.nd.NDArray, state):
        logits, state = self.model(ids.reshape((1, -1)).astype("float32"), state)
        return mx.nd.log_softmax(logits), state


def beam_search(model: gluon.HybridBlock, vocab: CharVocab, seed_ids: np.ndarray, length: int,
                beam_size: int, num_samples: int = 1) -> list[str]:
    """The `num_samples` most likely continuations of `length` characters (num_samples <= beam)."""
    if len(seed_ids) > 1:
        _, state = prime(model, seed_ids[:-1], 1)
    else:
        state = model.begin_state(1, mx.cpu())
    sampler = gluonnlp.model.BeamSearchSampler(
        beam_size, _BeamDecoder(model), eos_id=len(vocab),  # no end-of-text: never stops early
        scorer=gluonnlp.model.BeamSearchScorer(alpha=0.0, K=0.0, from_logits=True),
        max_length=length)
    samples, _, _ = sampler(to_device(seed_ids[-1:], mx.cpu()), state)
    return [vocab.decode(row[1:length + 1]) for row in samples[0].asnumpy()[:num_samples]]
