"""Generation under constraints: a pattern the continuation matches in full, texts it stops
after, characters it never uses, and a limit on what it may copy from the corpus.

A character model samples in the constraint's own alphabet, so each constraint is exact and
cheap: before each draw, the characters that would break one get no probability. The pattern
is compiled once (interegular, as outlines does) into an automaton over the model's
vocabulary, with each state's distance to an accepting one: a character is allowed when the
pattern can still be completed within the characters left, so a continuation always ends
matched. Everything that cannot hold is refused in one line before anything is generated.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from charrnn.errors import UsageError
from charrnn.text.corpus import CharVocab
from charrnn.text.index import CorpusIndex

UNREACHABLE = np.iinfo(np.int64).max // 2


@dataclass(frozen=True)
class Constraints:
    """What a continuation must respect (the seed text is never constrained).

    pattern: a regular expression the continuation matches in full (re.fullmatch); the
    length is then a maximum. stop_at: the continuation ends right after the first of these
    texts. ban: characters never generated. max_copy: no max_copy + 1 consecutive characters
    of the continuation occur anywhere in the run's corpus (0: no limit).
    """

    pattern: str | None = None
    stop_at: tuple[str, ...] = ()
    ban: str = ""
    max_copy: int = 0

    def __bool__(self) -> bool:
        return bool(self.pattern or self.stop_at or self.ban or self.max_copy)


class Automaton:
    """A pattern as a table: the next state by (state, character id), and each state's
    fewest characters to an accepting state; the last state is the dead one."""

    def __init__(self, pattern: str, vocab: CharVocab, allowed: np.ndarray):
        fsm = _parse(pattern)
        states = sorted(fsm.states)
        number = {state: i for i, state in enumerate(states)}
        dead = len(states)
        symbols = np.array([fsm.alphabet[char] for char in vocab.chars])
        self.next = np.full((dead + 1, len(vocab)), dead, dtype=np.int64)
        for state, moves in fsm.map.items():
            for symbol, target in moves.items():
                self.next[number[state], (symbols == symbol) & allowed] = number[target]
        self.accepting = np.zeros(dead + 1, dtype=bool)
        self.accepting[[number[state] for state in fsm.finals]] = True
        self.distance = _distances(self.next, self.accepting, dead)
        self.start, self.dead = number[fsm.initial], dead
        self.needed = sorted({char for char in fsm.alphabet if isinstance(char, str)})

    def allowed(self, state: int, left: int) -> np.ndarray:
        """The characters after which the pattern can still end within `left` - 1 more."""
        return self.distance[self.next[state]] <= left - 1

    def can_go_on(self, state: int) -> bool:
        return bool((self.distance[self.next[state]] < UNREACHABLE).any())


def _parse(pattern: str):
    """The pattern's automaton. A leading ^ and a trailing $ say what matching in full says
    already, and are dropped; \\w, \\d and \\s are ASCII's (as re.ASCII has them), so what
    the automaton allows re.fullmatch accepts."""
    try:
        re.compile(pattern)
    except re.error as error:
        raise UsageError(f"--pattern (pattern) {pattern!r} is not a regular expression: "
                         f"{error}.") from None
    import interegular

    if pattern.startswith("^"):
        pattern = pattern[1:]
    if pattern.endswith("$") and not pattern.endswith("\\$"):
        pattern = pattern[:-1]
    try:
        return interegular.parse_pattern(pattern).to_fsm()
    except (interegular.patterns.Unsupported, interegular.patterns.InvalidSyntax) as error:
        raise UsageError(f"--pattern (pattern) {pattern!r} uses what a finite automaton "
                         f"cannot hold ({error}): write it without back-references, \\b "
                         "or other anchors.") from None


def _distances(next_state: np.ndarray, accepting: np.ndarray, dead: int) -> np.ndarray:
    """Fewest characters from each state to an accepting one (breadth first, backwards)."""
    distance = np.full(len(accepting), UNREACHABLE, dtype=np.int64)
    distance[accepting] = 0
    frontier = np.flatnonzero(accepting)
    steps = 0
    while len(frontier):
        steps += 1
        reaches = np.isin(next_state, frontier).any(axis=1)
        reaches[dead] = False
        frontier = np.flatnonzero(reaches & (distance == UNREACHABLE))
        distance[frontier] = steps
    return distance


class Guide:
    """One continuation's constraints as it grows: the characters allowed next, and whether
    it is finished (a stop text reached, or a pattern that admits nothing more)."""

    def __init__(self, rules: Rules):
        self.rules, self.left = rules, rules.length
        self.state = rules.automaton.start if rules.automaton else 0
        self.text: list[int] = []
        self.finished = False

    def allowed(self) -> np.ndarray:
        rules = self.rules
        mask = (rules.allowed & rules.automaton.allowed(self.state, self.left)
                if rules.automaton else rules.allowed.copy())
        if rules.index is not None and len(self.text) >= rules.max_copy:
            window = self.text[len(self.text) - rules.max_copy:]
            mask[rules.index.followers(window)] = False
        if not mask.any():
            shown = rules.vocab.decode(self.text[-40:])
            raise UsageError(f"the constraints leave no character to follow {shown!r}: "
                             "loosen --max-copy (max_copy), --ban or --pattern.")
        return mask

    def advance(self, char: int) -> None:
        rules = self.rules
        self.text.append(char)
        self.left -= 1
        complete = True
        if rules.automaton:
            self.state = int(rules.automaton.next[self.state, char])
            complete = bool(rules.automaton.accepting[self.state])
            if complete and not rules.automaton.can_go_on(self.state):
                self.finished = True
        if complete and rules.stops and rules.stopped(self.text):
            self.finished = True
        if self.left <= 0:
            self.finished = True


class Rules:
    """Constraints checked against a vocabulary and a length, ready to guide each row."""

    def __init__(self, constraints: Constraints, vocab: CharVocab, length: int,
                 index: CorpusIndex | None = None):
        self.vocab, self.length, self.max_copy = vocab, length, constraints.max_copy
        self.allowed = np.ones(len(vocab), dtype=bool)
        for char in constraints.ban:
            if char in vocab.chars:
                self.allowed[vocab.id_of(char)] = False
        if not self.allowed.any():
            raise UsageError("--ban (ban) bans every character the model knows: ban fewer.")
        if any(not text for text in constraints.stop_at):
            raise UsageError("--stop-at (stop_at) needs a text of at least one character.")
        self.stops = [vocab.encode_seed(text).tolist() for text in constraints.stop_at
                      if not vocab.unknown(text)]
        if constraints.max_copy < 0:
            raise UsageError(f"--max-copy (max_copy) must be 0 (no limit) or more, not "
                             f"{constraints.max_copy}.")
        self.index = index if constraints.max_copy else None
        self.automaton = None
        if constraints.pattern is not None:
            self.automaton = Automaton(constraints.pattern, vocab, self.allowed)
            self._check_pattern(constraints.pattern, length)

    def _check_pattern(self, pattern: str, length: int) -> None:
        needs = int(self.automaton.distance[self.automaton.start])
        if needs >= UNREACHABLE:
            missing = [c for c in self.automaton.needed if c not in self.vocab.chars]
            if missing:
                raise UsageError(
                    f"--pattern (pattern) {pattern!r} cannot be matched with the model's "
                    f"characters: it needs {', '.join(map(repr, missing[:20]))}, which the "
                    "model does not know.")
            raise UsageError(f"--pattern (pattern) {pattern!r} cannot be matched without the "
                             "characters --ban (ban) removes.")
        if needs > length:
            raise UsageError(f"--pattern (pattern) {pattern!r} needs at least {needs} "
                             f"characters, more than --length (length) {length}: give a "
                             "longer length.")
        if needs == 0 and not self.automaton.can_go_on(self.automaton.start):
            raise UsageError(f"--pattern (pattern) {pattern!r} matches only the empty text.")

    def stopped(self, text: Sequence[int]) -> bool:
        return any(len(text) >= len(stop) and list(text[-len(stop):]) == stop
                   for stop in self.stops)

    def guides(self, count: int) -> list[Guide]:
        return [Guide(self) for _ in range(count)]
