"""The fused multi-layer form, the one a GPU runs (cuDNN's one kernel for all layers), built
and used on the CPU so that the suite tests the GPU's path without a GPU: it generates,
evaluates, looks inside and exports as the stacked form of the same weights does."""
from __future__ import annotations

import mxnet as mx
import numpy as np
import pytest
from safetensors.numpy import load_file

import charrnn
from charrnn.runs import loading
from charrnn.trained import Model

from .conftest import PANGRAM


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn_relu", "rnn_tanh"])
def test_the_fused_form_generates_evaluates_inspects_and_exports_as_the_stacked_one(
        cell, tiny_corpus, tmp_path):
    run = charrnn.train(tiny_corpus, tmp_path / "run", model=cell, layers=2, hidden=16,
                        embed=8, batch_size=4, seq_len=20, max_steps=20, sample_length=0,
                        verbose=False)
    stacked = charrnn.load(run.path, "cpu")
    network, vocab, folder = loading.load_trained(run.path, mx.cpu(), fused=True)
    fused = Model(network, vocab, folder, mx.cpu())
    assert network.fused and not stacked.network.fused

    assert fused.generate("the ", 60, seed=1) == stacked.generate("the ", 60, seed=1)
    assert fused.next("the quick", k=3)[0][0] == stacked.next("the quick", k=3)[0][0]
    assert fused.evaluate("val").bpc == pytest.approx(stacked.evaluate("val").bpc, abs=1e-4)
    inside, stacked_inside = (m.inspect(PANGRAM * 2, units=["2.h.3"]) for m in (fused, stacked))
    assert inside.bpc == pytest.approx(stacked_inside.bpc, abs=1e-4)
    np.testing.assert_allclose(inside.to_json()["activations"]["2.h.3"],
                               stacked_inside.to_json()["activations"]["2.h.3"], atol=1e-5)
    fused.export(tmp_path / "fused", ["safetensors", "onnx"])
    stacked.export(tmp_path / "stacked", ["safetensors"])
    exported, expected = (load_file(tmp_path / f / "model.safetensors")
                          for f in ("fused", "stacked"))
    assert exported.keys() == expected.keys()
    for name in expected:
        np.testing.assert_array_equal(exported[name], expected[name])
