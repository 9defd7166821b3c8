"""What char-rnn and nanoGPT users reach for: fine-tuning from a run, validation every N
steps, samples and curves while training, and `charrnn plot`."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import mxnet as mx
import numpy as np

from charrnn.config import ModelConfig, TrainConfig
from charrnn.runs.loading import load_trained
from charrnn.training.lifecycle import start_run

from .conftest import TINY_MODEL, invoke, last_weights

PNG = b"\x89PNG\r\n\x1a\n"


def german(folder: Path) -> Path:
    path = folder / "german.txt"
    path.write_text("der übermensch lehrt: gott ist tot! äpfel und öl. " * 160, encoding="utf-8")
    return path


def test_init_from_keeps_the_old_rows_and_extends_the_vocabulary(trained_run, tmp_path):
    source, old_vocab, _ = load_trained(trained_run)
    config = TrainConfig(batch_size=4, seq_len=20)
    run, corpus, model, _ = start_run(german(tmp_path), ModelConfig(), config, tmp_path / "ft",
                                      False, "utf-8", [mx.cpu()], init_from=trained_run)
    run.unlock()
    assert corpus.vocab.chars[:len(old_vocab)] == old_vocab.chars  # old ids unchanged
    assert corpus.vocab.chars[len(old_vocab):] == ("!", ":", "ä", "ö", "ü")  # the new ones
    old, new = source.embedding.weight.data().asnumpy(), model.embedding.weight.data().asnumpy()
    np.testing.assert_array_equal(new[:len(old_vocab)], old)
    assert np.abs(new[len(old_vocab):]).sum() > 0  # the new rows start fresh, not as zeros
    np.testing.assert_array_equal(model.decoder.bias.data().asnumpy()[:len(old_vocab)],
                                  source.decoder.bias.data().asnumpy())
    recorded = json.loads((tmp_path / "ft" / "config.json").read_text())["init_from"]
    assert recorded["path"] == str(trained_run.resolve()) and recorded["vocab_size"] == 28


def test_a_fine_tuned_run_trains_generates_and_refuses_another_architecture(trained_run,
                                                                           tmp_path):
    corpus = german(tmp_path)
    result = invoke("train", corpus, "--out", tmp_path / "ft", "--init-from", trained_run,
                    "--epochs", "1", "--batch-size", "4", "--seq-len", "20", "--sample-length",
                    "0", "--dropout", "0.4", "--weight-drop", "0.1")
    assert result.exit_code == 0, result.output
    model = json.loads((tmp_path / "ft" / "config.json").read_text())["model"]
    assert (model["dropout"], model["weight_drop"], model["hidden"]) == (0.4, 0.1, 32)
    generated = invoke("generate", tmp_path / "ft", "--seed-text", "übermensch", "--length", "5")
    assert generated.exit_code == 0 and generated.output.startswith("übermensch")
    refused = invoke("train", corpus, "--out", tmp_path / "other", "--init-from", trained_run,
                     "--hidden", "64")
    assert refused.exit_code == 1
    assert "has another architecture (hidden 32 -> 64)" in refused.output


def rows(run: Path, name: str = "metrics.jsonl") -> list[dict]:
    return [json.loads(line) for line in (run / name).read_text().splitlines()]


def test_eval_every_validates_between_epoch_ends_and_resumes_exactly(nietzsche_excerpt,
                                                                    tmp_path):
    settings = (*TINY_MODEL, "--batch-size", "16", "--epochs", "2", "--eval-every", "25",
                "--eval-batches", "3", "--dropout", "0.3", "--patience", "20")
    straight, split = tmp_path / "straight", tmp_path / "split"
    assert invoke("train", nietzsche_excerpt, "--out", straight, *settings).exit_code == 0
    steps = [r["step"] for r in rows(straight)]
    assert steps == [25, 50, 75, 85, 100, 125, 150, 170]  # 85 windows per epoch
    assert invoke("train", nietzsche_excerpt, "--out", split, "--stop-at-step", "60",
                  *settings).exit_code == 0
    assert invoke("train", "--resume", split).exit_code == 0
    scheduled = [r for r in rows(split) if r["step"] != 60]  # 60: the stop's own row
    keys = ("step", "val_loss", "train_loss", "lr", "best")
    assert [{k: r[k] for k in keys} for r in scheduled] == \
        [{k: r[k] for k in keys} for r in rows(straight)]
    first, second = last_weights(split), last_weights(straight)
    assert max(float(np.abs(first[k] - second[k]).max()) for k in first) < 1e-5


def test_samples_while_training_go_to_samples_jsonl(tiny_corpus, tmp_path):
    run = tmp_path / "run"
    result = invoke("train", tiny_corpus, "--out", run, "--max-steps", "100", *TINY_MODEL,
                    "--sample-every", "50", "--sample-temperatures", "0.5,1.0")
    assert result.exit_code == 0, result.output
    samples = rows(run, "samples.jsonl")
    assert [(s["step"], s["temperature"]) for s in samples] == [(50, 0.5), (50, 1.0),
                                                                (100, 0.5), (100, 1.0)]
    assert all(len(s["text"]) == 200 and s["seed"] for s in samples)
    assert "--- step 50, temperature 0.5 ---" in result.output
    bad = invoke("train", tiny_corpus, "--out", tmp_path / "bad", *TINY_MODEL,
                 "--sample-temperatures", "hot")
    assert bad.exit_code == 1 and "sample_temperatures 'hot' must be positive" in bad.output


def test_every_run_draws_its_curves_and_plot_draws_several(tiny_corpus, tmp_path):
    run = tmp_path / "run"
    assert invoke("train", tiny_corpus, "--out", run, "--epochs", "1", *TINY_MODEL).exit_code \
        == 0
    first = (run / "curves.png").read_bytes()
    assert first.startswith(PNG)
    assert invoke("train", "--resume", run, "--epochs", "2").exit_code == 0
    assert (run / "curves.png").read_bytes() != first
    other = tmp_path / "other"
    assert invoke("train", tiny_corpus, "--out", other, "--epochs", "1", *TINY_MODEL,
                  "--model", "gru").exit_code == 0
    picture = tmp_path / "both.png"
    result = invoke("plot", run, other, "-o", picture)
    assert result.exit_code == 0 and picture.read_bytes().startswith(PNG)
    missing = invoke("plot", tmp_path / "nowhere")
    assert missing.exit_code == 1 and "does not exist" in missing.output


def test_a_stop_on_an_evaluation_step_is_not_scored_twice(tiny_corpus, tmp_path):
    run = tmp_path / "run"
    assert invoke("train", tiny_corpus, "--out", run, "--max-steps", "100", "--eval-every",
                  "50", *TINY_MODEL).exit_code == 0
    assert [r["step"] for r in rows(run)] == [50, 100]


def test_without_matplotlib_training_notes_it_in_one_line_and_carries_on(tiny_corpus, tmp_path):
    hide = ("import sys; sys.modules['matplotlib'] = None; from charrnn.__main__ import main; "
            "main()")
    command = [sys.executable, "-c", hide, "train", str(tiny_corpus), "--out",
               str(tmp_path / "run"), "--max-steps", "20", *TINY_MODEL]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("no curves.png: matplotlib is not installed") == 1
    assert not (tmp_path / "run" / "curves.png").exists()
