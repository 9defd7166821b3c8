"""The models. Every one maps `(inputs (T, B), state)` to `(logits (T*B, vocab), state)`.

Because recurrent and unrolled models share that protocol, training, evaluation and generation
are written once and the comparison between them is fair by construction.
"""
from __future__ import annotations

from typing import List

import mxnet as mx
import numpy as np
from mxnet import gluon
from mxnet.gluon import nn, rnn

from charrnn.config import ModelConfig

# The state a model carries from one window to the next (see the protocol above).
State = List[mx.nd.NDArray]

_CELLS = {
    "lstm": lambda hidden, inputs: rnn.LSTM(hidden, 1, input_size=inputs),
    "gru": lambda hidden, inputs: rnn.GRU(hidden, 1, input_size=inputs),
    "rnn_relu": lambda hidden, inputs: rnn.RNN(hidden, 1, activation="relu", input_size=inputs),
    "rnn_tanh": lambda hidden, inputs: rnn.RNN(hidden, 1, activation="tanh", input_size=inputs),
}


class GluonRNNModel(gluon.HybridBlock):
    """Embedding, stacked recurrent layers, dense decoder; dropout after the embedding, between
    the layers and before the decoder (as in gluonnlp's StandardRNN).

    Parameters
    ----------
    mode : {'lstm', 'gru', 'rnn_relu', 'rnn_tanh'}
    vocab_size, embed_size, hidden_size, num_layers : int
    dropout : float
        Applied to the embedded input, between recurrent layers and before the decoder, in
        training mode only.

    The layers are one-layer blocks stacked by hand: MXNet's fused multi-layer CPU kernel
    (oneDNN) silently skips the dropout between layers.
    """

    def __init__(self, mode: str, vocab_size: int, embed_size: int, hidden_size: int,
                 num_layers: int, dropout: float, **kwargs):
        super().__init__(**kwargs)
        self.mode = mode
        self.states_per_layer = 2 if mode == "lstm" else 1
        with self.name_scope():
            self.embedding = nn.Embedding(vocab_size, embed_size)
            self.layers = []
            for i in range(num_layers):
                layer = _CELLS[mode](hidden_size, embed_size if i == 0 else hidden_size)
                self.register_child(layer, f"rnn{i}")
                self.layers.append(layer)
            self.dropout = nn.Dropout(dropout)
            self.decoder = nn.Dense(vocab_size, flatten=False, in_units=hidden_size)

    def begin_state(self, batch_size: int, ctx: mx.Context = None) -> list[mx.nd.NDArray]:
        ctx = ctx or mx.current_context()
        return [s for layer in self.layers for s in layer.begin_state(batch_size, ctx=ctx)]

    def state_info(self) -> list[dict]:
        return [s for layer in self.layers for s in layer.state_info()]

    def hybrid_forward(self, F, inputs, state):
        x = self.embedding(inputs)
        new_state = []
        n = self.states_per_layer
        for i, layer in enumerate(self.layers):
            x, layer_state = layer(self.dropout(x), state[i * n:(i + 1) * n])
            new_state.extend(layer_state)
        logits = self.decoder(self.dropout(x))
        return logits.reshape((-3, -1)), new_state


class UnrolledRNNModel(gluon.HybridBlock):
    """The three-character feed-forward baseline of the classic tutorial.

    Each of the three characters goes through one shared input layer; a hidden-to-hidden layer
    chains them (h = W_hh(h) + input); an output layer predicts the next character. Its "state"
    is the two characters before `inputs` in each column, so it predicts every position at once
    and runs through the same training, evaluation and generation code as the recurrent models.
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

    def begin_state(self, batch_size: int, ctx: mx.Context = None) -> list[mx.nd.NDArray]:
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


def build_model(config: ModelConfig) -> gluon.HybridBlock:
    if config.model == "unrolled":
        return UnrolledRNNModel(config.vocab_size, config.embed, config.hidden)
    return GluonRNNModel(config.model, config.vocab_size, config.embed, config.hidden,
                         config.layers, config.dropout)


def hybridize(model: gluon.HybridBlock) -> gluon.HybridBlock:
    """Static allocation and shapes: measured 1.45-1.6x faster training steps on CPU."""
    model.hybridize(static_alloc=True, static_shape=True)
    return model


def count_parameters(model: gluon.Block) -> int:
    """From the declared shapes, so the model need not be initialised."""
    return sum(int(np.prod(p.shape)) for p in model.collect_params().values())
