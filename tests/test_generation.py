from __future__ import annotations

import numpy as np
import pytest

from charrnn.generation import beam_search, choose, sample
from charrnn.runs import load_trained


def text_of(steps) -> str:
    return "".join(chars[0] for chars in steps)


@pytest.fixture
def model(trained_run):
    return load_trained(trained_run)[:2]


def test_greedy_output_is_deterministic_and_has_the_requested_length(model):
    net, vocab = model
    seed = vocab.encode("the quick")
    first = text_of(sample(net, vocab, seed, 120, greedy=True))
    assert first == text_of(sample(net, vocab, seed, 120, greedy=True))
    assert len(first) == 120


def test_sampling_is_reproducible_with_a_seed_and_varies_without(model):
    net, vocab = model
    seed = vocab.encode("the")
    hot = {"temperature": 3.0}  # flat enough that two unseeded draws differ
    assert (text_of(sample(net, vocab, seed, 200, seed=7, **hot))
            == text_of(sample(net, vocab, seed, 200, seed=7, **hot)))
    unseeded = {text_of(sample(net, vocab, seed, 200, **hot)) for _ in range(3)}
    assert len(unseeded) > 1


def test_batched_samples_are_independent_continuations(model):
    net, vocab = model
    steps = list(sample(net, vocab, vocab.encode("the"), 50, num_samples=4, seed=1,
                        temperature=3.0))
    assert len(steps) == 50 and all(len(s) == 4 for s in steps)
    assert len({"".join(column) for column in zip(*steps)}) > 1


def test_a_trained_model_continues_its_text(model):
    net, vocab = model
    continuation = text_of(sample(net, vocab, vocab.encode("the quick brown "), 40, greedy=True))
    assert "jumps over the lazy dog" in continuation


def test_beam_of_one_is_greedy_and_wider_beams_keep_the_length(model):
    net, vocab = model
    seed = vocab.encode("the lazy")
    greedy = text_of(sample(net, vocab, seed, 40, greedy=True))
    assert beam_search(net, vocab, seed, 40, beam_size=1) == [greedy]
    beams = beam_search(net, vocab, seed, 40, beam_size=4, num_samples=3)
    assert len(beams) == 3 and all(len(b) == 40 for b in beams)


def test_choose_top_k_one_and_tiny_temperature_are_argmax():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(16, 30)).astype(np.float32)
    best = logits.argmax(axis=1)
    assert np.array_equal(choose(logits, rng, top_k=1), best)
    assert np.array_equal(choose(logits, rng, temperature=1e-4), best)
    draws = np.stack([choose(logits, rng, top_k=3) for _ in range(50)])
    top3 = np.argsort(logits, axis=1)[:, -3:]
    assert all(np.isin(draws[:, i], top3[i]).all() for i in range(16))
