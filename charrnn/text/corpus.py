"""Text in, character ids out: reading a corpus, the character vocabulary, the split."""
from __future__ import annotations

import codecs
import hashlib
import json
import math
import mmap
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence, Union

import numpy as np

from charrnn.config import MAX_VOCAB
from charrnn.errors import CharrnnError
from charrnn.machine.atomic import atomic_write, bytes_writer, json_writer

PathLike = Union[str, Path]

SPLITS = ("train", "val", "test")
DEFAULT_SPLIT = (0.9, 0.05, 0.05)
IDS, VOCAB_FILE, META = "ids.npy", "vocab.json", "meta.json"
# Characters encoded per chunk, and bytes decoded per chunk when streaming: they bound the
# temporary copies (4 bytes per character in UTF-32) for very large corpora.
_ENCODE_CHUNK = 1 << 21
_READ_CHUNK = 1 << 22


def check_corpus_file(path: Path) -> None:
    """Fail with a clear message unless `path` is a non-empty file."""
    if not path.exists():
        raise CharrnnError(f"corpus {path} does not exist: give the path of a text file.")
    if path.is_dir():
        raise CharrnnError(f"corpus {path} is a directory: give a text file (or a folder made by "
                           "`charrnn prepare`).")
    if path.stat().st_size == 0:
        raise CharrnnError(f"corpus {path} is empty: give a text file with some text in it.")


def read_bytes(path: PathLike) -> bytes:
    """The file's bytes, or an error naming why it cannot be a corpus."""
    path = Path(path)
    check_corpus_file(path)
    return path.read_bytes()


def _undecodable(source: str, encoding: str, offset: int, byte: bytes) -> CharrnnError:
    return CharrnnError(
        f"{source} is not valid {encoding}: byte 0x{byte.hex()} at offset {offset} cannot be "
        "decoded. Convert the file to UTF-8, or pass its encoding, e.g. --encoding latin-1.")


def _unknown_encoding(encoding: str) -> CharrnnError:
    return CharrnnError(f"--encoding {encoding!r} is not an encoding Python knows; try utf-8 or "
                        "latin-1.")


def decode_text(data: bytes, source: str, encoding: str = "utf-8") -> str:
    try:
        return data.decode(encoding)
    except LookupError:
        raise _unknown_encoding(encoding) from None
    except UnicodeDecodeError as error:
        raise _undecodable(source, encoding, error.start,
                           data[error.start:error.start + 1]) from None


def decoded_chunks(path: Path, encoding: str, chunk_bytes: int = _READ_CHUNK,
                   on_bytes: Callable[[bytes], None] | None = None) -> Iterator[str]:
    """The text of a file of any size, decoded piece by piece (errors name the byte offset);
    each raw piece is also handed to `on_bytes` (e.g. a checksum's update)."""
    try:
        decoder = codecs.getincrementaldecoder(encoding)()
    except LookupError:
        raise _unknown_encoding(encoding) from None
    offset = 0
    with open(path, "rb") as f:
        while True:
            data = f.read(chunk_bytes)
            if on_bytes is not None:
                on_bytes(data)
            pending = decoder.getstate()[0]
            try:
                text = decoder.decode(data, final=not data)
            except UnicodeDecodeError as error:
                where = offset - len(pending) + error.start
                raise _undecodable(f"corpus {path}", encoding, where,
                                   (pending + data)[error.start:error.start + 1]) from None
            offset += len(data)
            if text:
                yield text
            if not data:
                return


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _codepoints(text: str) -> np.ndarray:
    if text.isascii():
        return np.frombuffer(text.encode("ascii"), dtype=np.uint8)
    return np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)


def count_codepoints(text: str, counts: np.ndarray | None = None) -> np.ndarray:
    """Occurrences of each code point in `text`, added to `counts`."""
    counts = np.zeros(0, dtype=np.int64) if counts is None else counts
    for start in range(0, len(text), _ENCODE_CHUNK):
        chunk = np.bincount(_codepoints(text[start:start + _ENCODE_CHUNK]))
        if len(chunk) > len(counts):
            chunk[:len(counts)] += counts
            counts = chunk
        else:
            counts[:len(chunk)] += chunk
    return counts


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
        return cls.from_counts(count_codepoints(text))

    @classmethod
    def from_counts(cls, counts: np.ndarray) -> CharVocab:
        """From occurrences per code point (see `count_codepoints`)."""
        return cls(tuple(chr(c) for c in np.flatnonzero(counts)))

    def __len__(self) -> int:
        return len(self.chars)

    @property
    def dtype(self) -> np.dtype:
        """The smallest unsigned integer type that holds every id."""
        return np.dtype(np.uint8 if len(self.chars) <= 256 else np.uint16)

    def id_of(self, char: str) -> int | None:
        return self.chars.index(char) if char in self._char_set else None

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
                               "--skip-unknown (skip_unknown=True) to drop them.")
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
        if len(chars) > MAX_VOCAB:
            raise CharrnnError(f"{path} lists {len(chars):,} characters, more than the "
                               f"{MAX_VOCAB:,} charrnn allows.")
        return cls(tuple(chars))


def split_bounds(length: int, fractions: Sequence[float] = DEFAULT_SPLIT) -> list[int]:
    """Boundaries [0, a, b, length] of the contiguous train/val/test split."""
    if len(fractions) != 3 or any(f < 0 for f in fractions) or abs(sum(fractions) - 1) > 1e-6:
        raise CharrnnError("the split needs three non-negative fractions that sum to 1.")
    a = round(length * fractions[0])
    b = a + round(length * fractions[1])
    return [0, a, min(b, length), length]


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

    def check_trainable(self, batch_size: int, seq_len: int) -> None:
        """The training split must fill one window of every column; say how long a corpus
        must be."""
        train, val = len(self.part("train")), len(self.part("val"))
        needed = batch_size * (seq_len + 1)
        if train < needed or val < 2:
            share = train / len(self.ids)
            minimum = max(math.ceil(needed / share) if share else needed, math.ceil(2 / 0.05))
            raise CharrnnError(
                f"corpus {self.path} is too short for one batch: with --batch-size "
                f"{batch_size} and --seq-len {seq_len} the training split needs "
                f"{needed:,} characters but has {train:,}; the corpus needs at least "
                f"{minimum:,}. Use a longer text, or a smaller --batch-size or --seq-len.")

    def release(self) -> None:
        """Unmap the pages of a memory-mapped corpus read so far.

        They stay in the page cache, but leave this process's resident memory, which would
        otherwise grow to the corpus size over an epoch (the kernel maps whole 2 MB folios).
        """
        mapping = getattr(self.ids, "_mmap", None)
        if mapping is not None and hasattr(mapping, "madvise"):
            mapping.madvise(mmap.MADV_DONTNEED)


def load_corpus(path: PathLike, encoding: str = "utf-8", vocab: CharVocab | None = None,
                sha256: str | None = None, fractions: Sequence[float] = DEFAULT_SPLIT) -> Corpus:
    """A text file, or a folder made by `prepare_corpus`; with `vocab` and `sha256`, the
    corpus a model was trained on, or an error."""
    if Path(path, META).is_file():
        corpus = load_prepared(path)
        if vocab is not None and vocab != corpus.vocab:
            raise CharrnnError(f"{path} was prepared with another vocabulary than the model's.")
    else:
        data = read_bytes(path)
        text = decode_text(data, f"corpus {path}", encoding)
        vocab = vocab or CharVocab.from_text(text)
        ids = vocab.encode(text, what=f"corpus {path}")
        corpus = Corpus(str(path), sha256_hex(data), vocab, ids,
                        split_bounds(len(ids), fractions))
    if sha256 and corpus.sha256 != sha256:
        raise CharrnnError(f"{path} is not the corpus this run was trained on (its sha256 differs "
                           "from the one in config.json): use the original file, or start a new "
                           "run.")
    return corpus


def prepare_corpus(path: PathLike, out: PathLike, encoding: str = "utf-8",
                   fractions: Sequence[float] = DEFAULT_SPLIT) -> Corpus:
    """Encode a text file of any size into `out`/ids.npy, vocab.json and meta.json.

    Two streaming passes (vocabulary and checksum, then ids), so memory stays bounded by the
    chunk size; training then memory-maps the ids.
    """
    path, out = Path(path), Path(out)
    check_corpus_file(path)
    digest, counts, total = hashlib.sha256(), None, 0
    for text in decoded_chunks(path, encoding, on_bytes=digest.update):
        counts = count_codepoints(text, counts)
        total += len(text)
    vocab = CharVocab.from_counts(counts)
    out.mkdir(parents=True, exist_ok=True)

    def write_ids(temporary: str) -> None:
        """Plain appends, not a memory map: mapped pages would count as resident memory."""
        header = {"descr": np.lib.format.dtype_to_descr(vocab.dtype), "fortran_order": False,
                  "shape": (total,)}
        with open(temporary, "wb") as f:
            np.lib.format.write_array_header_1_0(f, header)
            for text in decoded_chunks(path, encoding):
                f.write(vocab.encode(text).tobytes())

    meta = {"source": str(path), "sha256": digest.hexdigest(), "encoding": encoding,
            "chars": total, "dtype": vocab.dtype.name, "split": split_bounds(total, fractions)}
    atomic_write({out / IDS: write_ids, out / VOCAB_FILE: bytes_writer(vocab.to_json()),
                  out / META: json_writer(meta)})
    return load_prepared(out)


def load_prepared(folder: PathLike) -> Corpus:
    """A prepared corpus, its ids memory-mapped: resident memory does not grow with its size.

    Its files are checked against each other before use: ids.npy's dtype and length against
    meta.json and vocab.json, and the split boundaries. (Its ids are not scanned: that would
    read the whole corpus at every start, and an id beyond the vocabulary is clipped by MXNet,
    not a crash.)
    """
    folder = Path(folder)
    try:
        meta = json.loads((folder / META).read_text(encoding="utf-8"))
        ids = np.load(folder / IDS, mmap_mode="r")
        vocab = CharVocab.load(folder / VOCAB_FILE)
        bounds = [int(b) for b in meta["split"]]
        sha256 = str(meta["sha256"])
        chars = int(meta["chars"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise CharrnnError(f"{folder} is not a complete prepared corpus ({error}): run "
                           "`charrnn prepare` again.") from None
    if ids.ndim != 1 or len(ids) != chars or ids.dtype != vocab.dtype:
        raise CharrnnError(f"{folder}/{IDS} does not match its meta.json: run `charrnn prepare` "
                           "again.")
    if len(bounds) != 4 or bounds != sorted(bounds) or bounds[0] != 0 or bounds[-1] != chars:
        raise CharrnnError(f"{folder}/{META} has a damaged split {bounds}: run `charrnn "
                           "prepare` again.")
    return Corpus(str(folder), sha256, vocab, ids, bounds)
