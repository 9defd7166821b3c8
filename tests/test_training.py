from __future__ import annotations

import math

import mxnet as mx
import numpy as np
import pytest

from charrnn.config import MODELS, ModelConfig, TrainConfig
from charrnn.models.evaluation import evaluate
from charrnn.runs.rundir import RunDir
from charrnn.text.corpus import load_corpus
from charrnn.training.lifecycle import initialized_model
from charrnn.training.loop import TrainingLoop
from charrnn.training.progress import Progress
from charrnn.training.step import clip_gradients, forward_backward, make_trainer

# Validation loss in nats/char after 300 steps must fall below this (seen here: lstm 0.032,
# gru 0.021, rnn_relu 0.077, rnn_tanh 0.054, unrolled 0.077, all from about 3.3 = ln(28)).
LEARNED = 0.4


def train_tiny(corpus_path, run_path, model="lstm", **settings):
    corpus = load_corpus(corpus_path)
    model_config = ModelConfig(model=model, vocab_size=len(corpus.vocab), embed=16, hidden=48,
                               layers=1, dropout=0.0)
    config = TrainConfig(**{"seq_len": 20, "batch_size": 8, "epochs": 50, "lr": 0.01,
                            "log_interval": 10, **settings})
    net = initialized_model(model_config, [mx.cpu()], config.seed)
    run = RunDir.create(run_path)
    progress = TrainingLoop(net, corpus, config, [mx.cpu()], run, Progress(lr=config.lr)).run()
    return net, corpus, progress, run


@pytest.mark.parametrize("model", MODELS)
def test_every_model_learns_a_repetitive_text(model, tiny_corpus, tmp_path):
    corpus = load_corpus(tiny_corpus)
    untrained = initialized_model(ModelConfig(model=model, vocab_size=len(corpus.vocab),
                                              embed=16, hidden=48, layers=1, dropout=0.0),
                                  [mx.cpu()], 0)
    before = evaluate(untrained, corpus.part("val"), mx.cpu(), 8, 20).loss
    net, corpus, progress, _ = train_tiny(tiny_corpus, tmp_path / model, model, max_steps=300)
    after = evaluate(net, corpus.part("val"), mx.cpu(), 8, 20).loss
    assert before > 0.9 * math.log(len(corpus.vocab))
    assert after < LEARNED, f"{model}: {before:.3f} -> {after:.3f}"
    assert progress.step == 300


def test_clipping_bounds_the_global_gradient_norm(tiny_corpus):
    corpus = load_corpus(tiny_corpus)
    net = initialized_model(ModelConfig(vocab_size=len(corpus.vocab), hidden=32), [mx.cpu()], 0)
    data = corpus.part("train")[:400].reshape(20, 20)
    forward_backward(net, data[:-1], data[1:] , [net.begin_state(20)], [mx.cpu()])
    norm_before = float(clip_gradients(net, 1e-3).asscalar())
    grads = [p.grad() for p in net.collect_params().values()]
    norm_after = math.sqrt(sum(float((g ** 2).sum().asscalar()) for g in grads))
    assert norm_before > 1e-3
    assert norm_after == pytest.approx(1e-3, rel=1e-3)


def test_training_stops_early_when_validation_stops_improving(tiny_corpus, tmp_path):
    # lr 0.3 overshoots: validation gets worse, so patience runs out long before 50 epochs.
    _, _, progress, run = train_tiny(tiny_corpus, tmp_path / "r", lr=0.3, patience=2)
    assert progress.stop_reason.startswith("stopped early")
    rows = run.metrics()
    assert len(rows) < 50
    assert [r["best"] for r in rows[-2:]] == [False, False]


def test_the_loop_reads_the_device_only_at_the_logging_interval(tiny_corpus, tmp_path,
                                                                monkeypatch):
    """Losses stay on the device between logging intervals: count the read-backs."""
    reads = []
    original = mx.nd.NDArray.asnumpy
    monkeypatch.setattr(mx.nd.NDArray, "asnumpy",
                        lambda self: (reads.append(self.shape), original(self))[1])
    train_tiny(tiny_corpus, tmp_path / "r", max_steps=40, log_interval=10, epochs=1)
    loss_reads = [shape for shape in reads if shape == (10,)]
    assert len(loss_reads) == 4
    assert len(reads) <= 4 + 4  # plus the validation pass's two sums and the checkpoint


def test_sgd_and_weight_decay_change_the_update(tiny_corpus, tmp_path):
    corpus = load_corpus(tiny_corpus)
    config = ModelConfig(vocab_size=len(corpus.vocab), hidden=32, embed=8, layers=1)
    norms = {}
    for name, settings in {"adam": {}, "adam_wd": {"weight_decay": 1.0},
                           "sgd": {"optimizer": "sgd", "lr": 1.0}}.items():
        net = initialized_model(config, [mx.cpu()], 0)
        train = TrainConfig(**{"lr": 0.01, **settings})
        trainer = make_trainer(net, train, [mx.cpu()], train.lr)
        data = corpus.part("train")[:840].reshape(21, 40)
        for _ in range(20):
            forward_backward(net, data[:-1], data[1:], [net.begin_state(40)], [mx.cpu()])
            trainer.update(1)
        norms[name] = sum(float((p.data() ** 2).sum().asscalar())
                          for p in net.collect_params().values())
    assert norms["adam_wd"] < 0.9 * norms["adam"]
    assert norms["sgd"] != pytest.approx(norms["adam"], rel=1e-3)
    assert np.isfinite(list(norms.values())).all()


def test_lr_decay_multiplies_the_rate_when_validation_gets_worse(tiny_corpus, tmp_path):
    _, _, _, run = train_tiny(tiny_corpus, tmp_path / "r", lr=0.3, patience=3, lr_decay=0.5,
                              lr_schedule="constant", warmup=0)
    rows = run.metrics()
    for before, after in zip(rows, rows[1:]):
        assert after["lr"] == pytest.approx(before["lr"] * (1.0 if after["best"] else 0.5))
    assert rows[-1]["lr"] < 0.3


def test_random_seq_len_varies_windows_and_scales_the_step(tiny_corpus, tmp_path):
    corpus = load_corpus(tiny_corpus)
    config = TrainConfig(seq_len=20, batch_size=8, lr=0.01, random_seq_len=True, epochs=1,
                         log_interval=1, lr_schedule="constant", warmup=0)
    net = initialized_model(ModelConfig(vocab_size=len(corpus.vocab), hidden=16, embed=8),
                            [mx.cpu()], 0)
    loop = TrainingLoop(net, corpus, config, [mx.cpu()], RunDir.create(tmp_path / "r"),
                        Progress(lr=config.lr))
    rates = []
    loop.reporter.advanced = lambda *args: rates.append(loop.trainer.learning_rate)
    loop.run()
    lengths = loop.windows(0)
    assert len(set(lengths)) > 3
    assert rates == pytest.approx([0.01 * n / 20 for n in lengths])
    assert loop.windows(1) != lengths  # a new draw every epoch


def test_forget_bias_opens_every_lstm_layers_forget_gate_and_beta2_reaches_adam():
    config = ModelConfig(vocab_size=10, hidden=8, embed=4, layers=2)
    net = initialized_model(config, [mx.cpu()], 0, forget_bias=1.0)
    biases = [p.data().asnumpy() for name, p in net.collect_params().items()
              if name.endswith("i2h_bias")]
    assert len(biases) == 2
    for bias in biases:  # MXNet's gates: input, forget, cell, output
        assert (bias[8:16] == 1).all() and not bias[:8].any() and not bias[16:].any()
    gru = initialized_model(ModelConfig(model="gru", vocab_size=10, hidden=8, embed=4),
                            [mx.cpu()], 0, forget_bias=1.0)
    assert not any(p.data().asnumpy().any() for name, p in gru.collect_params().items()
                   if name.endswith("_bias"))
    trainer = make_trainer(net, TrainConfig(beta2=0.99), [mx.cpu()], 0.002)
    assert trainer.optimizer.beta2 == 0.99
