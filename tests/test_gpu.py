"""On a GPU: train with the fused kernel, then sample and evaluate the run on the CPU."""
from __future__ import annotations

import mxnet as mx
import pytest

from .conftest import TINY_MODEL, invoke


def usable_gpu() -> str:
    """Why no GPU test can run here, or '' when one can."""
    if mx.context.num_gpus() == 0:
        return "no GPU that MXNet can use (CPU build, or no GPU)"
    from charrnn.machine.cuda import gpu_is_supported

    capability = mx.util.get_cuda_compute_capability(mx.gpu(0))
    return "" if gpu_is_supported(capability) else f"GPU 0 (cc {capability}) cannot run MXNet"


@pytest.mark.skipif(bool(usable_gpu()), reason=usable_gpu() or "a GPU is usable")
def test_a_run_trained_on_the_gpu_samples_and_evaluates_on_the_cpu(tiny_corpus, tmp_path):
    run = tmp_path / "run"
    trained = invoke("train", tiny_corpus, "--out", run, "--ctx", "gpu", "--epochs", "1",
                     "--layers", "2", *TINY_MODEL)
    assert trained.exit_code == 0, trained.output
    assert "gpu(0)" in trained.output
    assert invoke("generate", run, "--seed-text", "the", "--length", "20").exit_code == 0
    cpu = invoke("evaluate", run, "--ctx", "cpu")
    gpu = invoke("evaluate", run, "--ctx", "gpu")
    assert cpu.exit_code == gpu.exit_code == 0
    assert cpu.output.splitlines()[2] == gpu.output.splitlines()[2]  # bits/char, 4 decimals
