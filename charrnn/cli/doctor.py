"""`charrnn doctor`: what this machine and this installation can do, for a bug report.

It must work when MXNet cannot be imported (a CUDA build without its libraries, say), so MXNet
is imported inside, and only versions known from package metadata are read otherwise.
"""
from __future__ import annotations

import platform
import sys
from importlib import metadata
from typing import Callable

import click

import charrnn
from charrnn.machine import compat, cuda, threads

Echo = Callable[[str], None]

def package_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def library_report(locate: cuda.Locate) -> tuple[list[str], list[str]]:
    """One line per CUDA library (its path or 'not found'), and the names not found."""
    lines, missing = [], []
    for soname in (*cuda.CUDA_LIBRARIES, cuda.DRIVER_LIBRARY):
        path = locate(soname)
        note = " (installed with the NVIDIA driver)" if soname == cuda.DRIVER_LIBRARY else ""
        lines.append(f"  {soname:<22} {path or 'not found' + note}")
        if not path:
            missing.append(soname)
    return lines, missing


def gpu_lines(gpus: list[cuda.Gpu], none_reason: str, cuda_build: bool) -> list[str]:
    if not gpus:
        return [f"none ({none_reason})"]
    lines = []
    for gpu in gpus:
        if not gpu.supported:
            verdict = ("the published MXNet 1.9.1 wheels cannot run it (they stop at compute "
                       f"capability 8.x): {cuda.NGC_WAY_OUT}")
        elif cuda_build:
            verdict = "this build runs it"
        else:
            verdict = "this CPU build does not use it: `make install MXNET=cu112`"
        lines.append(f"{gpu.describe()}: {verdict}")
    return lines


def numpy_report() -> str:
    """The NumPy charrnn runs, and what charrnn/compat.py restored in it for MXNet."""
    import numpy

    restored = compat.RESTORED
    names = f"{len(restored)} names MXNet reads restored (charrnn/compat.py)" if restored \
        else "nothing to restore"
    return f"{numpy.__version__} ({names})"


def mxnet_report() -> tuple[str, str | None]:
    """MXNet's version and compiled features, or why it cannot be imported."""
    try:
        import mxnet as mx
    except ImportError:
        return "not installed: `make install` or pip install 'charrnn[cpu]'", "MXNet is missing"
    except OSError as error:
        return "cannot be imported (see 'device' below)", cuda.load_problem(error)
    features = [name for name, feature in mx.runtime.Features().items() if feature.enabled]
    return f"{mx.__version__}; compiled with {', '.join(features)}", None


def device_report() -> str:
    """The device `charrnn train` picks by default, and why."""
    from charrnn.machine.devices import default_device

    ctx, why = default_device()
    return f"{ctx} ({why})"


def run_doctor(echo: Echo = click.echo, locate: cuda.Locate | None = None) -> int:
    """Print the report; 0 when charrnn can train, 1 otherwise."""
    distribution = cuda.mxnet_distribution()
    cuda_build = cuda.is_cuda_build(distribution)
    mxnet_line, problem = mxnet_report()
    rows = [("python", f"{platform.python_version()} ({sys.executable})"),
            ("numpy", numpy_report()),
            ("charrnn", charrnn.__version__),
            ("mxnet", f"{'CUDA' if cuda_build else 'CPU'} build ({distribution or 'none'}), "
                      f"{mxnet_line}"),
            *((name, package_version(name)) for name in ("gluonnlp", "click")),
            ("processors", f"{threads.usable_cores()} usable, MXNet runs "
                           f"{threads.describe()}")]
    gpus, none_reason = cuda.nvidia_smi_gpus()
    rows += [("gpus" if i == 0 else "", line)
             for i, line in enumerate(gpu_lines(gpus, none_reason, cuda_build))]
    for name, value in rows:
        echo(f"{name:<11} {value}")
    if cuda_build:
        echo("cuda libraries (where each resolves: LD_LIBRARY_PATH, NVIDIA's pip wheels, system)")
        lines, _ = library_report(locate or cuda.make_locator())
        for line in lines:
            echo(line)
    if problem:
        echo(f"{'device':<11} none: {problem}")
        return 1
    echo(f"{'device':<11} charrnn train would use {device_report()}")
    return 0


@click.command()
def doctor() -> None:
    """Report Python, MXNet, threads, GPUs and CUDA libraries (paste it into a bug report).

    Exits 0 when charrnn can train here, 1 otherwise.
    """
    sys.exit(run_doctor())
