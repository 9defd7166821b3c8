"""The scores that rank units and their baselines, against their definitions (NumPy only)."""
from __future__ import annotations

import numpy as np

from charrnn.inside import properties, ranking


def pairwise_auroc(labels: np.ndarray, values: np.ndarray) -> float:
    """The definition: P(a positive's value > a negative's), ties counting one half."""
    positive, negative = values[labels], values[~labels]
    greater = (positive[:, None] > negative[None, :]).mean()
    return greater + 0.5 * (positive[:, None] == negative[None, :]).mean()


def test_auroc_is_the_pairwise_definition_in_either_direction_with_ties():
    rng = np.random.default_rng(1)
    labels = rng.random(400) < 0.3
    values = np.stack([labels + rng.normal(0, 1, 400),          # tracks the labels
                       -1.0 * labels + rng.normal(0, 1, 400),   # tracks them, reversed
                       np.maximum(rng.normal(0, 1, 400), 0),    # a ReLU unit: many ties at 0
                       np.zeros(400)], axis=1).astype(np.float32)
    scores = ranking.scores(properties.BINARY, labels, values)
    for unit in range(4):
        a = pairwise_auroc(labels, values[:, unit])
        assert abs(scores[unit] - max(a, 1 - a)) < 1e-6
    assert scores[0] > 0.7 and scores[1] > 0.7 and scores[3] == 0.5


def test_ranks_give_ties_their_mean_rank():
    values = np.array([[3.0, 1], [1, 1], [3, 2], [2, 1]], dtype=np.float32)
    assert ranking.ranks(values).tolist() == [[3.5, 2], [1, 2], [3.5, 4], [2, 2]]


def test_counts_are_scored_by_absolute_correlation():
    rng = np.random.default_rng(2)
    depth = rng.integers(0, 4, 500).astype(float)
    values = np.stack([-2 * depth + rng.normal(0, 0.5, 500), rng.normal(0, 1, 500)], axis=1)
    scores = ranking.scores(properties.COUNT, depth, values)
    assert abs(scores[0] - abs(np.corrcoef(depth, values[:, 0])[0, 1])) < 1e-9
    assert scores[0] > 0.9 > 0.2 > scores[1]
    assert np.isnan(ranking.scores(properties.COUNT, np.ones(500), values)).all()


def test_permuting_in_blocks_keeps_each_block_whole():
    labels = np.arange(1000)
    permuted = ranking.permuted_in_blocks(labels, np.random.default_rng(0), block=200)
    blocks = {tuple(permuted[i:i + 200]) for i in range(0, 1000, 200)}
    assert blocks == {tuple(labels[i:i + 200]) for i in range(0, 1000, 200)}
    assert not np.array_equal(permuted, labels)


def test_a_probe_finds_a_linear_code_that_no_constant_does():
    rng = np.random.default_rng(3)
    inside = rng.random(2000) < 0.4
    features = rng.normal(0, 1, (2000, 8))
    features[:, 5] += 3 * inside
    count = rng.integers(0, 5, 2000).astype(float)
    features[:, 2] += count
    found = ranking.probes([properties.BINARY, properties.COUNT],
                           np.stack([inside, count], axis=1), features)
    assert found[0]["score"] > 0.9 > found[0]["majority"] > 0.5 and found[0]["auroc"] > 0.95
    assert found[1]["score"] > 0.5 > 0.01 > found[1]["majority"]


def test_the_built_in_properties_label_each_position():
    text = 'a "b (c [d]) e" f\nxy 12 AB. "q'
    label = {p.name: p.label(text) for p in properties.BUILT_IN}
    marked = lambda name: "".join("^" if v else "." for v in label[name])  # noqa: E731
    assert marked("inside double quotes") == "..^^^^^^^^^^^^^.............^^"
    assert marked("inside parentheses") == ".....^^^^^^^.................."
    assert label["bracket depth"].tolist()[4:13] == [0, 1, 1, 1, 2, 2, 2, 1, 0]
    assert label["position in the line"].tolist()[16:20] == [16, 17, 0, 1]
    assert marked("inside a run of digits") == ".....................^^......."
    assert marked("inside an upper-case word") == "........................^^...."
    assert marked("first character of a word") == "^..^..^..^...^..^.^..^..^....^"
    assert marked("after the end of a sentence") == "...........................^^."


def test_a_text_without_line_breaks_has_no_line_position():
    line = next(p for p in properties.BUILT_IN if p.name == "position in the line")
    assert not line.label("one long line").any()
    assert np.isnan(ranking.scores(properties.COUNT, line.label("abcdef"),
                                   np.random.default_rng(0).normal(size=(6, 3)))).all()
