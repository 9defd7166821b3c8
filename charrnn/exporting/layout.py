"""A trained model's inference weights under PyTorch's names and shapes: the one extraction
that the safetensors file holds and the ONNX graph is built from.

MXNet's recurrent layers keep PyTorch's layout (LSTM gates i, f, g, o; GRU r, z, n with the
reset gate applied to the hidden product after its bias; twin biases b_ih and b_hh), so the
arrays are MXNet's as they are: `weight_ih_l0` (gates x input), `weight_hh_l0`, `bias_ih_l0`,
`bias_hh_l0` per layer, as torch.nn.LSTM/GRU/RNN name them; `embedding.weight` as
torch.nn.Embedding; `decoder.weight` (vocab x hidden) and `decoder.bias` as torch.nn.Linear.
Weight drop and embedding drop are training-time only: these are the weights inference uses,
and a tied decoder gets its own copy of the embedding.
"""
from __future__ import annotations

import numpy as np

from charrnn.models import UnrolledRNNModel
from charrnn.models.base import weights


def torch_weights(network) -> dict[str, np.ndarray]:
    """Every inference weight of `network` by its PyTorch name, float32, contiguous."""
    if isinstance(network, UnrolledRNNModel):
        found = {"embedding.weight": network.embedding.weight}
        for name in ("input", "hidden", "output"):
            layer = getattr(network, name)
            found[f"{name}.weight"], found[f"{name}.bias"] = layer.weight, layer.bias
    else:
        found = {"embedding.weight": network.embedding.weight}
        torch_names = {"i2h_weight": "weight_ih", "h2h_weight": "weight_hh",
                       "i2h_bias": "bias_ih", "h2h_bias": "bias_hh"}
        for k in range(network.num_layers):
            for mx_name, param in network.layer_params(k).items():
                found[f"rnn.{torch_names[mx_name]}_l{k}"] = param
        found["decoder.weight"], found["decoder.bias"] = (network.decoder.weight,
                                                          network.decoder.bias)
    return {name: np.ascontiguousarray(weights(p)) for name, p in found.items()}


def gate_blocks(array: np.ndarray, gates: int, order: list[int]) -> np.ndarray:
    """`array`'s rows (or entries) as `gates` equal blocks, put in `order`."""
    return np.concatenate([np.split(array, gates)[i] for i in order])
