"""One worker of an MXNet parameter-server job: its rank, its shard of the data, and the
decisions all workers must take together.

The launcher (charrnn launch, or MXNet's tools/launch.py) sets the DMLC_* variables; a process
whose DMLC_ROLE is server or scheduler never gets here, MXNet turns it into a server as it is
imported.
"""
from __future__ import annotations

import mxnet as mx
import numpy as np

# A kvstore key of the same type as gluon.Trainer's parameter indices, far beyond them.
_CONTROL_KEY = 1_000_000
_CONTROL_SIZE = 2


class Workers:
    """The workers of a job, as seen from one of them; a single process is a job of one."""

    def __init__(self, kvstore: mx.kv.KVStore | None = None):
        self.kvstore = kvstore if kvstore is not None and "dist" in kvstore.type else None
        self.rank = self.kvstore.rank if self.kvstore else 0
        self.count = self.kvstore.num_workers if self.kvstore else 1
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


def create_kvstore(kind: str | None) -> mx.kv.KVStore | None:
    """`dist_sync` (or another dist_* type) joins the job the DMLC_* variables describe."""
    return mx.kv.create(kind) if kind and kind.startswith("dist") else None
