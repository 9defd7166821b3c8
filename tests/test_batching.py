from __future__ import annotations

import numpy as np
import pytest

from charrnn.errors import CharrnnError
from charrnn.text.batching import bptt_windows, check_long_enough, rnn_batch, window_lengths


def test_rnn_batch_columns_are_contiguous_segments():
    batched = rnn_batch(np.arange(11), 3)
    assert batched.tolist() == [[0, 3, 6], [1, 4, 7], [2, 5, 8]]  # 9 and 10 are dropped


def test_bptt_windows_cover_the_columns_with_targets_shifted_by_one():
    batched = rnn_batch(np.arange(100), 4)                       # (25, 4)
    lengths = window_lengths(len(batched), 7)
    assert lengths == [7, 7, 7, 3]
    windows = list(bptt_windows(batched, lengths))
    data = np.concatenate([d for d, _ in windows])
    target = np.concatenate([t for _, t in windows])
    assert np.array_equal(data, batched[:-1])
    assert np.array_equal(target, batched[1:])
    assert np.array_equal(target - data, np.ones_like(data))


def test_windows_can_restart_from_a_given_window():
    batched = rnn_batch(np.arange(100), 4)
    lengths = window_lengths(len(batched), 5)
    late = list(bptt_windows(batched, lengths, start=2))
    assert np.array_equal(late[0][0], list(bptt_windows(batched, lengths))[2][0])


def test_random_window_lengths_vary_around_seq_len_and_cover_everything():
    lengths = window_lengths(10_001, 100, np.random.default_rng(0))
    assert sum(lengths) == 10_000
    assert len(set(lengths)) > 10
    assert 80 < np.mean(lengths[:-1]) < 105
    assert min(lengths[:-1]) >= 5


def test_too_short_for_one_batch_says_the_minimum():
    with pytest.raises(CharrnnError, match="needs at least 64"):
        check_long_enough(63, 32, "training split")
