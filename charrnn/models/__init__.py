"""The models. Every one maps `(inputs (T, B), state)` to `(logits (T*B, vocab), state)` and
has a one-character step form (see base.py).

Because recurrent and unrolled models share that protocol, training, evaluation and generation
are written once and the comparison between them is fair by construction. What every model
does with text is here too: scoring it (evaluation, scores) and continuing it (generation).

May import: charrnn.errors, config, machine, text.
"""
from __future__ import annotations

import mxnet as mx

from charrnn.config import ModelConfig
from charrnn.models.base import (
    CharModel,
    ForwardStepper,
    State,
    Stepper,
    count_parameters,
    hybridize,
    trainable_parameters,
)
from charrnn.models.recurrent import GluonRNNModel, fused_for
from charrnn.models.unrolled import UnrolledRNNModel

__all__ = [
    "CharModel",
    "ForwardStepper",
    "GluonRNNModel",
    "State",
    "Stepper",
    "UnrolledRNNModel",
    "build_model",
    "count_parameters",
    "evaluation",
    "fused_for",
    "generation",
    "hybridize",
    "initialize",
    "scores",
    "trainable_parameters",
]


def build_model(config: ModelConfig, fused: bool = False) -> CharModel:
    """The model `config` describes; `fused` for GPUs (see GluonRNNModel)."""
    if config.model == "unrolled":
        return UnrolledRNNModel(config.vocab_size, config.embed, config.hidden)
    return GluonRNNModel(config.model, config.vocab_size, config.embed, config.hidden,
                         config.layers, config.dropout, fused, config.weight_drop,
                         config.embed_drop, config.tie_weights)


def initialize(model: CharModel, contexts: list[mx.Context], seed: int,
               forget_bias: float = 0.0) -> CharModel:
    """Fresh weights drawn from `seed` (Xavier; the forget gates' bias opened by
    `forget_bias`), and the model hybridized."""
    mx.random.seed(seed)
    model.initialize(mx.init.Xavier(), ctx=contexts)
    if forget_bias:
        model.open_forget_gates(forget_bias)
    return hybridize(model)
