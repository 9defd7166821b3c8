"""What `make bench` measures for charrnn: each function returns a rate or a figure."""
from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import mxnet as mx
import numpy as np

from charrnn.config import ModelConfig, TrainConfig
from charrnn.models.evaluation import evaluate
from charrnn.models.generation import sample
from charrnn.runs.loading import load_trained
from charrnn.text.corpus import CharVocab, load_corpus
from charrnn.training.lifecycle import initialized_model
from charrnn.training.step import make_trainer, train_step

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO / "data" / "nietzsche.txt"
PRETRAINED = REPO / "params" / "nietzsche-pretrained"
SEQ_LEN = 100


def median_rate(run_chunk: Callable[[], float | tuple[float, float]], chunks: int,
                warmup: int = 1) -> float:
    """Median of units/second over timed chunks; `run_chunk` does the work and returns the
    units, or the units and the seconds that count (when it times only a part itself)."""
    for _ in range(warmup):
        run_chunk()
    rates = []
    for _ in range(chunks):
        start = time.perf_counter()
        done = run_chunk()
        units, seconds = done if isinstance(done, tuple) else (done,
                                                               time.perf_counter() - start)
        rates.append(units / seconds)
    return statistics.median(rates)


def corpus():
    return load_corpus(CORPUS)


def model(name: str, vocab_size: int):
    return initialized_model(ModelConfig(model=name, vocab_size=vocab_size), [mx.cpu()], 0)


def training_rate(name: str, batch: int, steps: int, chunks: int) -> float:
    """Training characters per second of the real train_step on Nietzsche windows."""
    return train_rate(model(name, len(corpus().vocab)), batch, steps, chunks)


def train_rate(net, batch: int, steps: int, chunks: int) -> float:
    """Characters per second of `steps` train_steps of `net`, median of `chunks` timings."""
    data = corpus()
    trainer = make_trainer(net, TrainConfig(), [mx.cpu()], 0.002)
    columns = data.part("train")[:(steps * SEQ_LEN + 1) * batch].reshape(batch, -1).T
    hidden = [net.begin_state(batch)]

    def chunk() -> float:
        nonlocal hidden
        for s in range(steps):
            window = columns[s * SEQ_LEN:(s + 1) * SEQ_LEN + 1]
            hidden, loss = train_step(net, trainer, window[:-1], window[1:], hidden,
                                      [mx.cpu()], 1.0)
        loss.wait_to_read()
        return steps * SEQ_LEN * batch

    return median_rate(chunk, chunks)


def evaluation_rate(chunks: int) -> float:
    data = corpus()
    net = model("lstm", len(data.vocab))
    ids = data.part("val")
    return median_rate(lambda: evaluate(net, ids, mx.cpu(), 32, SEQ_LEN).chars, chunks)


def trained_lstm(folder: Path, steps: int) -> Path:
    """A briefly trained default LSTM: generation speed does not depend on its quality."""
    run = folder / "lstm"
    subprocess.run([sys.executable, "-m", "charrnn", "train", str(CORPUS), "--out", str(run),
                    "--max-steps", str(steps), "--sample-length", "0"], check=True,
                   capture_output=True)
    return run


def generation_rate(run: Path, length: int, chunks: int, **options) -> float:
    net, vocab, _ = load_trained(run)
    seed = vocab.encode("The meaning of life is")
    samples = options.get("num_samples", 1)

    def chunk() -> float:
        for _ in sample(net, vocab, seed, length, **options):
            pass
        return length * samples

    return median_rate(chunk, chunks)


def refeeding_rate(run: Path, length: int) -> float:
    """The classic approach: a fresh state and the last 100 characters, for every character."""
    net, vocab, _ = load_trained(run)
    net.hybridize(static_alloc=True, static_shape=True)
    text = list(vocab.encode(("The meaning of life is " * 5)[-SEQ_LEN:]))

    def chunk() -> float:
        for _ in range(length):
            window = mx.nd.array(np.array(text[-SEQ_LEN:])[:, None])
            logits, _ = net(window, net.begin_state(1))
            text.append(int(logits[-1].argmax(axis=0).asscalar()))
        return length

    return median_rate(chunk, 3)


def encoding_rate(megabytes: int) -> float:
    """MB/s of CharVocab.encode on a generated text of about `megabytes` MB."""
    base = CORPUS.read_text(encoding="utf-8")
    text = base * max(1, round(megabytes * 1e6 / len(base.encode())))
    vocab = CharVocab.from_text(base)
    size = len(text.encode()) / 1e6
    start = time.perf_counter()
    vocab.encode(text)
    return size / (time.perf_counter() - start)


def peak_rss_mb(command: list[str]) -> float:
    """Peak resident memory of `command`, in MB, measured by a parent that runs nothing else."""
    return timed_peak(command)[1]


def timed_peak(command: list[str]) -> tuple[float, float]:
    """Wall time in seconds and peak resident memory in MB of `command`."""
    probe = ("import resource, subprocess, sys, time; start = time.perf_counter(); "
             "subprocess.run(sys.argv[1:], check=True, capture_output=True); "
             "print(time.perf_counter() - start, "
             "resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", probe, *command], check=True,
                         capture_output=True, text=True).stdout.split()
    return float(out[0]), int(out[1]) / 1024


def inspection_cost(megabytes: float) -> tuple[float, float]:
    """`charrnn inspect params/nietzsche-pretrained` on a text of `megabytes` (the corpus
    repeated): its wall time and peak memory."""
    text = CORPUS.read_text(encoding="utf-8")
    size = int(megabytes * 1_000_000)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "text.txt"
        path.write_text((text * (size // len(text) + 1))[:size], encoding="utf-8")
        return timed_peak([sys.executable, "-m", "charrnn", "inspect", str(PRETRAINED),
                           str(path), "-o", f"{folder}/inside"])


def training_peak_rss_mb(steps: int) -> float:
    """Peak resident memory of a real `charrnn train` of the default LSTM on Nietzsche."""
    with tempfile.TemporaryDirectory() as folder:
        return peak_rss_mb([sys.executable, "-m", "charrnn", "train", str(CORPUS), "--out",
                            f"{folder}/run", "--max-steps", str(steps), "--sample-length", "0"])


def budget_quality(folder: Path, epochs: int) -> tuple[float, float]:
    """Wall time of `epochs` epochs of the default LSTM, and its test bits/char."""
    run = folder / "budget"
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "charrnn", "train", str(CORPUS), "--out", str(run),
                    "--epochs", str(epochs), "--sample-length", "0"], check=True,
                   capture_output=True)
    seconds = time.perf_counter() - start
    net, _, _ = load_trained(run)
    data = corpus()
    return seconds, evaluate(net, data.part("test"), mx.cpu(), 32, SEQ_LEN).bpc
