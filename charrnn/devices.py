"""Which MXNet devices to run on, and whether this MXNet build can use the GPU at all."""
from __future__ import annotations

import re
import sys

import mxnet as mx

from charrnn.errors import CharrnnError, reason

# The published mxnet-cu11x 1.9.1 wheels carry machine code for sm_50, 60, 70, 80 and 86 and no
# PTX: a GPU runs them only if one of these shares its major version and is not newer than it.
WHEEL_COMPUTE_CAPABILITIES = (50, 60, 70, 80, 86)

_CTX_SPEC = re.compile(r"^(cpu|gpu)(?::(\d+(?:,\d+)*))?$")


def gpu_is_supported(compute_capability: int) -> bool:
    """True when a GPU of this compute capability (e.g. 86) can run the published wheels."""
    major = compute_capability // 10
    return any(cc // 10 == major and cc <= compute_capability for cc in WHEEL_COMPUTE_CAPABILITIES)


def _check_gpu(index: int) -> None:
    count = mx.context.num_gpus()
    if count == 0:
        raise CharrnnError("--ctx gpu: MXNet sees no GPU on this machine (or this is MXNet's CPU "
                           "build); use --ctx cpu, or on a GPU machine install 'charrnn[cu112]'.")
    if index >= count:
        raise CharrnnError(f"--ctx gpu:{index}: this machine has {count} GPU(s), numbered 0 to "
                           f"{count - 1}.")
    capability = mx.util.get_cuda_compute_capability(mx.gpu(index))
    if not gpu_is_supported(capability):
        raise CharrnnError(
            f"GPU {index} has compute capability {capability / 10:.1f}, which the published MXNet "
            "1.9.1 CUDA wheels cannot run (they stop at 8.6 and carry no PTX; Hopper is 9.0). "
            "Train on the CPU with --ctx cpu, or use an MXNet build for this GPU such as NVIDIA's "
            "NGC MXNet container.")


def default_context() -> mx.Context:
    """The first GPU when MXNet sees a usable one, else the CPU (saying why, if there is one)."""
    try:
        if mx.context.num_gpus() == 0:
            return mx.cpu(0)
        _check_gpu(0)
        return mx.gpu(0)
    except (CharrnnError, mx.base.MXNetError, OSError) as error:
        print(f"charrnn: using the CPU: {reason(error)}", file=sys.stderr)
        return mx.cpu(0)


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


def describe(contexts: list[mx.Context]) -> str:
    return ", ".join(str(c) for c in contexts)
