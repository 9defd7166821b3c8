"""Where a text occurs in a corpus: a suffix array of the corpus' ids (pydivsufsort's
libdivsufsort: 0.05 s for Nietzsche's 600,901 characters), searched by binary search.

It answers the two questions of copying: which characters may follow a stretch without making
a copy of n + 1 characters (`followers`, for --max-copy), and which stretches of a text occur
verbatim in the corpus (`copies`, the copy meter).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np


@dataclass(frozen=True)
class Copy:
    """A stretch of a text that occurs verbatim in the corpus, as long as it can be.

    Attributes
    ----------
    start, end : int
        Where it is in the text: ``text[start:end]``.
    source : int
        Where it occurs in the corpus (one of its occurrences), as a character position.
    occurrences : int
        How many times it occurs there.
    context : str
        The corpus around it (`Model.copies` fills it in).
    """

    start: int
    end: int
    source: int
    occurrences: int
    context: str = ""

    @property
    def length(self) -> int:
        """Its characters."""
        return self.end - self.start


class CorpusIndex:
    """A corpus' ids with their suffix array.

    Ids are compared as big-endian bytes of one width (1 byte up to 256 characters, else 2),
    whose order is the ids' order, so that a suffix's prefix is a slice of one bytes object.
    """

    def __init__(self, ids: np.ndarray, suffixes: np.ndarray):
        self.width = 1 if len(ids) == 0 or int(np.max(ids)) < 256 else 2
        self.data = np.asarray(ids).astype(f">u{self.width}").tobytes()
        self.ids = np.frombuffer(self.data, dtype=f">u{self.width}")  # the corpus, as ids
        self.length = len(ids)
        self.suffixes = suffixes

    @classmethod
    def build(cls, ids: np.ndarray) -> CorpusIndex:
        from pydivsufsort import divsufsort

        ids = np.array(ids, dtype=np.uint8 if len(ids) == 0 or np.max(ids) < 256 else np.uint16)
        suffixes = divsufsort(ids) if len(ids) else np.zeros(0, np.int32)
        return cls(ids, np.asarray(suffixes))

    def _key(self, ids: Sequence[int]) -> bytes:
        return np.asarray(ids, dtype=f">u{self.width}").tobytes()

    def _range(self, key: bytes, low: int = 0, high: int | None = None) -> tuple[int, int]:
        """The suffixes (between `low` and `high`) that begin with `key`: [first, last)."""
        data, suffixes, width, size = self.data, self.suffixes, self.width, len(key)
        high = len(suffixes) if high is None else high
        first, last = low, high
        while first < last:  # the first suffix whose prefix is >= key
            middle = (first + last) // 2
            at = int(suffixes[middle]) * width
            if data[at:at + size] < key:
                first = middle + 1
            else:
                last = middle
        end, last = first, high
        while end < last:  # the first suffix whose prefix is > key
            middle = (end + last) // 2
            at = int(suffixes[middle]) * width
            if data[at:at + size] <= key:
                end = middle + 1
            else:
                last = middle
        return first, end

    def count(self, ids: Sequence[int]) -> int:
        """How many times `ids` occurs in the corpus."""
        first, end = self._range(self._key(ids))
        return end - first

    def followers(self, ids: Sequence[int]) -> np.ndarray:
        """The distinct ids that follow an occurrence of `ids` in the corpus."""
        first, end = self._range(self._key(ids))
        after = self.suffixes[first:end].astype(np.int64) + len(ids)
        after = after[after < self.length]
        if not len(after):
            return np.zeros(0, np.int64)
        return np.unique(self.ids[after])

    def copies(self, ids: Sequence[int], min_length: int = 20) -> list[Copy]:
        """Each stretch of `ids` of at least `min_length` that occurs in the corpus and lies
        inside no longer such stretch.

        The longest match from each start is found by extending the previous one (a match
        from i + 1 is at least the match from i, less its first character), so a text costs
        about two binary searches per character.
        """
        key = self._key(ids)
        width, count = self.width, len(ids)
        found, reach, length = [], 0, 0
        for start in range(count):
            length = max(length - 1, 0)
            first, end = self._range(key[start * width:(start + length) * width])
            while start + length < count:
                wider = self._range(key[start * width:(start + length + 1) * width], first, end)
                if wider[0] == wider[1]:
                    break
                (first, end), length = wider, length + 1
            if length >= min_length and start + length > reach:
                found.append(Copy(start, start + length, int(self.suffixes[first]),
                                  end - first))
            reach = max(reach, start + length)
        return found


def merged(copies: Sequence[Copy]) -> list[tuple[int, int]]:
    """The stretches of a text that copies cover, overlapping ones as one (copies may
    overlap), in order."""
    spans: list[tuple[int, int]] = []
    for start, end in sorted((copy.start, copy.end) for copy in copies):
        if spans and start <= spans[-1][1]:
            spans[-1] = (spans[-1][0], max(spans[-1][1], end))
        else:
            spans.append((start, end))
    return spans
