"""Properties of each position of a text, the ones Karpathy et al. (2015) found units for:
binary ones (inside quotes, ...) and counts (bracket depth, position in the line)."""
from __future__ import annotations

import dataclasses
import re
from typing import Callable

import numpy as np

from charrnn.errors import CharrnnError

BINARY, COUNT = "binary", "count"


@dataclasses.dataclass(frozen=True)
class Property:
    name: str
    kind: str
    label: Callable[[str], np.ndarray]


def _inside(opening: str, closing: str) -> Callable[[str], np.ndarray]:
    """Positions from an opening character to its closing one, both included."""
    def label(text: str) -> np.ndarray:
        return _depth(text, opening, closing) > 0
    return label


def _depth(text: str, openings: str, closings: str) -> np.ndarray:
    """Nesting depth at each position, an opening character counted from itself on and a
    closing one up to itself; never below 0 (a stray closing character opens nothing)."""
    depth, level = np.zeros(len(text), dtype=np.int32), 0
    for i, char in enumerate(text):
        if char in openings:
            level += 1
        depth[i] = level
        if char in closings and level:
            level -= 1
    return depth


def inside_quotes(text: str) -> np.ndarray:
    """From an opening double quote to its closing one; straight quotes alternate."""
    inside, open_ = np.zeros(len(text), dtype=bool), False
    for i, char in enumerate(text):
        if char in '"“':
            open_ = not open_ if char == '"' else True
            inside[i] = True
        elif char == "”":
            inside[i], open_ = True, False
        else:
            inside[i] = open_
    return inside


def position_in_line(text: str) -> np.ndarray:
    """Characters since the last line break (0 at a line's first character); 0 throughout a
    text without one, where it would only count characters."""
    codes = np.frombuffer(text.encode("utf-32-le"), dtype="<u4")
    breaks = np.flatnonzero(codes == ord("\n"))
    if not len(breaks):
        return np.zeros(len(text), dtype=np.int64)
    index = np.arange(len(text))
    last_break = np.concatenate([[-1], breaks])[np.searchsorted(breaks, index)]
    return index - last_break - 1


def _matches(pattern: str) -> Callable[[str], np.ndarray]:
    expression = re.compile(pattern)

    def label(text: str) -> np.ndarray:
        inside = np.zeros(len(text), dtype=bool)
        for match in expression.finditer(text):
            inside[match.start():match.end()] = True
        return inside
    return label


BUILT_IN = [
    Property("inside double quotes", BINARY, inside_quotes),
    Property("inside parentheses", BINARY, _inside("(", ")")),
    Property("bracket depth", COUNT, lambda text: _depth(text, "([{", ")]}")),
    Property("position in the line", COUNT, position_in_line),
    Property("first character of a word", BINARY, _matches(r"(?<!\w)\w")),
    Property("after the end of a sentence", BINARY, _matches(r"(?<=[.!?])[\s\"'”)]+")),
    Property("inside a run of digits", BINARY, _matches(r"\d+")),
    Property("inside an upper-case word", BINARY, _matches(r"\b[A-ZÀ-ÖØ-Þ]{2,}\b")),
]


def pattern_property(pattern: str, text: str) -> Property:
    """`--pattern REGEX`: the characters inside its matches; refused when it does not compile
    or matches nothing in `text`."""
    try:
        label = _matches(pattern)
    except re.error as error:
        raise CharrnnError(f"--pattern {pattern!r} is not a regular expression ({error}): "
                           "fix it (Python's re syntax).") from None
    if not label(text).any():
        raise CharrnnError(f"--pattern {pattern!r} matches nothing in the text: give one that "
                           "occurs in it.")
    return Property(f"pattern {pattern}", BINARY, label)
