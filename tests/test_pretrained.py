"""The shipped Nietzsche model loads, scores what its run directory says, and generates."""
from __future__ import annotations

import json

import mxnet as mx
import pytest

from charrnn.models import hybridize
from charrnn.models.evaluation import evaluate
from charrnn.runs.loading import load_trained
from charrnn.text.corpus import load_corpus

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


# -- by name, from any folder -------------------------------------------------------------------

def test_the_shipped_model_is_addressed_by_name_from_another_folder(tmp_path, monkeypatch):
    import charrnn

    monkeypatch.chdir(tmp_path)
    assert charrnn.load("nietzsche").run.path.resolve() == PRETRAINED.resolve()
    generated = invoke("generate", "nietzsche", "--seed-text", "What is truth", "--length", "50",
                       "--seed", "3")
    assert generated.exit_code == 0 and generated.output.startswith("What is truth")
    by_path = invoke("generate", PRETRAINED, "--seed-text", "What is truth", "--length", "50",
                     "--seed", "3")
    assert generated.output == by_path.output
    scored = invoke("evaluate", "nietzsche", "--split", "test")
    recorded = json.loads((PRETRAINED / "evaluation.json").read_text())["test"]["bpc"]
    assert scored.exit_code == 0 and f"{recorded:.4f}" in scored.output
    assert invoke("info", "nietzsche").output.count("3,333,460") == 1


def test_the_shipped_model_inspects_and_exports_by_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    inspected = invoke("inspect", "nietzsche", "--text", "He said \"no\" (twice).", "--json")
    assert inspected.exit_code == 0, inspected.output
    assert json.loads(inspected.output)["text_chars"] == 21
    exported = invoke("export", "nietzsche", "-o", "out", "--format", "safetensors")
    assert exported.exit_code == 0, exported.output
    assert (tmp_path / "out" / "model.safetensors").stat().st_size > 13_000_000


def test_an_unknown_name_is_one_line_listing_the_shipped_models(tmp_path, monkeypatch):
    import charrnn

    monkeypatch.chdir(tmp_path)
    result = invoke("generate", "nietzche")
    assert result.exit_code != 0 and "Traceback" not in result.output
    [line] = result.output.strip().splitlines()
    assert "nietzche is neither a run directory nor a shipped model" in line
    assert "(the shipped models: nietzsche)" in line
    with pytest.raises(charrnn.CharrnnError, match="the shipped models: nietzsche"):
        charrnn.load("nietzche")


def test_train_with_no_corpus_uses_the_bundled_one_from_any_folder(tmp_path, monkeypatch):
    import charrnn

    monkeypatch.chdir(tmp_path)
    run = charrnn.train(out="run", hidden=16, embed=8, layers=1, batch_size=4, seq_len=20,
                        max_steps=2, eval_batches=1, sample_length=0, verbose=False)
    corpus = json.loads((tmp_path / "run" / "config.json").read_text())["corpus"]
    assert corpus["sha256"] == json.loads((PRETRAINED / "config.json").read_text())[
        "corpus"]["sha256"]
    assert run.stop_reason == "reached --max-steps 2"
