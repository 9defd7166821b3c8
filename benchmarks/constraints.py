"""What constrained generation and the copy meter cost (`make bench`, or alone:
`python -m benchmarks.constraints [--quick] [RUN ...]`).

For each model: characters per second unconstrained and under each constraint, at batch 1 and
32 (the ratio is the constrained step's cost against the plain one); then the copy index's
build time and size for Nietzsche and a 100 MB prepared corpus (Nietzsche repeated: long
repeats are the suffix sort's hard case).
"""
from __future__ import annotations

import io
import shutil
import tempfile
import time
from pathlib import Path

import click
import numpy as np

import charrnn
from benchmarks.measure import CORPUS, median_rate
from charrnn.models import generation
from charrnn.models.constraints import Constraints
from charrnn.text.corpus import CharVocab
from charrnn.text.index import CorpusIndex

PATTERN = r"[A-Z][a-z]+( [a-z,;]+){4,12}[.!?]"
CONSTRAINTS = {"none": Constraints(), "pattern": Constraints(pattern=PATTERN),
               "stop_at '.'": Constraints(stop_at=(".",)), "ban 'e'": Constraints(ban="e"),
               "max_copy 12": Constraints(max_copy=12)}


def generation_rates(model: charrnn.Model, batch: int, length: int, chunks: int) -> dict:
    """Characters per second (summed over the batch) under each constraint, the steps alone:
    from each generation's first character to its last, so that neither priming the seed
    nor compiling the constraints (once per chunk) is counted. A generation that a
    constraint ends early is started again until the chunk has `length` characters a row."""
    seed_ids = model.vocab.encode("He said: ")
    rates = {}
    for name, constraints in CONSTRAINTS.items():
        def chunk(constraints=constraints) -> tuple[float, float]:
            rules = model.rules(constraints, length)
            written, seconds = 0, 0.0
            while written < length * batch:
                steps = generation.sample(model.network, model.vocab, seed_ids, length, batch,
                                          0.8, rules=rules, seed=written)
                written += sum(len(c) for c in next(steps))
                started = time.perf_counter()
                for chars in steps:
                    written += sum(len(c) for c in chars)
                seconds += time.perf_counter() - started
            return written - batch, seconds
        rates[name] = median_rate(chunk, chunks)
    return rates
def index_cost(ids: np.ndarray) -> tuple[float, float]:
    """Seconds to build the index of `ids`, and its file's megabytes."""
    start = time.perf_counter()
    index = CorpusIndex.build(ids)
    seconds = time.perf_counter() - start
    buffer = io.BytesIO()
    np.savez(buffer, suffixes=index.suffixes)
    return seconds, len(buffer.getvalue()) / 1e6


def rows(runs: list[Path], quick: bool) -> list[tuple[str, float, str]]:
    found = []
    length, chunks = (150, 3) if quick else (400, 5)
    for run in runs:
        with tempfile.TemporaryDirectory() as folder:  # its copy index is built there
            copy = Path(folder) / run.name
            shutil.copytree(run, copy, ignore=shutil.ignore_patterns("checkpoints", "*.npz"))
            model = charrnn.load(copy)
            model.copy_index()
            config = model.config
            name = f"{config.layers} x {config.hidden} {config.model}"
            for batch in (1, 32):
                rates = generation_rates(model, batch, length, chunks)
                for constraint, rate in rates.items():
                    found.append((f"generate {name}, batch {batch}, {constraint}", rate,
                                  "chars/s"))
                    if constraint != "none":
                        found.append((f"generate {name}, batch {batch}, {constraint}: cost",
                                      rates["none"] / rate, "x"))
    text = CORPUS.read_text(encoding="utf-8")
    vocab = CharVocab.from_text(text)
    ids = vocab.encode(text)
    seconds, size = index_cost(ids)
    found += [("copy index of Nietzsche (600,901 chars): build", seconds, "s"),
              ("copy index of Nietzsche: file", size, "MB")]
    megabytes = 10 if quick else 100
    large = np.tile(ids, round(megabytes * 1e6 / len(ids)))
    seconds, size = index_cost(large)
    found += [(f"copy index of a {megabytes} MB corpus: build", seconds, "s"),
              (f"copy index of a {megabytes} MB corpus: file", size, "MB")]
    return found


@click.command()
@click.option("--quick", is_flag=True)
@click.argument("runs", nargs=-1, type=click.Path(exists=True, path_type=Path))
def main(quick: bool, runs: tuple[Path, ...]) -> None:
    for what, value, unit in rows(list(runs) or [charrnn.load("nietzsche").path], quick):
        click.echo(f"{what:<58} {value:>12,.2f}  {unit}")


if __name__ == "__main__":
    main()
