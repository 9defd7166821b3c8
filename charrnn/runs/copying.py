"""The copy index of a run's corpus (text/index.py), built on first use and kept in the run
directory as copy-index.npz: the suffix array and the sha256 of the corpus it indexes. It is
safe to delete, and built again when the corpus is not the one it indexed. A run directory
that cannot be written (an installed shipped model) keeps it in memory only.
"""
from __future__ import annotations

import contextlib
import io

import numpy as np

from charrnn.errors import CharrnnError
from charrnn.machine.atomic import atomic_write, bytes_writer
from charrnn.runs.rundir import COPY_INDEX, RunDir
from charrnn.text.corpus import Corpus
from charrnn.text.index import CorpusIndex


def copy_index(run: RunDir, corpus: Corpus) -> CorpusIndex:
    """The index of all of `corpus` (every split: a copy of the validation text is a copy)."""
    path = run.file(COPY_INDEX)
    digest = np.frombuffer(corpus.sha256.encode("ascii"), dtype=np.uint8)
    if path.exists():
        try:
            with np.load(path, allow_pickle=False) as saved:
                if (np.array_equal(saved["sha256"], digest)
                        and len(saved["suffixes"]) == len(corpus.ids)):
                    return CorpusIndex(corpus.ids, saved["suffixes"])
        except (OSError, ValueError, KeyError):
            pass  # damaged or from another version: built again below
    index = CorpusIndex.build(corpus.ids)
    buffer = io.BytesIO()
    np.savez(buffer, suffixes=index.suffixes, sha256=digest)
    with contextlib.suppress(CharrnnError):  # read-only: it lives as long as the model
        atomic_write({path: bytes_writer(buffer.getvalue())})
    return index
