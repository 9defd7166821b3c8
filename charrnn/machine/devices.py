"""Which MXNet devices to run on, and whether this MXNet build can use the GPU at all."""
from __future__ import annotations

import re
import sys
from typing import Sequence

import mxnet as mx

from charrnn.errors import CharrnnError, reason
from charrnn.machine import core_share, threads
from charrnn.machine.cuda import NGC_WAY_OUT, gpu_is_supported, is_cuda_build, mxnet_distribution

_CTX_SPEC = re.compile(r"^(cpu|gpu)(?::(\d+(?:,\d+)*))?$")


def _check_gpu(index: int) -> None:
    count = mx.context.num_gpus()
    if count == 0:
        raise CharrnnError("--ctx gpu: MXNet sees no GPU on this machine (or this is MXNet's CPU "
                           "build); use --ctx cpu, or on a GPU machine install 'charrnn[cu112]'.")
    if index >= count:
        raise CharrnnError(f"--ctx gpu:{index}: this machine has {count} GPU(s), numbered 0 to "
                           f"{count - 1}.")
    capability = mx.util.get_cuda_compute_capability(mx.gpu(index))
    # Only the published wheels stop at 8.x; an MXNet built elsewhere (an NGC container's,
    # MXNET=system) may run newer GPUs.
    if is_cuda_build(mxnet_distribution()) and not gpu_is_supported(capability):
        raise CharrnnError(
            f"GPU {index} has compute capability {capability / 10:.1f}, which the published MXNet "
            "1.9.1 CUDA wheels cannot run (they stop at 8.6 and carry no PTX; Hopper is 9.0). "
            f"Train on the CPU with --ctx cpu, or {NGC_WAY_OUT}.")


def default_device() -> tuple[mx.Context, str]:
    """The first GPU when MXNet sees a usable one, else the CPU; and why."""
    try:
        if mx.context.num_gpus() == 0:
            build = "this is MXNet's CPU build" if not mx.runtime.Features().is_enabled(
                "CUDA") else "MXNet sees no GPU"
            return mx.cpu(0), build
        _check_gpu(0)
        return mx.gpu(0), "the first GPU, which this build runs"
    except (CharrnnError, mx.base.MXNetError, OSError) as error:
        return mx.cpu(0), f"the GPU is unusable: {reason(error)}"


def default_context() -> mx.Context:
    """`default_device`, saying why on stderr when a GPU had to be passed over."""
    ctx, why = default_device()
    if why.startswith("the GPU is unusable"):
        print(f"charrnn: using the CPU: {why}", file=sys.stderr)
    return ctx


def parse_contexts(spec: str | None) -> list[mx.Context]:
    """Turn `cpu`, `gpu`, `gpu:1` or `gpu:0,1,2,3` (also `cpu:0,1`) into MXNet contexts."""
    if spec is None:
        return [default_context()]
    match = _CTX_SPEC.match(spec.strip().lower())
    if not match:
        raise CharrnnError(f"--ctx {spec!r} is not a device: use cpu, gpu, gpu:1 or gpu:0,1,2,3.")
    kind, ids = match.group(1), match.group(2)
    indices = [int(i) for i in ids.split(",")] if ids else [0]
    if len(set(indices)) != len(indices):
        raise CharrnnError(f"--ctx {spec!r} names a device twice.")
    if kind == "gpu":
        for index in indices:
            _check_gpu(index)
        return [mx.gpu(i) for i in indices]
    return [mx.cpu(i) for i in indices]


def contexts_of(ctx: str | mx.Context | Sequence[mx.Context] | None) -> list[mx.Context]:
    """The API's `ctx`: a spec as --ctx takes it ("cpu", "gpu:0,1"), a context or a list of
    them, or None for the default device."""
    if ctx is None or isinstance(ctx, str):
        return parse_contexts(ctx)
    if isinstance(ctx, mx.Context):
        return [ctx]
    contexts = list(ctx)
    if not contexts or not all(isinstance(c, mx.Context) for c in contexts):
        raise CharrnnError(f"ctx {ctx!r} is not a device: give \"cpu\", \"gpu:0,1\", an "
                           "mxnet.Context or a list of them.")
    return contexts


def describe(contexts: list[mx.Context]) -> str:
    """'cpu(0), 2 threads' or 'gpu(0), gpu(1)': where training runs."""
    names = ", ".join(str(c) for c in contexts)
    if not all(c.device_type == "cpu" for c in contexts):
        return names
    if core_share.applies(contexts):
        return f"{names}, {threads.describe()} ({core_share.DESCRIPTION})"
    return f"{names}, {threads.describe()}"
