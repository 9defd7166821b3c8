"""The shipped Nietzsche model loads, scores what its run directory says, and generates."""
from __future__ import annotations

import json

import mxnet as mx

from charrnn.corpus import load_corpus
from charrnn.evaluation import evaluate
from charrnn.lifecycle import load_trained
from charrnn.models import hybridize

from .conftest import REPO, invoke

PRETRAINED = REPO / "params" / "nietzsche-pretrained"


def test_the_pretrained_model_scores_its_recorded_test_bits_per_character():
    model, vocab, run = load_trained(PRETRAINED)
    recorded = json.loads((PRETRAINED / "evaluation.json").read_text())["test"]
    _, config, corpus_info = run.config()
    corpus = load_corpus(REPO / corpus_info["path"], vocab=vocab, sha256=corpus_info["sha256"])
    metrics = evaluate(hybridize(model), corpus.part("test"), mx.cpu(), config.eval_batch_size,
                       config.seq_len)
    assert abs(metrics.bpc - recorded["bpc"]) < 0.01
    assert recorded["bpc"] < 1.9


def test_the_pretrained_model_is_small_and_says_how_it_was_trained():
    assert sum(f.stat().st_size for f in PRETRAINED.iterdir()) < 20 * 2 ** 20
    config = json.loads((PRETRAINED / "config.json").read_text())
    assert {"weight_decay", "lr_decay", "random_seq_len"} <= set(config["training"])
    assert config["model"]["dropout"] > 0
    assert (PRETRAINED / "metrics.jsonl").read_text().count("\n") > 10


def test_the_pretrained_model_generates_from_a_seed():
    result = invoke("generate", PRETRAINED, "--seed-text", "What is truth", "--length", "200",
                    "--seed", "3")
    assert result.exit_code == 0
    assert result.output.startswith("What is truth") and len(result.output) > 200
