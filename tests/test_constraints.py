"""Constrained generation and the copy meter, on the shipped model (a copy of it: the copy index
is written into the run directory) and checked by brute force."""
from __future__ import annotations

import re
import shutil

import numpy as np
import pytest

import charrnn
from charrnn.runs.rundir import COPY_INDEX
from charrnn.text.index import CorpusIndex

from .conftest import REPO, invoke

PATTERN = r"[A-Z][a-z]+( [a-z,;]+){4,12}[.!?]"
CORPUS = (REPO / "data" / "nietzsche.txt").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def shipped(tmp_path_factory):
    folder = tmp_path_factory.mktemp("shipped") / "nietzsche-pretrained"
    shutil.copytree(REPO / "params" / "nietzsche-pretrained", folder)
    return charrnn.load(folder)


def test_fifty_sampled_and_twenty_greedy_continuations_match_the_pattern_in_full(shipped):
    sampled = shipped.samples("He said: ", 200, 50, temperature=0.8, seed=7, pattern=PATTERN)
    assert all(re.fullmatch(PATTERN, text[len("He said: "):]) for text in sampled)
    for seed in range(20):  # greedy: one text per seed line of the corpus
        opening = shipped.seed_text(seed=seed) + "\n"
        text = shipped.generate(opening, 200, greedy=True, pattern=PATTERN)
        assert re.fullmatch(PATTERN, text[len(opening):]), text


def test_top_k_top_p_and_a_short_length_keep_to_the_pattern(shipped):
    texts = shipped.samples("\n", 30, 10, top_k=3, top_p=0.9, seed=1, pattern=r"[a-z ]{5,}!")
    assert all(re.fullmatch(r"[a-z ]{5,}!", text[1:]) and len(text) <= 31 for text in texts)
    anchored = shipped.generate("He", 40, seed=2, pattern=r"^ \w+( \w+)*\.$")  # ^ $: said
    assert re.fullmatch(r" \w+( \w+)*\.", anchored[2:])


def test_stop_at_ends_each_sample_at_its_first_period_and_ban_removes_a_letter(shipped):
    for text in shipped.samples("The ", 400, 20, seed=3, stop_at="."):
        continuation = text[4:]
        assert "." not in continuation[:-1]
        assert continuation.endswith(".") or len(continuation) == 400
    stopped = shipped.samples("The ", 400, 10, seed=3, stop_at=["?", "--"])
    assert all(t.endswith(("?", "--")) or len(t) == 404 for t in stopped)
    assert not any("e" in text[4:] for text in shipped.samples("The ", 300, 10, ban="e"))


def test_max_copy_leaves_no_longer_stretch_of_the_corpus(shipped):
    """50 samples of 500 characters: no 13 consecutive characters are found in the corpus (a
    set of every 13 characters of it: brute force, not the suffix array)."""
    grams = {CORPUS[i:i + 13] for i in range(len(CORPUS) - 12)}
    texts = shipped.samples("The ", 500, 50, seed=11, max_copy=12)
    for text in texts:
        continuation = text[4:]
        assert len(continuation) == 500
        assert not any(continuation[i:i + 13] in grams for i in range(len(continuation) - 12))
    assert shipped.path.joinpath(COPY_INDEX).exists()  # kept in the run directory


def _brute_force_copies(text: str, corpus: str, min_length: int) -> list[tuple[int, int, int]]:
    found, reach = [], 0
    for start in range(len(text)):
        length = 0
        while start + length < len(text) and text[start:start + length + 1] in corpus:
            length += 1
        if length >= min_length and start + length > reach:
            span = text[start:start + length]
            count = len(re.findall(f"(?={re.escape(span)})", corpus))
            found.append((start, start + length, count))
        reach = max(reach, start + length)
    return found


def test_copies_equal_a_brute_force_search_on_fifty_texts(shipped):
    rng = np.random.default_rng(5)
    generated = shipped.samples("The ", 150, 25, temperature=0.5, seed=5)
    texts = []
    for i in range(50):  # stretches of the corpus joined by generated ones: copies of all lengths
        pieces = []
        for _ in range(3):
            start = int(rng.integers(len(CORPUS) - 200))
            pieces += [CORPUS[start:start + int(rng.integers(5, 80))],
                       generated[i % 25][int(rng.integers(4, 100)):][:int(rng.integers(3, 40))]]
        texts.append("".join(pieces))
    for text in texts:
        found = shipped.copies(text, min_length=12)
        assert [(c.start, c.end, c.occurrences) for c in found] == \
            _brute_force_copies(text, CORPUS, 12)
        for copy in found:
            span = text[copy.start:copy.end]
            assert CORPUS[copy.source:copy.source + copy.length] == span
            assert span in copy.context


def test_the_index_of_a_vocabulary_wider_than_a_byte_finds_what_it_holds():
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 700, size=5000)
    index = CorpusIndex.build(ids)
    for start in rng.integers(0, 4990, size=50):
        piece = ids[start:start + 6]
        followers = index.followers(piece)
        naive = {int(ids[i + 6]) for i in range(len(ids) - 6)
                 if np.array_equal(ids[i:i + 6], piece)}
        assert set(followers.tolist()) == naive
        assert index.count(piece) >= 1


def test_a_stale_or_damaged_index_is_built_again(shipped):
    path = shipped.path / COPY_INDEX
    shipped.generate("The ", 50, max_copy=20)
    with np.load(path) as saved:
        suffixes = saved["suffixes"]
    np.savez(path, suffixes=suffixes[::-1].copy(),  # the index of another corpus, by its hash
             sha256=np.frombuffer(b"0" * 64, dtype=np.uint8))
    again = charrnn.load(shipped.path)
    assert again.copies(CORPUS[1000:1100])[0].length == 100
    with np.load(path) as saved:
        assert np.array_equal(saved["suffixes"], suffixes)  # built again and kept
    path.write_bytes(b"not an index")
    assert charrnn.load(shipped.path).copies(CORPUS[1000:1100])[0].length == 100
    assert path.stat().st_size > 1_000_000  # written anew


@pytest.mark.parametrize("options, says", [
    (("--pattern", "[中]+"), "needs '中', which the model does not know"),
    (("--pattern", "(a"), "is not a regular expression"),
    (("--pattern", r"(a)\1"), "cannot hold"),
    (("--pattern", "[a-z]{50}", "--length", "10"), "needs at least 50 characters"),
    (("--ban", "".join(sorted(set(CORPUS)))), "bans every character"),
    (("--pattern", "a", "--beam-size", "2"), "--beam-size searches"),
])
def test_constraints_that_cannot_hold_are_one_line_before_anything_is_generated(options, says):
    result = invoke("generate", "nietzsche", "--seed-text", "The ", *options)
    assert result.exit_code != 0
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and says in lines[0] and "Traceback" not in result.output
    with pytest.raises(charrnn.CharrnnError, match=re.escape(says)):
        model = charrnn.load("nietzsche")
        keywords = {"--pattern": "pattern", "--ban": "ban", "--length": "length",
                    "--beam-size": "beam_size"}
        given = {keywords[k]: (int(v) if k in ("--length", "--beam-size") else v)
                 for k, v in zip(options[::2], options[1::2])}
        model.generate("The ", **given)


def test_show_copied_marks_the_stretches_and_names_the_longest(shipped):
    opening = CORPUS[:300]
    result = invoke("generate", shipped.path, "--seed-text", opening, "--greedy",
                    "--length", "200", "--show-copied")
    assert result.exit_code == 0, result.output
    assert "[[" in result.output and "]]" in result.output
    assert re.search(r"copied: \d+ stretch(es)? of the corpus, the longest \d+ characters",
                     result.output)
