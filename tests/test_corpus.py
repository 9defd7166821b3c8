from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from charrnn.errors import CharrnnError
from charrnn.text.corpus import (
    CharVocab,
    Corpus,
    decoded_chunks,
    load_corpus,
    prepare_corpus,
    read_bytes,
    split_bounds,
)

from .conftest import REPO

NIETZSCHE_SHA256 = "23cf69874ab69d3d256099ab530ea4be24d47d9675b673bcc67cbcd6298ec647"


def test_bundled_nietzsche_is_byte_identical_to_the_published_file():
    data = (REPO / "data" / "nietzsche.txt").read_bytes()
    assert hashlib.sha256(data).hexdigest() == NIETZSCHE_SHA256
    assert len(data) == 600_901


def test_vocab_is_sorted_and_round_trips_through_json(tmp_path):
    text = "hello, wörld\nzebra"
    vocab = CharVocab.from_text(text)
    assert list(vocab.chars) == sorted(set(text))
    ids = vocab.encode(text)
    assert ids.dtype == np.uint8
    assert vocab.decode(ids) == text
    path = tmp_path / "vocab.json"
    path.write_bytes(vocab.to_json())
    assert json.loads(path.read_text(encoding="utf-8")) == list(vocab.chars)
    assert CharVocab.load(path) == vocab


def test_nietzsche_vocabulary_matches_its_readme():
    corpus = load_corpus(REPO / "data" / "nietzsche.txt")
    assert len(corpus.vocab) == 84
    assert len(corpus.ids) == 600_893
    assert {c for c in corpus.vocab.chars if ord(c) > 127} == set("Æäæéë")


def test_large_vocabularies_use_16_bit_ids():
    text = "".join(chr(0x4E00 + i) for i in range(300))
    vocab = CharVocab.from_text(text)
    assert vocab.dtype == np.uint16
    assert vocab.decode(vocab.encode(text)) == text


def test_more_than_65536_distinct_characters_is_refused():
    text = "".join(chr(0x10000 + i) for i in range(65537))
    with pytest.raises(CharrnnError, match=r"65,537 distinct characters.*binary"):
        CharVocab.from_text(text)


def test_unknown_characters_are_listed():
    vocab = CharVocab.from_text("abc ")
    with pytest.raises(CharrnnError, match=r"'x' \(U\+0078\), 'ü' \(U\+00FC\).*--skip-unknown"):
        vocab.encode_seed("a xüx")
    assert vocab.decode(vocab.encode_seed("a xüx", skip_unknown=True)) == "a "


def test_split_is_contiguous_90_5_5():
    ids = np.arange(1000)
    corpus = Corpus("x", "", CharVocab(("a",)), ids, split_bounds(len(ids)))
    parts = [corpus.part(name) for name in ("train", "val", "test")]
    assert [len(p) for p in parts] == [900, 50, 50]
    assert np.array_equal(np.concatenate(parts), ids)


def test_non_utf8_corpus_names_the_byte_offset(tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes(b"caf" + "é au lait".encode("latin-1"))
    with pytest.raises(CharrnnError, match=r"byte 0xe9 at offset 3.*--encoding"):
        load_corpus(path)
    assert load_corpus(path, encoding="latin-1").vocab.decode([0]) == " "


@pytest.mark.parametrize("make, message", [
    (lambda p: p, "does not exist"),
    (lambda p: (p.mkdir(), p)[1], "is a directory"),
    (lambda p: (p.write_bytes(b""), p)[1], "is empty"),
])
def test_unusable_corpus_paths_are_explained(tmp_path, make, message):
    with pytest.raises(CharrnnError, match=message):
        read_bytes(make(tmp_path / "corpus"))


def test_streamed_decoding_names_the_offset_across_chunk_boundaries(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_bytes("héllo wörld, ".encode() * 3 + b"\xff" + b"tail")
    offset = len("héllo wörld, ".encode()) * 3
    with pytest.raises(CharrnnError, match=f"byte 0xff at offset {offset} "):
        list(decoded_chunks(path, "utf-8", chunk_bytes=5))
    good = tmp_path / "good.txt"
    good.write_bytes("héllo wörld, ".encode() * 3)
    assert "".join(decoded_chunks(good, "utf-8", chunk_bytes=5)) == "héllo wörld, " * 3


def test_a_prepared_corpus_matches_the_text_it_came_from(tmp_path):
    text = "Zürich, the lazy dog. " * 300
    (tmp_path / "t.txt").write_text(text, encoding="utf-8")
    prepared = prepare_corpus(tmp_path / "t.txt", tmp_path / "prepared")
    direct = load_corpus(tmp_path / "t.txt")
    assert prepared.vocab == direct.vocab and prepared.sha256 == direct.sha256
    assert np.array_equal(prepared.ids, direct.ids) and prepared.bounds == direct.bounds
    assert isinstance(load_corpus(tmp_path / "prepared").ids, np.memmap)
