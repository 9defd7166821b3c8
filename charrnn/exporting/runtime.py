"""A model's ONNX step graph (onnx_graph.py) run by onnxruntime behind the step form's
interface (models/base.py: set_state, step, get_state), so that the server's batcher steps it
in place of the NumPy step.

At batch 8 onnxruntime's LSTM step was 3.2-3.6x the NumPy one here (2 x 256: 315 against
1,001 us); at batch 1 they are even, so `generate` keeps NumPy. One intra-op thread, as the
batcher gives NumPy's BLAS: the other cores serve HTTP or other workers.
"""
from __future__ import annotations

import numpy as np

from charrnn.errors import CharrnnError, UsageError
from charrnn.exporting.layout import torch_weights
from charrnn.exporting.onnx_graph import onnx_model
from charrnn.models import CharModel
from charrnn.models.base import Stepper

ENGINES = ("auto", "onnxruntime", "numpy")


def available() -> bool:
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def choose(engine: str) -> str:
    """The engine that steps: "auto" is onnxruntime where it is installed, else NumPy."""
    if engine not in ENGINES:
        raise UsageError(f"--engine {engine} is not one of {', '.join(ENGINES)}.")
    if engine == "auto":
        return "onnxruntime" if available() else "numpy"
    if engine == "onnxruntime" and not available():
        raise CharrnnError("--engine onnxruntime needs onnxruntime and onnx (the serve extra): "
                           "pip install 'charrnn[serve]', or use --engine numpy.")
    return engine


class OnnxStepper(Stepper):
    """The step graph in an onnxruntime session; the state in the model's layout."""

    def __init__(self, network: CharModel, config: dict, vocab: list[str]):
        import onnxruntime

        graph = onnx_model(torch_weights(network), config, vocab, config["layers"])
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = 1
        self.session = onnxruntime.InferenceSession(graph.SerializeToString(), options,
                                                    providers=["CPUExecutionProvider"])
        inputs = self.session.get_inputs()[1:]  # after "chars": the state, in the model's order
        self.names = [i.name for i in inputs]
        self.types = [np.int64 if i.type == "tensor(int64)" else np.float32 for i in inputs]
        self.state: list[np.ndarray] = []

    def set_state(self, state: list[np.ndarray]) -> None:
        self.state = [np.asarray(s) for s in state]

    def get_state(self) -> list[np.ndarray]:
        return self.state

    def step(self, ids: np.ndarray) -> np.ndarray:
        feeds = {"chars": np.asarray(ids, np.int64)[None, :]}
        feeds.update((name, s.astype(kind, copy=False))
                     for name, kind, s in zip(self.names, self.types, self.state))
        logits, *state = self.session.run(None, feeds)
        # The model's layout keeps float32 (the unrolled model's two previous ids included).
        self.state = [s.astype(np.float32, copy=False) for s in state]
        return logits[0]
