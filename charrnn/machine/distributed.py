"""One worker of an MXNet parameter-server job: its rank, its shard of the data, and the
decisions all workers must take together.

The launcher (charrnn launch, or MXNet's tools/launch.py) sets the DMLC_* variables; a process
whose DMLC_ROLE is server or scheduler never gets here, MXNet turns it into a server as it is
imported.
"""
from __future__ import annotations

import mxnet as mx
import numpy as np

# kvstore keys of the same type as gluon.Trainer's parameter indices, far beyond them: one for
# the decisions, and one per array gathered from all workers.
_CONTROL_KEY = 1_000_000
_CONTROL_SIZE = 3
_GATHER_KEYS = 1_000_001


class Workers:
    """The workers of a job, as seen from one of them; a single process is a job of one."""

    def __init__(self, kvstore: mx.kv.KVStore | None = None):
        self.kvstore = kvstore if kvstore is not None and "dist" in kvstore.type else None
        self.rank = self.kvstore.rank if self.kvstore else 0
        self.count = self.kvstore.num_workers if self.kvstore else 1
        self._gather_shapes: dict[int, tuple[int, ...]] = {}
        if self.kvstore:
            self.kvstore.init(_CONTROL_KEY, mx.nd.zeros(_CONTROL_SIZE))

    @property
    def chief(self) -> bool:
        """Worker 0 validates, writes checkpoints and reports for everyone."""
        return self.rank == 0

    def shard(self, ids: np.ndarray) -> np.ndarray:
        """This worker's contiguous share of the training ids; all shares have one length, so
        every worker takes the same number of steps (a synchronous job needs that)."""
        size = len(ids) // self.count
        return ids[self.rank * size:(self.rank + 1) * size]

    def total(self, *values: float) -> list[float]:
        """The sum over all workers of each value (the servers add what workers push)."""
        if not self.kvstore:
            return list(values)
        padded = np.zeros(_CONTROL_SIZE, dtype=np.float32)
        padded[:len(values)] = values
        self.kvstore.push(_CONTROL_KEY, mx.nd.array(padded))
        out = mx.nd.zeros(_CONTROL_SIZE)
        self.kvstore.pull(_CONTROL_KEY, out=out)
        return out.asnumpy()[:len(values)].tolist()

    def from_chief(self, *values: float) -> list[float]:
        """Worker 0's values, on every worker."""
        return self.total(*(values if self.chief else [0.0] * len(values)))

    def gather_columns(self, arrays: list[mx.nd.NDArray]) -> list[mx.nd.NDArray]:
        """Each array of every worker, joined along axis 1 in rank order (the workers' batch
        columns side by side): each worker puts its own in its slot of zeros, and the sum
        the servers make of them is all of them. Every worker must call this together."""
        if not self.kvstore:
            return arrays
        gathered = []
        for k, array in enumerate(arrays):
            shape = (self.count, *array.shape)
            if self._gather_shapes.get(k) != shape:
                self.kvstore.init(_GATHER_KEYS + k, mx.nd.zeros(shape))
                self._gather_shapes[k] = shape
            slots = mx.nd.zeros(shape)
            slots[self.rank] = array.as_in_context(mx.cpu())
            self.kvstore.push(_GATHER_KEYS + k, slots)
            out = mx.nd.zeros(shape)
            self.kvstore.pull(_GATHER_KEYS + k, out=out)
            out.wait_to_read()  # every worker waits, or one may leave before the sum is made
            gathered.append(mx.nd.concat(*[out[r] for r in range(self.count)], dim=1))
        return gathered

    def own_columns(self, arrays: list[mx.nd.NDArray]) -> list[mx.nd.NDArray]:
        """This worker's part of arrays joined by `gather_columns`."""
        if self.count == 1:
            return arrays
        return [mx.nd.split(a, num_outputs=self.count, axis=1, squeeze_axis=False)[self.rank]
                for a in arrays]


def create_kvstore(kind: str | None) -> mx.kv.KVStore | None:
    """`dist_sync` (or another dist_* type) joins the job the DMLC_* variables describe."""
    return mx.kv.create(kind) if kind and kind.startswith("dist") else None
