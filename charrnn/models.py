"""The models. Every one maps `(inputs (T, B), state)` to `(logits (T*B, vocab), state)`.

Because recurrent and unrolled models share that protocol, training, evaluation and generation
are written once and the comparison between them is fair by construction.
"""
from __future__ import annotations

import re
from typing import List

import mxnet as mx
import numpy as np
from mxnet import gluon
from mxnet.gluon import nn, rnn

from charrnn.config import ModelConfig

# The state a model carries from one window to the next (see the protocol above).
State = List[mx.nd.NDArray]

_CELLS = {
    "lstm": lambda hidden, layers, inputs, dropout=0.0: rnn.LSTM(
        hidden, layers, dropout=dropout, input_size=inputs),
    "gru": lambda hidden, layers, inputs, dropout=0.0: rnn.GRU(
        hidden, layers, dropout=dropout, input_size=inputs),
    "rnn_relu": lambda hidden, layers, inputs, dropout=0.0: rnn.RNN(
        hidden, layers, activation="relu", dropout=dropout, input_size=inputs),
    "rnn_tanh": lambda hidden, layers, inputs, dropout=0.0: rnn.RNN(
        hidden, layers, activation="tanh", dropout=dropout, input_size=inputs),
}
# A fused layer's parameters (and the unfused cells gluon registers beside them, which share
# them), by layer: rnn.l1_h2h_weight, rnn._unfused.1.h2h_weight.
_FUSED_NAME = re.compile(r"^rnn\.(?:l(\d+)_|_unfused\.(\d+)\.)(.*)$")


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
    fused : bool
        Run all layers in one fused kernel, for GPUs: cuDNN's multi-layer RNN is the fastest
        form there and applies the dropout between layers. On the CPU the layers are one-layer
        blocks stacked by hand, because MXNet's fused multi-layer CPU kernel (oneDNN) silently
        skips that dropout. Both forms save and load the same parameter file and carry the
        same state, so a model trained on a GPU samples on a CPU and the other way round.
    """

    def __init__(self, mode: str, vocab_size: int, embed_size: int, hidden_size: int,
                 num_layers: int, dropout: float, fused: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.mode = mode
        self.num_layers = num_layers
        self.states_per_layer = 2 if mode == "lstm" else 1
        self.fused = fused and num_layers > 1
        with self.name_scope():
            self.embedding = nn.Embedding(vocab_size, embed_size)
            self.layers = []
            if self.fused:
                self.rnn = _CELLS[mode](hidden_size, num_layers, embed_size, dropout)
            for i in range(0 if self.fused else num_layers):
                layer = _CELLS[mode](hidden_size, 1, embed_size if i == 0 else hidden_size)
                self.register_child(layer, f"rnn{i}")
                self.layers.append(layer)
            self.dropout = nn.Dropout(dropout)
            self.decoder = nn.Dense(vocab_size, flatten=False, in_units=hidden_size)

    def begin_state(self, batch_size: int, ctx: mx.Context = None) -> State:
        ctx = ctx or mx.current_context()
        return [mx.nd.zeros((1, batch_size, info["shape"][2]), ctx=ctx)
                for info in self.state_info()]

    def state_info(self) -> list[dict]:
        """Per layer (1, batch, hidden) arrays: h, or h and c for the LSTM, layer by layer."""
        hidden = self.decoder._in_units
        return [{"shape": (1, 0, hidden), "__layout__": "LNC"}
                for _ in range(self.num_layers * self.states_per_layer)]

    def hybrid_forward(self, F, inputs, state):
        x = self.dropout(self.embedding(inputs))
        if self.fused:
            x, new_state = self._fused_layers(F, x, state)
        else:
            new_state = []
            n = self.states_per_layer
            for i, layer in enumerate(self.layers):
                x, layer_state = layer(self.dropout(x) if i else x, state[i * n:(i + 1) * n])
                new_state.extend(layer_state)
        logits = self.decoder(self.dropout(x))
        return logits.reshape((-3, -1)), new_state

    def _fused_layers(self, F, x, state):
        """One kernel for all layers; the per-layer states are joined along the layer axis and
        split again, so the state is the same as the stacked form's."""
        n, layers = self.states_per_layer, self.num_layers
        joined = [F.concat(*state[k::n], dim=0) for k in range(n)]
        x, outputs = self.rnn(x, joined)
        parts = [F.split(out, num_outputs=layers, axis=0) for out in outputs]
        return x, [parts[k][i] for i in range(layers) for k in range(n)]

    def _collect_params_with_prefix(self, prefix=""):
        """The stacked form's names (rnn1.l0_h2h_weight) for the fused form's parameters
        (rnn.l1_h2h_weight): one parameter file for both."""
        params = super()._collect_params_with_prefix(prefix)
        if not self.fused:
            return params
        renamed = {}
        for name, param in params.items():
            match = _FUSED_NAME.match(name[len(prefix):])
            if match:
                layer, cell, rest = match.groups()
                name = (f"{prefix}rnn{layer}.l0_{rest}" if layer is not None else
                        f"{prefix}rnn{cell}._unfused.0.{rest}")
            renamed[name] = param
        return renamed


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


def build_model(config: ModelConfig, fused: bool = False) -> gluon.HybridBlock:
    """The model `config` describes; `fused` for GPUs (see GluonRNNModel)."""
    if config.model == "unrolled":
        return UnrolledRNNModel(config.vocab_size, config.embed, config.hidden)
    return GluonRNNModel(config.model, config.vocab_size, config.embed, config.hidden,
                         config.layers, config.dropout, fused)


def fused_for(contexts: list[mx.Context]) -> bool:
    """The fused multi-layer kernel on GPUs only (see GluonRNNModel)."""
    return all(ctx.device_type == "gpu" for ctx in contexts)


def hybridize(model: gluon.HybridBlock) -> gluon.HybridBlock:
    """Static allocation and shapes: measured 1.45-1.6x faster training steps on CPU."""
    model.hybridize(static_alloc=True, static_shape=True)
    return model


def count_parameters(model: gluon.Block) -> int:
    """From the declared shapes, so the model need not be initialised."""
    return sum(int(np.prod(p.shape)) for p in model.collect_params().values())
