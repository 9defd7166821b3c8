"""A trained model as an ONNX step graph, written with the onnx package's helper API (not
MXNet's mx2onnx, which works only with onnx <= 1.12: no wheels for Python 3.11+).

The graph takes `chars` (int64, [T, B]) and the state (per layer h, and c for an LSTM, each
[1, B, hidden]; the unrolled model: the two previous characters, int64 [2, B]) and returns
`logits` ([T, B, vocab]) and the new state, named with a `_out` suffix: call it again with
them to go on. Opset 17 and IR version 8: onnxruntime reads both from release 1.13 (2022) on,
on every Python charrnn supports.

The recurrent layers are ONNX's own operators, their weights reordered from PyTorch's layout
(layout.py), following the operator documents (https://onnx.ai/onnx/operators/):
- LSTM: gates i, o, f, c (PyTorch: i, f, g, o); B is [Wb, Rb] concatenated.
- GRU: gates z, r, h (PyTorch: r, z, n), linear_before_reset=1: the reset gate multiplies
  (H R_h^T + Rb_h), as PyTorch's and MXNet's GRU do.
- RNN: activation Tanh or Relu.
"""
from __future__ import annotations

import json

import numpy as np

from charrnn.exporting.layout import gate_blocks

OPSET = 17
IR_VERSION = 8
# Gate blocks of PyTorch's layout, in the order ONNX's operator wants them.
GATE_ORDER = {"lstm": (4, [0, 3, 1, 2]), "gru": (3, [1, 0, 2]), "rnn_relu": (1, [0]),
              "rnn_tanh": (1, [0])}
LAST = np.iinfo(np.int64).max  # Slice's "to the end"


def onnx_model(weights: dict[str, np.ndarray], config: dict, vocab: list[str], layers: int):
    """The ModelProto of a model: `config` is config.json's "model", `weights` torch_weights."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    graph = _Graph(helper, numpy_helper)
    mode = config["model"]
    chars = helper.make_tensor_value_info("chars", TensorProto.INT64, ["T", "B"])
    inputs, outputs = [chars], []
    if mode == "unrolled":
        previous = helper.make_tensor_value_info("previous", TensorProto.INT64, [2, "B"])
        inputs.append(previous)
        logits = _unrolled(graph, weights)
        outputs.append(helper.make_tensor_value_info("previous_out", TensorProto.INT64,
                                                     [2, "B"]))
    else:
        names = [f"{kind}{k}" for k in range(layers) for kind in
                 (("h", "c") if mode == "lstm" else ("h",))]
        hidden = config["hidden"]
        inputs += [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, "B", hidden])
                   for n in names]
        logits = _recurrent(graph, weights, mode, layers)
        outputs += [helper.make_tensor_value_info(f"{n}_out", TensorProto.FLOAT,
                                                  [1, "B", hidden]) for n in names]
    outputs.insert(0, helper.make_tensor_value_info(logits, TensorProto.FLOAT,
                                                    ["T", "B", len(vocab)]))
    model = helper.make_model(
        helper.make_graph(graph.nodes, "charrnn", inputs, outputs, graph.initializers),
        opset_imports=[helper.make_opsetid("", OPSET)], producer_name="charrnn",
        doc_string="charrnn character model: logits of the next character after each of "
                   "chars, from the state given; feed the *_out state back to go on.")
    model.ir_version = IR_VERSION
    helper.set_model_props(model, {"charrnn_config": json.dumps(config),
                                   "vocab": json.dumps(vocab, ensure_ascii=False)})
    onnx.checker.check_model(model)
    return model


class _Graph:
    """Nodes and initializers, added in order; each node's outputs named after it."""

    def __init__(self, helper, numpy_helper):
        self.helper, self.numpy_helper = helper, numpy_helper
        self.nodes, self.initializers, self.count = [], [], 0

    def constant(self, name: str, value: np.ndarray) -> str:
        """An initializer, added once however often it is used."""
        if name not in {tensor.name for tensor in self.initializers}:
            self.initializers.append(self.numpy_helper.from_array(np.asarray(value), name))
        return name

    def node(self, op: str, inputs: list[str], outputs: list[str] | None = None,
             **attributes) -> str:
        """Add a node; the name of its (first) output."""
        self.count += 1
        names = outputs or [f"{op.lower()}{self.count}"]
        self.nodes.append(self.helper.make_node(op, inputs, names, **attributes))
        return names[0]

    def dense(self, x: str, weights: dict[str, np.ndarray], name: str, relu: bool) -> str:
        """x @ W^T + b (torch.nn.Linear), then ReLU if asked."""
        w = self.constant(f"{name}.weight_t", weights[f"{name}.weight"].T.copy())
        b = self.constant(f"{name}.bias", weights[f"{name}.bias"])
        y = self.node("Add", [self.node("MatMul", [x, w]), b])
        return self.node("Relu", [y]) if relu else y


def _recurrent(graph: _Graph, weights: dict[str, np.ndarray], mode: str, layers: int) -> str:
    x = graph.node("Gather", [graph.constant("embedding.weight", weights["embedding.weight"]),
                              "chars"])
    gates, order = GATE_ORDER[mode]
    squeeze_axes = graph.constant("axis_1", np.array([1], dtype=np.int64))
    for k in range(layers):
        w, r = (gate_blocks(weights[f"rnn.weight_{kind}_l{k}"], gates, order)[None]
                for kind in ("ih", "hh"))
        b = np.concatenate([gate_blocks(weights[f"rnn.bias_{kind}_l{k}"], gates, order)
                            for kind in ("ih", "hh")])[None]
        names = [graph.constant(f"W{k}", w), graph.constant(f"R{k}", r),
                 graph.constant(f"B{k}", b), ""]
        hidden = w.shape[1] // gates
        if mode == "lstm":
            y = graph.node("LSTM", [x, *names, f"h{k}", f"c{k}"],
                           [f"y{k}", f"h{k}_out", f"c{k}_out"], hidden_size=hidden)
        elif mode == "gru":
            y = graph.node("GRU", [x, *names, f"h{k}"], [f"y{k}", f"h{k}_out"],
                           hidden_size=hidden, linear_before_reset=1)
        else:
            activation = "Relu" if mode == "rnn_relu" else "Tanh"
            y = graph.node("RNN", [x, *names, f"h{k}"], [f"y{k}", f"h{k}_out"],
                           hidden_size=hidden, activations=[activation])
        x = graph.node("Squeeze", [y, squeeze_axes])  # [T, 1, B, H] -> [T, B, H]
    return graph.node("Add", [graph.node("MatMul", [x, graph.constant(
        "decoder.weight_t", weights["decoder.weight"].T.copy())]), graph.constant(
        "decoder.bias", weights["decoder.bias"])], ["logits"])


def _unrolled(graph: _Graph, weights: dict[str, np.ndarray]) -> str:
    """The three-character model over the two previous characters and `chars` (unrolled.py):
    hidden = relu(relu(first W_hh + b) + second) W_hh + b) + third, first to third being
    each window's characters through the shared input layer."""
    text = graph.node("Concat", ["previous", "chars"], axis=0)
    projected = graph.dense(graph.node("Gather", [graph.constant(
        "embedding.weight", weights["embedding.weight"]), text]), weights, "input", relu=True)
    axis = graph.constant("axis_0", np.array([0], dtype=np.int64))

    def rows(start: int, end: int, of: str = projected) -> str:
        return graph.node("Slice", [of, graph.constant(f"from_{start}", np.array([start])),
                                    graph.constant(f"to_{end}", np.array([end])), axis])

    first, second, third = rows(0, -2), rows(1, -1), rows(2, LAST)
    hidden = graph.node("Add", [graph.dense(first, weights, "hidden", relu=True), second])
    hidden = graph.node("Add", [graph.dense(hidden, weights, "hidden", relu=True), third])
    graph.node("Identity", [rows(-2, LAST, text)], ["previous_out"])
    logits = graph.dense(hidden, weights, "output", relu=False)
    return graph.node("Identity", [logits], ["logits"])
