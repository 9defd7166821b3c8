"""The models. Every one maps `(inputs (T, B), state)` to `(logits (T*B, vocab), state)` and
has a one-character step form (see base.py).

Because recurrent and unrolled models share that protocol, training, evaluation and generation
are written once and the comparison between them is fair by construction.
"""
from __future__ import annotations

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

__all__ = ["CharModel", "ForwardStepper", "GluonRNNModel", "State", "Stepper",
           "UnrolledRNNModel", "build_model", "count_parameters", "fused_for", "hybridize",
           "trainable_parameters"]


def build_model(config: ModelConfig, fused: bool = False) -> CharModel:
    """The model `config` describes; `fused` for GPUs (see GluonRNNModel)."""
    if config.model == "unrolled":
        return UnrolledRNNModel(config.vocab_size, config.embed, config.hidden)
    return GluonRNNModel(config.model, config.vocab_size, config.embed, config.hidden,
                         config.layers, config.dropout, fused, config.weight_drop,
                         config.embed_drop, config.tie_weights)
