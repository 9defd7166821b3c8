from __future__ import annotations

import numpy as np
import pytest

from charrnn.models.generation import beam_search, choose, sample
from charrnn.runs.loading import load_trained

from .conftest import PANGRAM, TINY_MODEL, invoke


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


def test_top_p_of_one_is_plain_sampling_and_smaller_keeps_the_likely_characters(model):
    net, vocab = model
    seed = vocab.encode("the")
    plain = text_of(sample(net, vocab, seed, 200, seed=3, temperature=2.0))
    assert text_of(sample(net, vocab, seed, 200, seed=3, temperature=2.0, top_p=1.0)) == plain
    logits = np.log(np.array([[0.5, 0.3, 0.15, 0.05]]))
    rng = np.random.default_rng(0)
    drawn = {int(choose(logits, rng, top_p=0.75)[0]) for _ in range(300)}
    assert drawn == {0, 1}  # 0.5 + 0.3 reaches 0.75: the two most likely only
    assert {int(choose(logits, rng, top_p=0.01)[0]) for _ in range(50)} == {0}


def test_choose_takes_one_setting_and_one_generator_per_row():
    """The server samples a batch of requests, each with its own settings and stream."""
    logits = np.log(np.array([[0.5, 0.3, 0.15, 0.05]] * 4))
    settings = dict(temperature=np.array([1.0, 1.0, 1e-4, 1.0]), top_k=np.array([0, 2, 0, 0]),
                    greedy=np.array([False, False, False, True]),
                    top_p=np.array([1.0, 1.0, 1.0, 0.01]))
    drawn = np.stack([choose(logits, [np.random.default_rng(s + 10 * i) for s in range(4)],
                             **settings) for i in range(300)])
    assert set(drawn[:, 0]) == {0, 1, 2, 3}  # plain sampling
    assert set(drawn[:, 1]) == {0, 1}  # top-2
    assert set(drawn[:, 2]) == set(drawn[:, 3]) == {0}  # near-zero temperature; greedy
    rngs = [np.random.default_rng(7), np.random.default_rng(8)]
    alone = [choose(logits[:1], [np.random.default_rng(seed)]) for seed in (7, 8)]
    assert list(choose(logits[:2], rngs)) == [int(a[0]) for a in alone]


@pytest.mark.parametrize("value", ["0", "1.5"])
def test_top_p_outside_zero_to_one_is_refused(trained_run, value):
    result = invoke("generate", trained_run, "--top-p", value, "--seed-text", "the")
    assert result.exit_code == 2 and "Invalid value for '--top-p'" in result.output


def test_the_seed_can_come_from_a_file_or_from_a_line_of_the_corpus(trained_run, tmp_path):
    seed_file = tmp_path / "seed.txt"
    seed_file.write_text("the lazy", encoding="utf-8")
    result = invoke("generate", trained_run, "--seed-file", seed_file, "--length", "10")
    assert result.exit_code == 0 and result.output.startswith("the lazy")
    lines = [invoke("generate", trained_run, "--length", "5", "--seed", str(s), "--greedy")
             .output for s in (1, 1, 2)]
    assert lines[0] == lines[1]
    assert lines[0][:-6] in PANGRAM * 10  # a stretch of the corpus (it has no line breaks)


@pytest.mark.parametrize("option", [("--temperature", "0.5"), ("--seed", "3"), ("--top-p", "0.9")])
def test_beam_search_refuses_options_it_would_ignore(trained_run, option):
    result = invoke("generate", trained_run, "--seed-text", "the", "--beam-size", "3", *option)
    assert result.exit_code == 2
    assert f"so {option[0]} would be ignored" in result.output


def test_a_corpus_without_the_default_seeds_characters_still_ends_with_a_sample(tmp_path):
    corpus = tmp_path / "chinese.txt"
    corpus.write_text("天下大势，分久必合，合久必分。\n" * 300, encoding="utf-8")
    result = invoke("train", corpus, "--out", tmp_path / "run", "--epochs", "1",
                    *TINY_MODEL[:-2], "--sample-length", "20")
    assert result.exit_code == 0, result.output
    sample_text = result.output.split("--- sample")[1].splitlines()[1]
    assert sample_text and set(sample_text) <= set("天下大势，分久必合。\n")
