"""Human or machine? A round shows a passage of the corpus's test split (text the model never
trained on) or one the model wrote after the same kind of opening, of the same length.

Rounds are stateless: the round id carries a keyed hash of its answer, so any worker of the
server can score a guess and nothing is kept per player; the score lives in the page.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets

import numpy as np

from charrnn.text.corpus import CharVocab

ANSWERS = ("human", "machine")
PASSAGE = 240  # characters shown
CONTEXT = 200  # characters of the test split the model reads before writing its passage
PASSAGE_TEMPERATURE = 0.75
# The machine's passages copy no stretch of the corpus longer than this (about three words):
# a passage that quotes the corpus would be a human's passage.
PASSAGE_MAX_COPY = 16


class Game:
    def __init__(self, test_ids: np.ndarray, vocab: CharVocab, secret: bytes):
        if len(test_ids) < CONTEXT + 2 * PASSAGE:
            raise ValueError("the test split is too short for the game")
        self.ids = np.asarray(test_ids)
        self.vocab = vocab
        self.secret = secret
        self.breaks = {i for i in (vocab.id_of(" "), vocab.id_of("\n")) if i is not None}

    def deal(self, rng: np.random.Generator) -> tuple[str, np.ndarray, str | None]:
        """A new round: its id, the context the model continues (machine rounds), and the
        passage if a person wrote it (None when the model must write it)."""
        answer = ANSWERS[int(rng.integers(2))]
        start = self._word_start(int(rng.integers(CONTEXT, len(self.ids) - PASSAGE)))
        passage = self.vocab.decode(self.ids[start:start + PASSAGE])
        return (self._round_id(answer), self.ids[start - CONTEXT:start],
                passage if answer == "human" else None)

    def answer(self, round_id: str) -> str | None:
        """The round's answer, or None for a round this server did not deal."""
        return next((a for a in ANSWERS if hmac.compare_digest(self._round_id(a, round_id),
                                                               round_id)), None)

    def _round_id(self, answer: str, existing: str | None = None) -> str:
        nonce = existing.split(".")[0] if existing else secrets.token_hex(8)
        mac = hmac.new(self.secret, f"{nonce}:{answer}".encode(), hashlib.sha256)
        return f"{nonce}.{mac.hexdigest()[:24]}"

    def _word_start(self, position: int) -> int:
        """The first position after a space or line break at or after `position`."""
        for offset in range(position, min(position + 100, len(self.ids) - PASSAGE)):
            if int(self.ids[offset - 1]) in self.breaks:
                return offset
        return position
