"""Text in, character ids out: reading a corpus, the character vocabulary, the split."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence, Union

import numpy as np

from charrnn.errors import CharrnnError

PathLike = Union[str, Path]

MAX_VOCAB = 65536
SPLITS = ("train", "val", "test")
DEFAULT_SPLIT = (0.9, 0.05, 0.05)
# Characters encoded per chunk: bounds the temporary UTF-32 copy for very large corpora.
_ENCODE_CHUNK = 1 << 23


def read_bytes(path: PathLike) -> bytes:
    """The file's bytes, or an error naming why it cannot be a corpus."""
    path = Path(path)
    if not path.exists():
        raise CharrnnError(f"corpus {path} does not exist: give the path of a text file.")
    if path.is_dir():
        raise CharrnnError(f"corpus {path} is a directory: give a text file (or a folder made by "
                           "`charrnn prepare`).")
    data = path.read_bytes()
    if not data:
        raise CharrnnError(f"corpus {path} is empty: give a text file with some text in it.")
    return data


def decode_text(data: bytes, source: str, encoding: str = "utf-8") -> str:
    try:
        return data.decode(encoding)
    except LookupError:
        raise CharrnnError(f"--encoding {encoding!r} is not an encoding Python knows; "
                           "try utf-8 or latin-1.") from None
    except UnicodeDecodeError as error:
        bad = data[error.start:error.start + 1].hex()
        raise CharrnnError(
            f"{source} is not valid {encoding}: byte 0x{bad} at offset {error.start} cannot be "
            f"decoded. Convert the file to UTF-8, or pass its encoding, e.g. --encoding latin-1."
        ) from None


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _codepoints(text: str) -> np.ndarray:
    if text.isascii():
        return np.frombuffer(text.encode("ascii"), dtype=np.uint8)
    return np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)


def _describe(chars: Iterable[str]) -> str:
    return ", ".join(f"{c!r} (U+{ord(c):04X})" for c in chars)


@dataclass(frozen=True)
class CharVocab:
    """The characters of a corpus in sorted order; a character's id is its position.

    Encoding and decoding go through NumPy lookup tables, so a 100 MB corpus takes seconds.
    """

    chars: tuple[str, ...]

    def __post_init__(self) -> None:
        if not self.chars:
            raise CharrnnError("a vocabulary needs at least one character.")
        if len(self.chars) > MAX_VOCAB:
            raise CharrnnError(
                f"the text has {len(self.chars):,} distinct characters, more than the "
                f"{MAX_VOCAB:,} charrnn supports: it is probably a binary file, not text.")
        codes = np.array([ord(c) for c in self.chars], dtype=np.uint32)
        lookup = np.full(int(codes.max()) + 2, -1, dtype=np.int32)  # last slot: "unknown"
        lookup[codes] = np.arange(len(codes), dtype=np.int32)
        object.__setattr__(self, "_codes", codes)
        object.__setattr__(self, "_lookup", lookup)
        object.__setattr__(self, "_char_set", frozenset(self.chars))

    @classmethod
    def from_text(cls, text: str) -> CharVocab:
        counts = np.zeros(0, dtype=np.int64)
        for start in range(0, len(text), _ENCODE_CHUNK):
            chunk = np.bincount(_codepoints(text[start:start + _ENCODE_CHUNK]))
            if len(chunk) > len(counts):
                chunk[:len(counts)] += counts
                counts = chunk
            else:
                counts[:len(chunk)] += chunk
        return cls(tuple(chr(c) for c in np.flatnonzero(counts)))

    def __len__(self) -> int:
        return len(self.chars)

    @property
    def dtype(self) -> np.dtype:
        """The smallest unsigned integer type that holds every id."""
        return np.dtype(np.uint8 if len(self.chars) <= 256 else np.uint16)

    def unknown(self, text: str) -> list[str]:
        """Characters of `text` that have no id, in order of first appearance."""
        return list(dict.fromkeys(c for c in text if c not in self._char_set))

    def encode(self, text: str, what: str = "text") -> np.ndarray:
        ids = np.empty(len(text), dtype=self.dtype)
        last = len(self._lookup) - 1
        for start in range(0, len(text), _ENCODE_CHUNK):
            codes = _codepoints(text[start:start + _ENCODE_CHUNK])
            chunk = self._lookup[np.minimum(codes, last)]
            if chunk.min(initial=0) < 0:
                raise CharrnnError(f"{what} has characters that are not in the vocabulary: "
                                   f"{_describe(self.unknown(text))}.")
            ids[start:start + len(chunk)] = chunk
        return ids

    def decode(self, ids: Sequence[int]) -> str:
        return self._codes[np.asarray(ids, dtype=np.int64)].astype("<u4").tobytes().decode(
            "utf-32-le")

    def encode_seed(self, text: str, skip_unknown: bool = False) -> np.ndarray:
        """Ids for a seed string; an unknown character is an error unless skipped."""
        unknown = self.unknown(text)
        if unknown and not skip_unknown:
            raise CharrnnError(f"the seed text has characters that are not in the model's "
                               f"vocabulary: {_describe(unknown)}. Remove them, or pass "
                               "--skip-unknown to drop them.")
        kept = "".join(c for c in text if c not in unknown)
        if not kept:
            raise CharrnnError("the seed text is empty (or has no character the model knows): "
                               "give at least one character with --seed-text.")
        return self.encode(kept)

    def to_json(self) -> bytes:
        """A plain JSON list of the characters, in id order."""
        return json.dumps(list(self.chars), ensure_ascii=False).encode("utf-8")

    @classmethod
    def load(cls, path: PathLike) -> CharVocab:
        try:
            chars = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise CharrnnError(f"{path} is not a readable vocabulary ({error}).") from None
        if (not isinstance(chars, list) or not all(isinstance(c, str) and len(c) == 1
                                                   for c in chars)
                or len(set(chars)) != len(chars)):
            raise CharrnnError(f"{path} is not a vocabulary: it must be a JSON list of distinct "
                               "single characters.")
        return cls(tuple(chars))


def split_bounds(length: int, fractions: Sequence[float] = DEFAULT_SPLIT) -> list[int]:
    """Boundaries [0, a, b, length] of the contiguous train/val/test split."""
    if len(fractions) != 3 or any(f < 0 for f in fractions) or abs(sum(fractions) - 1) > 1e-6:
        raise CharrnnError("the split needs three non-negative fractions that sum to 1.")
    a = round(length * fractions[0])
    b = a + round(length * fractions[1])
    return [0, a, min(b, length), length]


def split(ids: np.ndarray, fractions: Sequence[float] = DEFAULT_SPLIT) -> dict[str, np.ndarray]:
    """Contiguous train/val/test views of the ids (no copy)."""
    bounds = split_bounds(len(ids), fractions)
    return {name: ids[bounds[i]:bounds[i + 1]] for i, name in enumerate(SPLITS)}


@dataclass
class Corpus:
    """A corpus as ids, with what identifies it: its path, its checksum and its vocabulary."""

    path: str
    sha256: str
    vocab: CharVocab
    ids: np.ndarray
    bounds: list[int]

    def part(self, name: str) -> np.ndarray:
        i = SPLITS.index(name)
        return self.ids[self.bounds[i]:self.bounds[i + 1]]


def load_corpus(path: PathLike, encoding: str = "utf-8", vocab: CharVocab = None,
                sha256: str | None = None, fractions: Sequence[float] = DEFAULT_SPLIT) -> Corpus:
    """Read and encode a text file; with `vocab` (and `sha256`), the one a model was trained on."""
    data = read_bytes(path)
    if sha256 and sha256_hex(data) != sha256:
        raise CharrnnError(f"{path} is not the corpus this run was trained on (its sha256 differs "
                           "from the one in config.json): resume with that corpus, or start a "
                           "new run.")
    text = decode_text(data, f"corpus {path}", encoding)
    vocab = vocab or CharVocab.from_text(text)
    ids = vocab.encode(text, what=f"corpus {path}")
    return Corpus(str(path), sha256_hex(data), vocab, ids, split_bounds(len(ids), fractions))
