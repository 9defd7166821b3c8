"""What every model is: a Gluon HybridBlock with the one model protocol, and a step form.

The protocol maps `(inputs (T, B), state)` to `(logits (T*B, vocab), state)`, so training,
evaluation and generation are written once for all models. Generation then needs one
character at a time, and a call into MXNet costs far more than one character's arithmetic:
each model provides `stepper()`, a NumPy form of one step on its own weights; a model without
one gets `ForwardStepper`, one MXNet forward pass per character.
"""
from __future__ import annotations

from typing import List

import mxnet as mx
import numpy as np
from mxnet import gluon

# The state a model carries from one window to the next (see the protocol above).
State = List[mx.nd.NDArray]


class Stepper:
    """One character at a time: `set_state` from the model's state, then `step(ids)`;
    `get_state` gives it back in the model's layout (the server adds and drops rows)."""

    # Keep what each step computes for `activations()`: inspection turns it on for its own
    # copy of the stepper; generation and serving leave it off and pay nothing for it.
    recording = False

    def set_state(self, state: list[np.ndarray]) -> None:
        raise NotImplementedError

    def get_state(self) -> list[np.ndarray]:
        raise NotImplementedError

    def step(self, ids: np.ndarray) -> np.ndarray:
        """Logits (batch, vocab) after feeding one id per sample."""
        raise NotImplementedError

    def activations(self) -> list[dict[str, np.ndarray]]:
        """Per layer, what the last step computed, each (batch, units): the states (h, and c
        for an LSTM; the unrolled model's hidden layer) and the gates. `charrnn inspect`
        reads the model through this, so it needs no second implementation of the cells.
        Only a stepper that is `recording` has them."""
        if not self.recording:
            raise RuntimeError(f"{type(self).__name__}: set recording = True before stepping "
                               "to keep the activations")
        return self.recorded()

    def recorded(self) -> list[dict[str, np.ndarray]]:
        """What the last step kept (`activations`, which checks `recording` first)."""
        raise NotImplementedError(f"{type(self).__name__} does not show its activations")


class CharModel(gluon.HybridBlock):
    """The protocol: begin_state, state_info, forward(inputs, state) and stepper()."""

    def open_forget_gates(self, bias: float) -> None:
        """Only an LSTM has forget gates (GluonRNNModel)."""

    def begin_state(self, batch_size: int, ctx: mx.Context = None) -> State:
        ctx = ctx or mx.current_context()
        return [mx.nd.zeros(tuple(batch_size if d == 0 and i == info["__layout__"].find("N")
                                  else d for i, d in enumerate(info["shape"])), ctx=ctx)
                for info in self.state_info()]

    def state_info(self) -> list[dict]:
        raise NotImplementedError

    def stepper(self) -> Stepper:
        return ForwardStepper(self)


class ForwardStepper(Stepper):
    """The fallback: the model's own forward pass on one character per sample."""

    def __init__(self, model: CharModel):
        self.model = model
        self.ctx = next(iter(model.collect_params().values())).list_ctx()[0]
        self.state: State = []

    def set_state(self, state: list[np.ndarray]) -> None:
        self.state = [mx.nd.array(s, dtype=s.dtype, ctx=self.ctx) for s in state]

    def get_state(self) -> list[np.ndarray]:
        return [s.asnumpy() for s in self.state]

    def step(self, ids: np.ndarray) -> np.ndarray:
        inputs = mx.nd.array(np.asarray(ids)[None, :], dtype="float32", ctx=self.ctx)
        logits, self.state = self.model(inputs, self.state)
        return logits.asnumpy()


def weights(parameter: gluon.Parameter) -> np.ndarray:
    """A parameter as float32 NumPy, as inference sees it (weight drop is off there)."""
    return parameter.data().asnumpy().astype(np.float32)


def matmul(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """x @ w, by rows when there are 2 to 11: OpenBLAS's matrix product costs 150-600 us at so
    few rows (a 2 x 256 LSTM step of 2 rows: 674 us, by rows 187; of 8 rows: 596 against 468;
    equal at 12). One row is a matrix-vector product anyway."""
    if 1 < len(x) < 12:
        return np.stack([row @ w for row in x])
    return x @ w


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * np.tanh(0.5 * x) + 0.5


def hybridize(model: gluon.HybridBlock) -> gluon.HybridBlock:
    """Static allocation and shapes: measured 1.45-1.6x faster training steps on CPU."""
    model.hybridize(static_alloc=True, static_shape=True)
    return model


def trainable_parameters(model: gluon.Block) -> list[gluon.Parameter]:
    """The parameters a gradient step moves (tied weights once, as Gluon lists them)."""
    return [p for p in model.collect_params().values() if p.grad_req != "null"]


def count_parameters(model: gluon.Block) -> int:
    """From the declared shapes, so the model need not be initialised; tied weights once."""
    unique = {id(p): p for p in model.collect_params().values()}
    return sum(int(np.prod(p.shape)) for p in unique.values())
