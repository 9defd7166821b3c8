"""`python -m benchmarks.ablations`: what each speed decision gained, for benchmarks/NOTES.md.

Each row measures one choice against the alternative it replaced, on this machine.
"""
from __future__ import annotations

import time

import click
import mxnet as mx
import numpy as np
from mxnet import gluon

from benchmarks.measure import CORPUS, SEQ_LEN, corpus, median_rate, model, train_rate
from charrnn.models import hybridize
from charrnn.models.evaluation import evaluate
from charrnn.models.generation import sample
from charrnn.text.corpus import CharVocab


def training(hybridization: str) -> float:
    net = model("lstm", len(corpus().vocab))
    if hybridization == "imperative":
        net.hybridize(active=False)
    elif hybridization == "plain":
        net.hybridize()
    return train_rate(net, 32, 10, 5)


class FusedLSTM(gluon.HybridBlock):
    """The alternative to stacking: MXNet's two-layer LSTM with its own dropout argument."""

    def __init__(self, vocab: int):
        super().__init__()
        with self.name_scope():
            self.embedding = gluon.nn.Embedding(vocab, 64)
            self.rnn = gluon.rnn.LSTM(256, 2, dropout=0.2, input_size=64)
            self.decoder = gluon.nn.Dense(vocab, flatten=False, in_units=256)

    def begin_state(self, batch, ctx=None):
        return self.rnn.begin_state(batch, ctx=ctx or mx.cpu())

    def hybrid_forward(self, F, inputs, state):
        out, state = self.rnn(self.embedding(inputs), state)
        return self.decoder(out).reshape((-3, -1)), state


def fused_training() -> float:
    mx.random.seed(0)
    net = FusedLSTM(len(corpus().vocab))
    net.initialize(mx.init.Xavier())
    return train_rate(hybridize(net), 32, 10, 5)


def generation(engine: str, length: int = 1000) -> float:
    data = corpus()
    net = model("lstm", len(data.vocab))
    seed = data.vocab.encode("The meaning of life is")
    if engine == "numpy":
        return median_rate(lambda: sum(1 for _ in sample(net, data.vocab, seed, length,
                                                          greedy=True)), 3)
    hybridize(net)

    def chunk() -> float:
        state = net.begin_state(1)
        ids = mx.nd.array(seed[-1:].reshape(1, 1))
        for _ in range(length // 4):
            logits, state = net(ids, state)
            ids = logits.argmax(axis=1).reshape((1, 1))
            ids.asnumpy()  # the character is needed before the next step
        return length // 4

    return median_rate(chunk, 3)


def evaluation(batch: int) -> float:
    data = corpus()
    net = hybridize(model("lstm", len(data.vocab)))
    ids = data.part("val")[:20000]
    return median_rate(lambda: evaluate(net, ids, mx.cpu(), batch, SEQ_LEN).chars, 3)


def encoding(method: str, megabytes: int = 10) -> float:
    base = CORPUS.read_text(encoding="utf-8")
    text = base * round(megabytes * 1e6 / len(base.encode()))
    vocab = CharVocab.from_text(base)
    start = time.perf_counter()
    if method == "lookup table":
        vocab.encode(text)
    else:
        index = {c: i for i, c in enumerate(vocab.chars)}
        np.array([index[c] for c in text], dtype=np.uint8)
    return len(text.encode()) / 1e6 / (time.perf_counter() - start)


@click.command()
def main() -> None:
    rows = [
        ("train lstm: imperative", training("imperative"), "chars/s"),
        ("train lstm: hybridize()", training("plain"), "chars/s"),
        ("train lstm: hybridize(static_alloc, static_shape)", training("static"), "chars/s"),
        ("train lstm: fused 2-layer LSTM (no dropout between)", fused_training(), "chars/s"),
        ("generate: MXNet step per character (static)", generation("mxnet"), "chars/s"),
        ("generate: NumPy stepper", generation("numpy"), "chars/s"),
        ("evaluate: batch 1", evaluation(1), "chars/s"),
        ("evaluate: batch 32", evaluation(32), "chars/s"),
        ("encode: Python dict per character", encoding("dict"), "MB/s"),
        ("encode: NumPy lookup table", encoding("lookup table"), "MB/s"),
    ]
    for what, value, unit in rows:
        click.echo(f"{what:<54} {value:>12,.1f} {unit}")


if __name__ == "__main__":
    main()
