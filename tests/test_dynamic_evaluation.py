"""Dynamic evaluation: every character is scored before the model learns from it."""
from __future__ import annotations

import json

import mxnet as mx
import numpy as np
import pytest

from charrnn.config import MODELS, ModelConfig
from charrnn.models.evaluation import evaluate, evaluate_dynamic, gradient_rms
from charrnn.text.corpus import load_corpus
from charrnn.training.lifecycle import initialized_model

from .conftest import invoke


def weights(model) -> list[np.ndarray]:
    return [p.data().asnumpy() for p in model.collect_params().values()]


@pytest.mark.parametrize("model_name", MODELS)
def test_a_window_is_scored_before_the_model_learns_from_it(model_name, tiny_corpus):
    corpus = load_corpus(tiny_corpus)
    model = initialized_model(ModelConfig(model=model_name, vocab_size=len(corpus.vocab),
                                          hidden=32, layers=1, dropout=0.0), [mx.cpu()], 0)
    one_window = corpus.part("val")[:51]
    static = evaluate(model, one_window, mx.cpu(), batch_size=1, seq_len=50)
    before = weights(model)
    rms = gradient_rms(model, corpus.part("train"), mx.cpu(), windows=5)
    dynamic = evaluate_dynamic(model, one_window, mx.cpu(), rms, lr=1e-2, seq_len=50)
    assert dynamic.chars == static.chars == 50
    assert abs(dynamic.loss - static.loss) < 1e-5
    assert max(np.abs(a - b).max() for a, b in zip(weights(model), before)) > 1e-4


def test_an_untrained_model_learns_the_text_it_reads(tiny_corpus):
    corpus = load_corpus(tiny_corpus)
    model = initialized_model(ModelConfig(vocab_size=len(corpus.vocab), hidden=32, layers=1,
                                          dropout=0.0), [mx.cpu()], 0)
    # 4,000 characters: 0.41x the static loss here, far from the bound on any host's rounding
    # (2,000 gave 0.76x on one host and under 0.7x on another).
    text = corpus.part("train")[:4000]
    static = evaluate(model, text, mx.cpu(), batch_size=1, seq_len=50)
    rms = gradient_rms(model, corpus.part("train"), mx.cpu(), windows=5)
    dynamic = evaluate_dynamic(model, text, mx.cpu(), rms, lr=3e-3, seq_len=50)
    assert static.loss > 0.9 * np.log(len(corpus.vocab))
    assert dynamic.loss < 0.7 * static.loss, (static.loss, dynamic.loss)


def bits_per_char(output: str) -> float:
    return float(output.split("bits/char")[1].split()[0])


def test_evaluate_dynamic_on_the_command_line_is_recorded_apart(trained_run):
    static = invoke("evaluate", trained_run, "--split", "val", "--batch-size", "1")
    dynamic = invoke("evaluate", trained_run, "--split", "val", "--dynamic", "--dynamic-lr",
                     "3e-4", "--record")
    assert static.exit_code == 0 and dynamic.exit_code == 0, dynamic.output
    assert "val split (dynamic evaluation, lr 0.0003)" in dynamic.output
    assert bits_per_char(dynamic.output) < bits_per_char(static.output)
    recorded = json.loads((trained_run / "evaluation.json").read_text())
    assert list(recorded) == ["val-dynamic"]
    assert "val-dynamic" in invoke("info", trained_run).output


def test_dynamic_options_that_cannot_apply_are_refused(trained_run):
    for args, problem in ((("--dynamic", "--batch-size", "8"), "drop --batch-size"),
                          (("--dynamic-lr", "1e-3"), "add --dynamic"),
                          (("--dynamic", "--dynamic-lr", "0"), "--dynamic-lr")):
        result = invoke("evaluate", trained_run, *args)
        assert result.exit_code == 2 and problem in result.output, result.output


def test_a_diverging_dynamic_evaluation_says_so_instead_of_printing_a_score(trained_run):
    result = invoke("evaluate", trained_run, "--dynamic", "--dynamic-lr", "10")
    assert result.exit_code == 1
    assert "dynamic evaluation diverged" in result.output
    assert "use a smaller --dynamic-lr (now 10)" in result.output
    assert "perplexity" not in result.output
