"""Every mistake a user can make gets one line saying what is wrong and what to do."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import mxnet as mx
import pytest
from click.testing import CliRunner

from charrnn.cli.commands import cli

from .conftest import TINY_MODEL


def corpus_files(folder: Path) -> dict:
    files = {"empty.txt": b"", "latin1.txt": "déjà vu ".encode("latin-1") * 50,
             "short.txt": b"too short " * 5,
             "binary.txt": "".join(chr(0x10000 + i) for i in range(65537)).encode()}
    for name, data in files.items():
        (folder / name).write_bytes(data)
    (folder / "folder").mkdir()
    return files


def damaged_run(trained_run: Path, folder: Path, damage) -> Path:
    run = folder / "damaged"
    shutil.copytree(trained_run, run)
    damage(run)
    return run


def truncate(run: Path) -> None:
    data = (run / "model.params").read_bytes()
    (run / "model.params").write_bytes(data[:len(data) // 2])


def randomize(run: Path) -> None:
    (run / "model.params").write_bytes(os.urandom(5000))


def edit_json(name: str, change):
    def damage(run: Path) -> None:
        data = json.loads((run / name).read_text())
        (run / name).write_text(json.dumps(change(data)))
    return damage


def set_model(**values):
    return edit_json("config.json", lambda c: {**c, "model": {**c["model"], **values}})


TRAIN = [
    (["missing.txt"], 1, ["corpus missing.txt does not exist"]),
    (["folder"], 1, ["is a directory"]),
    (["empty.txt"], 1, ["is empty"]),
    (["latin1.txt"], 1, ["not valid utf-8: byte 0xe9 at offset 1", "--encoding latin-1"]),
    (["short.txt"], 1, ["too short for one batch", "the corpus needs at least 94"]),
    (["binary.txt"], 1, ["65,537 distinct characters", "probably a binary file"]),
    (["short.txt", "--hidden", "0"], 2, ["Invalid value for '--hidden'"]),
    (["short.txt", "--batch-size", "-3"], 2, ["Invalid value for '--batch-size'"]),
    (["short.txt", "--dropout", "1"], 2, ["Invalid value for '--dropout'"]),
    (["short.txt", "--lr", "0"], 2, ["Invalid value for '--lr'"]),
    (["short.txt", "--model", "transformer"], 2, ["Invalid value for '--model'"]),
    (["short.txt", "--time-budget", "soon"], 2, ["not a duration"]),
    pytest.param(["short.txt", "--ctx", "gpu"], 1, ["MXNet sees no GPU", "--ctx cpu"],
                 marks=pytest.mark.skipif(mx.context.num_gpus() > 0,
                                          reason="this machine has a GPU")),
    (["short.txt", "--ctx", "tpu"], 1, ["is not a device"]),
    (["--resume", "runs/nowhere"], 1, ["run directory runs/nowhere does not exist"]),
    (["--resume", "nowhere"], 1, ["nowhere is neither a run directory nor a shipped model (the "
                                  "shipped models: nietzsche)"]),
]


@pytest.mark.parametrize("args, code, messages", TRAIN,
                         ids=[" ".join((case.values if hasattr(case, "values") else case)[0])
                              for case in TRAIN])
def test_bad_training_input(tmp_path, monkeypatch, args, code, messages):
    corpus_files(tmp_path)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["train", *TINY_MODEL, *args])
    assert result.exit_code == code, result.output
    for message in messages:
        assert message in result.output
    assert result.output.strip().splitlines()[-1].startswith("Error: ")  # one line
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert not Path("params").exists()  # nothing half-made is left behind


GENERATE = [
    ([], ["--temperature", "0"], 2, "Invalid value for '--temperature'"),
    ([], ["--top-k", "-1"], 2, "Invalid value for '--top-k'"),
    ([], ["--length", "-5"], 2, "Invalid value for '--length'"),
    ([], ["--seed-text", "Zürich"], 1, "'Z' (U+005A), 'ü' (U+00FC)"),
    ([], ["--seed-text", ""], 1, "the seed text is empty"),
    ([], ["--beam-size", "2", "--top-k", "3"], 2, "does not sample"),
    ([lambda run: (run / "model.params").unlink()], [], 1, "model.params is missing"),
    ([truncate], [], 1, "is corrupt or truncated"),
    ([randomize], [], 1, "is corrupt or truncated"),
    ([lambda run: (run / "config.json").write_text("{not json")], [], 1, "is not valid JSON"),
    ([set_model(model="transformer")], [], 1, "unknown model 'transformer'"),
    ([set_model(hidden="many")], [], 1, "hidden must be of type int"),
    ([edit_json("vocab.json", lambda v: [*v, "!"])], [], 1,
     "has 29 characters but config.json says 28"),
    ([edit_json("vocab.json", lambda v: [*v, "!"]), set_model(vocab_size=29)], [], 1,
     "does not match config.json and vocab.json"),
    ([edit_json("vocab.json", lambda v: "abc")], [], 1, "is not a vocabulary"),
]


@pytest.mark.parametrize("damages, args, code, message", GENERATE,
                         ids=[m for _, _, _, m in GENERATE])
def test_bad_generation_input(trained_run, tmp_path, damages, args, code, message):
    run = damaged_run(trained_run, tmp_path, lambda r: [d(r) for d in damages])
    result = CliRunner().invoke(cli, ["generate", str(run), "--seed-text", "the", *args])
    assert result.exit_code == code, result.output
    assert message in result.output
    assert "Traceback" not in result.output


def test_a_missing_run_directory(tmp_path):
    for command in ("generate", "evaluate", "info"):
        result = CliRunner().invoke(cli, [command, str(tmp_path / "nowhere")])
        assert result.exit_code == 1
        assert "does not exist: train a model into it" in result.output


def test_skip_unknown_drops_unseen_seed_characters(trained_run):
    result = CliRunner().invoke(cli, ["generate", str(trained_run), "--seed-text", "Zthe",
                                      "--skip-unknown", "--length", "5", "--seed", "1"])
    assert result.exit_code == 0
    assert result.output.startswith("the")
