"""The three-character feed-forward baseline of the classic tutorial, and its NumPy step."""
from __future__ import annotations

import mxnet as mx
import numpy as np
from mxnet.gluon import nn

from charrnn.models.base import CharModel, State, Stepper, weights


class UnrolledRNNModel(CharModel):
    """Each of the three characters goes through one shared input layer; a hidden-to-hidden
    layer chains them (h = W_hh(h) + input); an output layer predicts the next character. Its
    "state" is the two characters before `inputs` in each column, so it predicts every
    position at once and runs through the same training, evaluation and generation code as
    the recurrent models.
    """

    context = 3

    def __init__(self, vocab_size: int, embed_size: int, hidden_size: int, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.embedding = nn.Embedding(vocab_size, embed_size)
            self.input = nn.Dense(hidden_size, activation="relu", flatten=False,
                                  in_units=embed_size)
            self.hidden = nn.Dense(hidden_size, activation="relu", flatten=False,
                                   in_units=hidden_size)
            self.output = nn.Dense(vocab_size, flatten=False, in_units=hidden_size)

    def begin_state(self, batch_size: int, ctx: mx.Context = None) -> State:
        """Two characters of id 0 before the text: the smallest character, usually newline."""
        return [mx.nd.zeros((self.context - 1, batch_size), ctx=ctx or mx.current_context())]

    def state_info(self) -> list[dict]:
        return [{"shape": (self.context - 1, 0), "__layout__": "TN"}]

    def hybrid_forward(self, F, inputs, state):
        text = F.concat(state[0], inputs, dim=0)                     # (T + 2, B)
        projected = self.input(self.embedding(text))                  # (T + 2, B, H)
        first = F.slice_axis(projected, axis=0, begin=0, end=-2)
        second = F.slice_axis(projected, axis=0, begin=1, end=-1)
        third = F.slice_axis(projected, axis=0, begin=2, end=None)
        hidden = self.hidden(self.hidden(first) + second) + third
        logits = self.output(hidden).reshape((-3, -1))
        return logits, [F.slice_axis(text, axis=0, begin=-(self.context - 1), end=None)]

    def stepper(self) -> Stepper:
        return UnrolledStepper(self)


class UnrolledStepper(Stepper):
    """Its state is the two previous ids of each sample."""

    def __init__(self, model: UnrolledRNNModel):
        embedding = weights(model.embedding.weight)
        # The shared input layer only ever sees one of |vocab| embeddings: tabulate it.
        self.inputs = np.maximum(embedding @ weights(model.input.weight).T
                                 + weights(model.input.bias), 0)
        self.w_hh = np.ascontiguousarray(weights(model.hidden.weight).T)
        self.b_hh = weights(model.hidden.bias)
        self.w_out = np.ascontiguousarray(weights(model.output.weight).T)
        self.b_out = weights(model.output.bias)
        self.previous = np.zeros((1, 2), dtype=np.int64)
        self.hidden = np.zeros((1, len(self.b_hh)), dtype=np.float32)

    def set_state(self, state: list[np.ndarray]) -> None:
        """From the MXNet state: a (2, batch) array of the previous two ids."""
        self.previous = state[0].T.astype(np.int64)

    def get_state(self) -> list[np.ndarray]:
        return [self.previous.T.astype(np.float32)]

    def step(self, ids: np.ndarray) -> np.ndarray:
        first, second = self.previous[:, 0], self.previous[:, 1]
        hidden = np.maximum(self.inputs[first] @ self.w_hh + self.b_hh, 0)
        hidden += self.inputs[second]
        hidden = np.maximum(hidden @ self.w_hh + self.b_hh, 0) + self.inputs[ids]
        self.previous = np.stack([second, ids], axis=1)
        self.hidden = hidden
        return hidden @ self.w_out + self.b_out

    def recorded(self) -> list[dict[str, np.ndarray]]:
        return [{"hidden": self.hidden}]
