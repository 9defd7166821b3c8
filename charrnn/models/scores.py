"""What a score is: a mean loss in nats per character, and the figures that follow from it.

Pure Python, so that the run directory (rundir.py) records scores without depending on how
they are computed (evaluation.py, with MXNet).
"""
from __future__ import annotations

import math
from dataclasses import dataclass


def bits(nats: float) -> float:
    """Bits per character from a loss in nats per character: the one place it is computed."""
    return nats / math.log(2)


@dataclass(frozen=True)
class Metrics:
    """Mean cross-entropy per character, in nats, and what follows from it."""

    loss: float
    accuracy: float
    chars: int
    source: str = ""  # what was scored, e.g. "test split of data/nietzsche.txt"

    @property
    def bpc(self) -> float:
        """Bits per character: the loss divided by ln 2."""
        return bits(self.loss)

    @property
    def perplexity(self) -> float:
        """exp(loss): the number of equally likely characters the model hesitates between."""
        return math.exp(min(self.loss, 700.0))

    def as_dict(self, prefix: str = "") -> dict:
        """loss, bpc, perplexity and accuracy, each name after `prefix` (as in JSON files)."""
        return {f"{prefix}loss": self.loss, f"{prefix}bpc": self.bpc,
                f"{prefix}perplexity": self.perplexity, f"{prefix}accuracy": self.accuracy}


@dataclass(frozen=True)
class Memorisation:
    """How much of what a model wrote at one temperature it copied from its corpus.

    Attributes
    ----------
    temperature : float
    chars : int
        Characters written.
    copied : int
        Those inside a stretch of at least `min_length` characters found in the corpus.
    longest : int
        The longest such stretch (0: none), and `longest_text` its text.
    """

    temperature: float
    chars: int
    copied: int
    longest: int
    min_length: int
    longest_text: str = ""

    @property
    def share(self) -> float:
        """The share of written characters that lie inside a copied stretch."""
        return self.copied / max(self.chars, 1)
