"""Several devices in one process, and corpora larger than memory."""
from __future__ import annotations

import json
import sys

import mxnet as mx
import numpy as np
import pytest

from benchmarks.measure import peak_rss_mb
from charrnn.machine.cuda import gpu_is_supported
from charrnn.machine.devices import parse_contexts

from .conftest import REPO, TINY_MODEL, invoke, last_weights


def test_two_cpu_devices_train_like_one(nietzsche_excerpt, tmp_path):
    """Same seed, same global batch, no dropout: the columns are split across two devices and
    their gradients summed by a local kvstore. Only the order of float32 sums differs, so after
    60 Adam steps weights agree to 1e-4 and losses to 1e-5 (seen: about 1e-6 and 1e-7)."""
    runs = {}
    for name, ctx in (("one", "cpu"), ("two", "cpu:0,1")):
        runs[name] = tmp_path / name
        result = invoke("train", nietzsche_excerpt, "--out", runs[name], "--ctx", ctx,
                        "--max-steps", "60", "--dropout", "0", *TINY_MODEL)
        assert result.exit_code == 0, result.output
    rows = {n: json.loads((r / "metrics.jsonl").read_text()) for n, r in runs.items()}
    assert rows["one"]["val_loss"] == pytest.approx(rows["two"]["val_loss"], abs=1e-5)
    assert rows["one"]["train_loss"] == pytest.approx(rows["two"]["train_loss"], abs=1e-5)
    one, two = last_weights(runs["one"]), last_weights(runs["two"])
    assert max(float(np.abs(one[k] - two[k]).max()) for k in one) < 1e-4

    evaluation = invoke("evaluate", runs["two"], "--ctx", "cpu", "--split", "val")
    assert evaluation.exit_code == 0
    assert f"{rows['two']['val_bpc']:.4f}" in evaluation.output
    assert invoke("generate", runs["two"], "--seed-text", "The", "--length", "20").exit_code == 0
    resumed = invoke("train", "--resume", runs["two"], "--ctx", "cpu", "--max-steps", "80")
    assert resumed.exit_code == 0, resumed.output


def test_batch_must_split_evenly_across_devices(tiny_corpus, tmp_path):
    result = invoke("train", tiny_corpus, "--out", tmp_path / "r", "--ctx", "cpu:0,1,2",
                    *TINY_MODEL)
    assert result.exit_code == 1
    assert "--batch-size 4 must be a multiple of the number of devices (3)" in result.output


def test_device_specs():
    assert [str(c) for c in parse_contexts("cpu:0,1")] == ["cpu(0)", "cpu(1)"]
    expected = "gpu(0)" if mx.context.num_gpus() else "cpu(0)"
    assert [str(c) for c in parse_contexts(None)] == [expected]


@pytest.mark.parametrize("capability, supported", [(50, True), (61, True), (75, True),
                                                   (86, True), (89, True), (90, False),
                                                   (100, False), (35, False)])
def test_which_gpus_the_published_wheels_can_run(capability, supported):
    assert gpu_is_supported(capability) is supported


def test_a_200_mb_corpus_is_prepared_and_trained_in_bounded_memory(tmp_path):
    """Bounds: preparing streams 16 MB chunks, so its peak stays under 400 MB (MXNet alone is
    140 MB, the text 200 MB, its UTF-32 copy 800 MB). Training memory-maps the ids and unmaps
    what it read at every logging interval; between two, each of the 32 columns may hold one
    2 MB folio mapped, so its peak exceeds that of training on a 600 KB corpus by at most 64 MB
    plus slack, 80 MB in all, whatever the corpus size (seen here: +58 MB)."""
    text = (REPO / "data" / "nietzsche.txt").read_bytes()
    big = tmp_path / "big.txt"
    with open(big, "wb") as f:
        for _ in range(333):  # 200 MB
            f.write(text)
    charrnn = [sys.executable, "-m", "charrnn"]
    train = ["train", "--max-steps", "5", "--sample-length", "0", "--hidden", "64"]
    prepare_peak = peak_rss_mb([*charrnn, "prepare", str(big), "-o", str(tmp_path / "big"),
                                "--split", "0.999,0.0005,0.0005"])
    meta = json.loads((tmp_path / "big" / "meta.json").read_text())
    assert meta["chars"] == 333 * 600_893 and meta["dtype"] == "uint8"
    ids = np.load(tmp_path / "big" / "ids.npy", mmap_mode="r")
    assert ids.shape == (meta["chars"],)
    big_peak = peak_rss_mb([*charrnn, *train, str(tmp_path / "big"), "--out",
                            str(tmp_path / "run-big")])
    invoke("prepare", REPO / "data" / "nietzsche.txt", "-o", tmp_path / "small", "--split",
           "0.9,0.05,0.05")
    small_peak = peak_rss_mb([*charrnn, *train, str(tmp_path / "small"), "--out",
                              str(tmp_path / "run-s")])
    print(f"peak RSS: prepare {prepare_peak:.0f} MB, train on 200 MB {big_peak:.0f} MB, "
          f"train on 600 KB {small_peak:.0f} MB")
    assert prepare_peak < 400
    assert big_peak < small_peak + 80
    assert (tmp_path / "run-big" / "model.params").exists()
