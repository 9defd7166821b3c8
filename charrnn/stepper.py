"""One step of a trained model in NumPy, for sampling on the CPU.

A call into MXNet costs far more than one character's arithmetic, so per-character generation
through MXNet is slow; these steppers run the same equations on the model's own weights (a test
checks them against the MXNet forward pass). The first layer's input projection is folded into
a table per character, so a step starts with a row lookup instead of a matrix product.
"""
from __future__ import annotations

import numpy as np
from mxnet import gluon

from charrnn.models import GluonRNNModel, UnrolledRNNModel


def _array(parameter: gluon.Parameter) -> np.ndarray:
    return parameter.data().asnumpy().astype(np.float32)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * np.tanh(0.5 * x) + 0.5


class RecurrentStepper:
    """LSTM, GRU and vanilla RNN layers: `step(ids) -> logits` on a state of (batch, hidden)."""

    def __init__(self, model: GluonRNNModel):
        self.mode = model.mode
        embedding = _array(model.embedding.weight)
        self.layers = []
        for i, layer in enumerate(model.layers):
            w_ih, w_hh = _array(layer.l0_i2h_weight), _array(layer.l0_h2h_weight)
            b_ih, b_hh = _array(layer.l0_i2h_bias), _array(layer.l0_h2h_bias)
            if self.mode != "gru":  # GRU keeps b_hh apart: the reset gate multiplies it
                b_ih, b_hh = b_ih + b_hh, np.zeros_like(b_hh)
            table = embedding @ w_ih.T + b_ih if i == 0 else None
            self.layers.append((table, np.ascontiguousarray(w_ih.T), b_ih,
                                np.ascontiguousarray(w_hh.T), b_hh))
        self.w_out = np.ascontiguousarray(_array(model.decoder.weight).T)
        self.b_out = _array(model.decoder.bias)
        self.state: list[np.ndarray] = []

    def set_state(self, state: list[np.ndarray]) -> None:
        """From the MXNet state: per layer (1, batch, hidden) arrays, h (and c for LSTM)."""
        self.state = [s.reshape(s.shape[1:]).astype(np.float32) for s in state]

    def step(self, ids: np.ndarray) -> np.ndarray:
        per_layer = 2 if self.mode == "lstm" else 1
        x = None
        for i, (table, w_ih, b_ih, w_hh, b_hh) in enumerate(self.layers):
            projected = table[ids] if i == 0 else x @ w_ih + b_ih
            h = self.state[i * per_layer]
            if self.mode == "lstm":
                c = self.state[i * per_layer + 1]
                gates = projected + h @ w_hh
                n = h.shape[1]
                sig = _sigmoid(gates)
                c = sig[:, n:2 * n] * c + sig[:, :n] * np.tanh(gates[:, 2 * n:3 * n])
                h = sig[:, 3 * n:] * np.tanh(c)
                self.state[i * 2 + 1] = c
            elif self.mode == "gru":
                recurrent = h @ w_hh + b_hh
                n = h.shape[1]
                rz = _sigmoid(projected[:, :2 * n] + recurrent[:, :2 * n])
                candidate = np.tanh(projected[:, 2 * n:] + rz[:, :n] * recurrent[:, 2 * n:])
                z = rz[:, n:]
                h = (1 - z) * candidate + z * h
            else:
                h = projected + h @ w_hh
                h = np.maximum(h, 0) if self.mode == "rnn_relu" else np.tanh(h)
            self.state[i * per_layer] = h
            x = h
        return x @ self.w_out + self.b_out


class UnrolledStepper:
    """The three-character model: its state is the two previous ids of each sample."""

    def __init__(self, model: UnrolledRNNModel):
        embedding = _array(model.embedding.weight)
        # The shared input layer only ever sees one of |vocab| embeddings: tabulate it.
        self.inputs = np.maximum(embedding @ _array(model.input.weight).T
                                 + _array(model.input.bias), 0)
        self.w_hh = np.ascontiguousarray(_array(model.hidden.weight).T)
        self.b_hh = _array(model.hidden.bias)
        self.w_out = np.ascontiguousarray(_array(model.output.weight).T)
        self.b_out = _array(model.output.bias)
        self.previous = np.zeros((1, 2), dtype=np.int64)

    def set_state(self, state: list[np.ndarray]) -> None:
        """From the MXNet state: a (2, batch) array of the previous two ids."""
        self.previous = state[0].T.astype(np.int64)

    def step(self, ids: np.ndarray) -> np.ndarray:
        first, second = self.previous[:, 0], self.previous[:, 1]
        hidden = np.maximum(self.inputs[first] @ self.w_hh + self.b_hh, 0)
        hidden += self.inputs[second]
        hidden = np.maximum(hidden @ self.w_hh + self.b_hh, 0) + self.inputs[ids]
        self.previous = np.stack([second, ids], axis=1)
        return hidden @ self.w_out + self.b_out


def make_stepper(model: gluon.HybridBlock):
    if isinstance(model, UnrolledRNNModel):
        return UnrolledStepper(model)
    return RecurrentStepper(model)
