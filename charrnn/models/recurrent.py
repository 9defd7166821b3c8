"""The recurrent models (LSTM, GRU, ReLU and tanh RNN) with AWD-LSTM's regularisation, and
their one-character step in NumPy."""
from __future__ import annotations

import re
import warnings

import mxnet as mx
import numpy as np
from gluonnlp.model import apply_weight_drop
from mxnet import gluon
from mxnet.gluon import nn, rnn

from charrnn.models.base import CharModel, Stepper, matmul, sigmoid, weights

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


class GluonRNNModel(CharModel):
    """Embedding, stacked recurrent layers, dense decoder, regularised as AWD-LSTM (Merity et
    al. 2018, after gluonnlp's AWDRNN).

    Parameters
    ----------
    mode : {'lstm', 'gru', 'rnn_relu', 'rnn_tanh'}
    vocab_size, embed_size, hidden_size, num_layers : int
    dropout : float
        Variational ("locked") dropout: one mask per sequence, the same at every time step, on
        the embedded input, between layers and before the decoder.
    weight_drop : float
        DropConnect on the hidden-to-hidden weights: one mask per step of training.
    embed_drop : float
        Drops whole characters: rows of the embedding, for every occurrence in a step.
    tie_weights : bool
        The decoder uses the embedding's weights (needs embed_size == hidden_size).
    fused : bool
        Run all layers in one fused kernel, for GPUs: cuDNN's multi-layer RNN is the fastest
        form there; it applies its own dropout between layers, per element rather than per
        sequence. On the CPU the layers are one-layer blocks stacked by hand, because MXNet's
        fused multi-layer CPU kernel (oneDNN) silently skips that dropout. Both forms save and
        load the same parameter file and carry the same state, so a model trained on a GPU
        samples on a CPU and the other way round.
    """

    def __init__(self, mode: str, vocab_size: int, embed_size: int, hidden_size: int,
                 num_layers: int, dropout: float, fused: bool = False,
                 weight_drop: float = 0.0, embed_drop: float = 0.0,
                 tie_weights: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.mode = mode
        self.num_layers = num_layers
        self.hidden_size = hidden_size
        self.states_per_layer = 2 if mode == "lstm" else 1
        self.fused = fused and num_layers > 1
        self._dropout = dropout
        with self.name_scope(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # gluon's unfused cells share the layers' weights
            self.embedding = nn.Embedding(vocab_size, embed_size)
            if embed_drop:
                apply_weight_drop(self.embedding, "weight", embed_drop, axes=(1,))
            self.layers = []
            if self.fused:
                self.rnn = _CELLS[mode](hidden_size, num_layers, embed_size, dropout)
            for i in range(0 if self.fused else num_layers):
                layer = _CELLS[mode](hidden_size, 1, embed_size if i == 0 else hidden_size)
                self.register_child(layer, f"rnn{i}")
                self.layers.append(layer)
            for layer in (self.layers or [self.rnn]) if weight_drop else []:
                apply_weight_drop(layer, r".*h2h_weight", weight_drop)
            # Made last, so that tied weights are the embedding's as weight drop left them.
            self.decoder = nn.Dense(vocab_size, flatten=False, in_units=hidden_size,
                                    params=self.embedding.params if tie_weights else None)

    def state_info(self) -> list[dict]:
        """Per layer (1, batch, hidden) arrays: h, or h and c for the LSTM, layer by layer."""
        return [{"shape": (1, 0, self.hidden_size), "__layout__": "LNC"}
                for _ in range(self.num_layers * self.states_per_layer)]

    def hybrid_forward(self, F, inputs, state):
        x = self._locked_dropout(F, self.embedding(inputs))
        if self.fused:
            x, new_state = self._fused_layers(F, x, state)
        else:
            new_state = []
            n = self.states_per_layer
            for i, layer in enumerate(self.layers):
                x, layer_state = layer(self._locked_dropout(F, x) if i else x,
                                       state[i * n:(i + 1) * n])
                new_state.extend(layer_state)
        logits = self.decoder(self._locked_dropout(F, x))
        return logits.reshape((-3, -1)), new_state

    def _locked_dropout(self, F, x):
        """One mask per sequence: shared along the time axis (0) of (T, B, C)."""
        return F.Dropout(x, p=self._dropout, axes=(0,)) if self._dropout else x

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

    def open_forget_gates(self, bias: float) -> None:
        """Set the forget gate's input bias (MXNet's LSTM gates: i, f, g, o) of every layer,
        after initialisation: a positive bias keeps the memory while the weights are young."""
        if self.mode != "lstm":
            return
        h = self.hidden_size
        for name, param in self.collect_params().items():
            if name.endswith("i2h_bias"):
                for data in param.list_data():
                    data[h:2 * h] = bias

    def layer_params(self, layer: int) -> dict[str, gluon.Parameter]:
        """Layer `layer`'s i2h_weight, h2h_weight, i2h_bias and h2h_bias (MXNet's gate order),
        in either form: the NumPy step, inspection and export read the model through this."""
        block, prefix = (self.rnn, f"l{layer}_") if self.fused else (self.layers[layer], "l0_")
        return {name: getattr(block, prefix + name)
                for name in ("i2h_weight", "h2h_weight", "i2h_bias", "h2h_bias")}

    def stepper(self) -> Stepper:
        return RecurrentStepper(self)


class RecurrentStepper(Stepper):
    """LSTM, GRU and vanilla RNN layers in NumPy on a state of (batch, hidden) arrays.

    The first layer's input projection is folded into a table per character, so a step starts
    with a row lookup instead of a matrix product. An LSTM's sigmoid gates are computed as
    sigmoid(x) = (tanh(x / 2) + 1) / 2 with the halving folded into their weights, so one tanh
    over all four gates serves them and the candidate gate alike.
    """

    def __init__(self, model: GluonRNNModel):
        self.mode = model.mode
        embedding = weights(model.embedding.weight)
        self.layers = []
        for i in range(model.num_layers):
            w_ih, w_hh, b_ih, b_hh = (weights(p) for p in model.layer_params(i).values())
            if self.mode != "gru":  # GRU keeps b_hh apart: the reset gate multiplies it
                b_ih, b_hh = b_ih + b_hh, np.zeros_like(b_hh)
            if self.mode == "lstm":  # gates i, f, g, o: halve all but g (see above)
                half = np.repeat(np.float32([0.5, 0.5, 1.0, 0.5]), len(w_hh) // 4)
                w_ih, w_hh, b_ih = w_ih * half[:, None], w_hh * half[:, None], b_ih * half
            table = embedding @ w_ih.T + b_ih if i == 0 else None
            self.layers.append((table, np.ascontiguousarray(w_ih.T), b_ih,
                                np.ascontiguousarray(w_hh.T), b_hh))
        self.w_out = np.ascontiguousarray(weights(model.decoder.weight).T)
        self.b_out = weights(model.decoder.bias)
        self.state: list[np.ndarray] = []
        self.seen: list[dict[str, np.ndarray]] = []

    def set_state(self, state: list[np.ndarray]) -> None:
        """From the MXNet state: per layer (1, batch, hidden) arrays, h (and c for LSTM)."""
        self.state = [s.reshape(s.shape[1:]).astype(np.float32) for s in state]

    def get_state(self) -> list[np.ndarray]:
        return [s[None] for s in self.state]

    def recorded(self) -> list[dict[str, np.ndarray]]:
        return self.seen

    def step(self, ids: np.ndarray) -> np.ndarray:
        per_layer = 2 if self.mode == "lstm" else 1
        x = None
        seen = self.seen = []
        for i, (table, w_ih, b_ih, w_hh, b_hh) in enumerate(self.layers):
            projected = table[ids] if i == 0 else matmul(x, w_ih) + b_ih
            h = self.state[i * per_layer]
            if self.mode == "lstm":
                c = self.state[i * per_layer + 1]
                n = h.shape[1]
                tanh = np.tanh(projected + matmul(h, w_hh))
                sig = 0.5 * tanh + 0.5  # the sigmoid of gates i, f and o
                c = sig[:, n:2 * n] * c + sig[:, :n] * tanh[:, 2 * n:3 * n]
                h = sig[:, 3 * n:] * np.tanh(c)
                self.state[i * 2 + 1] = c
                if self.recording:
                    seen.append({"c": c, "h": h, "input": sig[:, :n],
                                 "forget": sig[:, n:2 * n], "output": sig[:, 3 * n:]})
            elif self.mode == "gru":
                recurrent = matmul(h, w_hh) + b_hh
                n = h.shape[1]
                rz = sigmoid(projected[:, :2 * n] + recurrent[:, :2 * n])
                candidate = np.tanh(projected[:, 2 * n:] + rz[:, :n] * recurrent[:, 2 * n:])
                z = rz[:, n:]
                h = (1 - z) * candidate + z * h
                if self.recording:
                    seen.append({"h": h, "reset": rz[:, :n], "update": z})
            else:
                h = projected + matmul(h, w_hh)
                h = np.maximum(h, 0) if self.mode == "rnn_relu" else np.tanh(h)
                if self.recording:
                    seen.append({"h": h})
            self.state[i * per_layer] = h
            x = h
        return matmul(x, self.w_out) + self.b_out


def fused_for(contexts: list[mx.Context]) -> bool:
    """The fused multi-layer kernel on GPUs only (see GluonRNNModel)."""
    return all(ctx.device_type == "gpu" for ctx in contexts)

