"""Every touch of gluon.Trainer's private state, in one place.

A checkpoint needs the optimizer's state as MXNet arrays (Trainer.save_states pickles, and
nothing here is unpickled), and a parameter-server job needs its kvstore made before the first
step; MXNet 1.9.1 offers neither publicly. If a later Gluon moves these fields, this file is
the one to change.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import mxnet as mx
from mxnet import gluon

from charrnn.errors import CharrnnError


class TrainerState:
    def __init__(self, trainer: gluon.Trainer):
        self.trainer = trainer

    def start_kvstore(self) -> None:
        """Make the kvstore and broadcast worker 0's weights now, before the first forward
        pass. Gluon does it lazily, in the first step, after the first forward and backward
        pass: measured here, a worker then sometimes kept a zeroed weight (9 of 15 runs) and
        the workers silently diverged; made first, 30 of 30 runs agreed."""
        self.trainer._optimizer.rescale_grad = 1.0
        self.trainer._init_kvstore()
        self.trainer._init_params()
        mx.nd.waitall()

    def arrays(self) -> dict[str, mx.nd.NDArray]:
        """The optimizer's per-parameter state (e.g. Adam's moments) as named arrays."""
        arrays = {}
        for index, state in self.trainer._updaters[0].states.items():
            parts = state if isinstance(state, (tuple, list)) else [state]
            for k, part in enumerate(parts):
                if part is not None:
                    arrays[f"{index}.{k}"] = part.as_in_context(mx.cpu())
        return arrays

    def counts(self) -> dict[str, Any]:
        """The update counts (Adam's bias correction depends on them)."""
        optimizer = self.trainer._optimizer
        counts = next(iter(optimizer._all_index_update_counts.values()), {})
        return {"num_update": optimizer.num_update,
                "index_update_count": {str(k): v for k, v in counts.items()}}

    def check(self, arrays: dict[str, mx.nd.NDArray], path: Path) -> None:
        """Refuse optimizer state whose shapes are not this model's parameters'."""
        params = self.trainer._params
        for key, array in arrays.items():
            index = int(key.split(".")[0]) if key.split(".")[0].isdigit() else -1
            if not 0 <= index < len(params) or array.shape != params[index].shape:
                raise CharrnnError(f"{path} does not match the model's parameters ({key}): the "
                                   "checkpoint does not belong to this run.")

    def restore(self, arrays: dict[str, mx.nd.NDArray], counts: dict[str, Any],
                contexts: list[mx.Context]) -> None:
        """Put saved optimizer state into every device's updater, and the update counts into
        the optimizer."""
        trainer = self.trainer
        if not trainer._kv_initialized:
            trainer._init_kvstore()
        grouped: dict[int, dict[int, mx.nd.NDArray]] = {}
        for key, array in arrays.items():
            index, part = (int(x) for x in key.split("."))
            grouped.setdefault(index, {})[part] = array
        states = {index: (parts[0] if len(parts) == 1 else
                          tuple(parts[k] for k in sorted(parts)))
                  for index, parts in grouped.items()}
        for updater in trainer._updaters:
            updater.states = {i: _copy(s) for i, s in states.items()}
            updater.states_synced = dict.fromkeys(states, False)
        optimizer = trainer._optimizer
        optimizer.num_update = int(counts.get("num_update", 0))
        index_counts = {int(k): int(v) for k, v in counts.get("index_update_count", {}).items()}
        for ctx in contexts:
            optimizer._all_index_update_counts[ctx.device_id] = dict(index_counts)
        optimizer._index_update_count = optimizer._all_index_update_counts[contexts[0].device_id]


def _copy(state):
    if isinstance(state, tuple):
        return tuple(s.copy() for s in state)
    return state.copy()
