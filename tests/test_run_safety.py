"""One writer per run directory, and damaged or hostile run directories refused before
anything is allocated, in one line each."""
from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import mxnet as mx
import numpy as np
import pytest

from charrnn.runs.rundir import RunDir
from charrnn.training import checkpoint

from .conftest import TINY_MODEL, checkpoint_file, invoke


def start_writer(corpus: Path, run: Path, *extra: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "charrnn", "train", str(corpus), "--out", str(run),
               *TINY_MODEL, "--log-interval", "1", *extra]
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True)
    deadline = time.time() + 60
    while not (run / "state.json").exists() and time.time() < deadline:
        time.sleep(0.02)
    return child


def test_a_second_writer_is_refused_while_the_first_runs(tiny_corpus, tmp_path):
    run = tmp_path / "run"
    first = start_writer(tiny_corpus, run, "--epochs", "4", "--checkpoint-every", "5")
    for args in (("--resume", run), (tiny_corpus, "--out", run, "--overwrite", *TINY_MODEL)):
        second = invoke("train", *args)
        assert second.exit_code == 1
        assert re.search(rf"{run} is being written by process {first.pid} \(started "
                         r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\); wait for it or choose another "
                         "--out", second.output), second.output
    output, _ = first.communicate(timeout=120)
    assert first.returncode == 0, output
    assert "completed 4 epochs" in output
    progress, _, _ = checkpoint.load(RunDir(run))
    assert progress.epoch == 4 and len(RunDir(run).metrics()) == 4


def test_a_killed_writer_leaves_no_stale_lock(tiny_corpus, tmp_path):
    run = tmp_path / "run"
    first = start_writer(tiny_corpus, run, "--epochs", "1000", "--checkpoint-every", "5")
    first.kill()
    first.wait()
    resumed = invoke("train", "--resume", run, "--epochs", "2")
    assert resumed.exit_code == 0, resumed.output


def test_readers_need_no_lock(trained_run, tiny_corpus):
    RunDir(trained_run).lock()  # this process writes it, as a training would
    try:
        assert invoke("generate", trained_run, "--length", "5", "--seed-text", "the").exit_code \
            == 0
        assert invoke("evaluate", trained_run).exit_code == 0
        assert invoke("info", trained_run).exit_code == 0
    finally:
        RunDir(trained_run).unlock()


# -- hostile and damaged run directories ---------------------------------------------------

def set_config(section: str, **values):
    def change(run: Path) -> None:
        config = json.loads((run / "config.json").read_text())
        config[section].update(values)
        (run / "config.json").write_text(json.dumps(config))
    return change


def huge_vocab(run: Path) -> None:
    (run / "vocab.json").write_text(json.dumps([chr(0x10000 + i) for i in range(10**6)]))


def consistent_checksum(run: Path) -> None:
    """As a hostile author would: state.json records the sha256 of the changed weights."""
    state = json.loads((run / "state.json").read_text())
    digest = hashlib.sha256(checkpoint_file(run).read_bytes()).hexdigest()
    state["checkpoint"]["files"]["last.params"] = digest
    (run / "state.json").write_text(json.dumps(state))


def params_of_another_model(run: Path) -> None:
    other = {k: mx.nd.zeros((v.shape[0] + 1, *v.shape[1:])) for k, v in
             mx.nd.load(str(run / "model.params")).items()}
    for path in (run / "model.params", checkpoint_file(run)):
        mx.nd.save(str(path), other)
    consistent_checksum(run)


def truncated_params(run: Path) -> None:
    for path in (run / "model.params", checkpoint_file(run)):
        data = path.read_bytes()
        path.write_bytes(data[:len(data) // 2])
    consistent_checksum(run)


HOSTILE = {
    "hidden 10^7": (set_config("model", hidden=10**7), "hidden 10,000,000 is larger than"),
    "layers 10^5": (set_config("model", layers=10**5), "layers 100,000 is larger than"),
    "embed 10^8": (set_config("model", embed=10**8), "embed 100,000,000 is larger than"),
    "64 layers of 16384": (set_config("model", layers=64, hidden=16384),
                           "more than the 1,000,000,000 charrnn allows"),
    "vocab.json of 10^6": (huge_vocab, "vocab.json lists 1,000,000 characters, more than"),
    "other shapes": (params_of_another_model, "does not match config.json and vocab.json"),
    "truncated params": (truncated_params, ".params is corrupt or truncated"),
    "seq_len 10^9": (set_config("training", seq_len=10**9), "seq_len 1,000,000,000 is larger"),
}
COMMANDS = {
    "generate": lambda run: ("generate", run, "--length", "5"),
    "evaluate": lambda run: ("evaluate", run),
    "info": lambda run: ("info", run),
    "train --resume": lambda run: ("train", "--resume", run, "--epochs", "5"),
}


@pytest.fixture(scope="module")
def template_run(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("template")
    corpus = folder / "tiny.txt"
    corpus.write_text("the quick brown fox jumps over the lazy dog. " * 200)
    result = invoke("train", corpus, "--out", folder / "run", "--epochs", "1", *TINY_MODEL)
    assert result.exit_code == 0, result.output
    return folder / "run"


def copy_of(run: Path, target: Path) -> Path:
    shutil.copytree(run, target)
    return target


@pytest.mark.parametrize("damage", HOSTILE)
@pytest.mark.parametrize("command", COMMANDS)
def test_a_hostile_run_directory_is_refused_in_one_line(template_run, tmp_path, damage,
                                                         command):
    change, message = HOSTILE[damage]
    run = copy_of(template_run, tmp_path / "run")
    change(run)
    started = time.perf_counter()
    result = invoke(*COMMANDS[command](run))
    seconds = time.perf_counter() - started
    print(f"{command}, {damage}: refused in {seconds:.2f} s")
    assert result.exit_code == 1, result.output
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1, result.output
    assert "Traceback" not in result.output


def test_a_damaged_checkpoint_file_is_named(template_run, tmp_path):
    run = copy_of(template_run, tmp_path / "run")
    target = checkpoint_file(run, "trainer.states")
    data = bytearray(target.read_bytes())
    data[-1] ^= 0xFF
    target.write_bytes(bytes(data))
    result = invoke("train", "--resume", run, "--epochs", "3")
    assert result.exit_code == 1
    assert f"{target} is damaged: its checksum differs" in result.output


def test_a_hostile_prepared_corpus_is_refused(tmp_path):
    text = tmp_path / "text.txt"
    text.write_text("abc def " * 1000)
    prepared = tmp_path / "prepared"
    assert invoke("prepare", text, "-o", prepared).exit_code == 0
    np.save(prepared / "ids.npy", np.zeros(8000, dtype=np.uint16))  # another dtype
    result = invoke("train", prepared, "--out", tmp_path / "run", *TINY_MODEL)
    assert result.exit_code == 1 and "does not match its meta.json" in result.output
    np.save(prepared / "ids.npy", np.zeros(7000, dtype=np.uint8))  # another length
    result = invoke("train", prepared, "--out", tmp_path / "run", *TINY_MODEL)
    assert result.exit_code == 1 and "does not match its meta.json" in result.output
    np.save(prepared / "ids.npy", np.zeros(8000, dtype=np.uint8))
    meta = json.loads((prepared / "meta.json").read_text())
    (prepared / "meta.json").write_text(json.dumps({**meta, "split": [0, 9000, 100, 8000]}))
    result = invoke("train", prepared, "--out", tmp_path / "run", *TINY_MODEL)
    assert result.exit_code == 1 and "meta.json" in result.output
