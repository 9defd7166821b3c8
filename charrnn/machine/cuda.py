"""The CUDA side of MXNet, known without importing it: which build is installed, which GPUs
this machine has and whether the published wheels run on them, and the CUDA libraries.

mxnet-cu112's libmxnet.so needs the CUDA 11 and cuDNN 8 libraries. The `cu112` extra installs
them as NVIDIA's pip wheels (site-packages/nvidia/*/lib), which no loader searches by itself;
`preload` opens them by full path, in dependency order, before MXNet is imported, and the
dynamic loader then finds them by name when libmxnet.so asks. A library the user's own CUDA
installation provides (LD_LIBRARY_PATH) is preferred.
"""
from __future__ import annotations

import contextlib
import ctypes
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Callable, Optional

# What libmxnet.so of mxnet-cu112 1.9.1 needs, dependencies first (`ldd` lists them).
CUDA_LIBRARIES = (
    "libcudart.so.11.0", "libnvrtc.so.11.2", "libcublasLt.so.11", "libcublas.so.11",
    "libcufft.so.10", "libcurand.so.10", "libcusparse.so.11", "libcusolver.so.11",
    "libcudnn.so.8", "libnccl.so.2", "libnvToolsExt.so.1",
)
# cuDNN 8 opens its parts by name when first used; they are preloaded too, when present.
CUDNN_PARTS = ("libcudnn_ops_infer.so.8", "libcudnn_ops_train.so.8", "libcudnn_cnn_infer.so.8",
               "libcudnn_cnn_train.so.8", "libcudnn_adv_infer.so.8", "libcudnn_adv_train.so.8")
DRIVER_LIBRARY = "libcuda.so.1"  # installed with the NVIDIA driver, never by pip

# The published mxnet-cu11x 1.9.1 wheels carry machine code for sm_50, 60, 70, 80 and 86 and no
# PTX: a GPU runs them only if one of these shares its major version and is not newer than it.
WHEEL_COMPUTE_CAPABILITIES = (50, 60, 70, 80, 86)

_SYSTEM_DIRS = ("/usr/local/cuda/lib64", "/usr/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/lib",
                "/usr/lib/wsl/lib")

# The one MXNet we know to run on Hopper and newer: NVIDIA's last NGC MXNet containers (24.05
# and 24.06: MXNet 1.9.1 on CUDA 12.4, Ubuntu 22.04 with Python 3.10, compute capability 6.0+).
NGC_WAY_OUT = ("run charrnn inside NVIDIA's container nvcr.io/nvidia/mxnet:24.06-py3 (MXNet "
               "1.9.1 on CUDA 12.4, built for Hopper) with `make install MXNET=system`")

Locate = Callable[[str], Optional[str]]


def gpu_is_supported(compute_capability: int) -> bool:
    """True when a GPU of this compute capability (e.g. 86) can run the published wheels."""
    major = compute_capability // 10
    return any(cc // 10 == major and cc <= compute_capability for cc in WHEEL_COMPUTE_CAPABILITIES)


def mxnet_distribution() -> str | None:
    """The installed MXNet package, e.g. 'mxnet' or 'mxnet-cu112'; None when there is none."""
    for dist in metadata.distributions():
        name = (dist.metadata["Name"] or "").lower()
        if name == "mxnet" or re.fullmatch(r"mxnet-(cu\d+|native|mkl)", name):
            return name
    return None


def is_cuda_build(distribution: str | None) -> bool:
    return bool(distribution and distribution.startswith("mxnet-cu"))


def wheel_library_dirs() -> list[Path]:
    """site-packages/nvidia/*/lib of every folder on sys.path (where NVIDIA's wheels go)."""
    dirs = []
    for entry in sys.path:
        nvidia = Path(entry or ".") / "nvidia"
        if nvidia.is_dir():
            dirs += sorted(p for p in nvidia.glob("*/lib") if p.is_dir())
    return dirs


def _ldconfig_cache() -> dict[str, str]:
    try:
        listing = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True,
                                 timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    found = {}
    for line in listing.splitlines():
        match = re.match(r"\s*(\S+) \(.*\) => (\S+)", line)
        if match:
            found.setdefault(match.group(1), match.group(2))
    return found


def make_locator(search_dirs: list[Path] | None = None) -> Locate:
    """soname -> the file the loader should open: LD_LIBRARY_PATH first (a user's own CUDA),
    then NVIDIA's wheels, then the system's library cache and usual folders."""
    if search_dirs is None:
        user = [Path(d) for d in os.environ.get("LD_LIBRARY_PATH", "").split(":") if d]
        search_dirs = user + wheel_library_dirs()
    cache: dict[str, str] | None = None

    def locate(soname: str) -> str | None:
        nonlocal cache
        for folder in search_dirs:
            if (folder / soname).exists():
                return str(folder / soname)
        if cache is None:
            cache = _ldconfig_cache()
        if soname in cache:
            return cache[soname]
        return next((str(Path(d, soname)) for d in _SYSTEM_DIRS if Path(d, soname).exists()),
                    None)

    return locate


def preload(locate: Locate | None = None) -> None:
    """Open the CUDA libraries of a CUDA build of MXNet so that `import mxnet` finds them.

    Does nothing for the CPU build. A library that is missing or fails to open is left for
    `import mxnet` to report (see `load_problem`).
    """
    if not is_cuda_build(mxnet_distribution()):
        return
    locate = locate or make_locator()
    for soname in (*CUDA_LIBRARIES, *CUDNN_PARTS):
        path = locate(soname)
        if path:
            with contextlib.suppress(OSError):
                ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)


def load_problem(error: OSError) -> str:
    """One line for an MXNet that cannot load: which library, and the way out."""
    text = str(error)
    missing = re.search(r"(lib[\w.+-]+\.so[\w.]*): cannot open shared object file", text)
    library = missing.group(1) if missing else None
    cpu_way = "or install the CPU build: `make install MXNET=cpu` (pip install 'charrnn[cpu]')"
    if library == DRIVER_LIBRARY:
        return (f"MXNet's CUDA build cannot load: {DRIVER_LIBRARY} (the NVIDIA driver) is not "
                f"installed. Install the NVIDIA driver (version 460 or newer), {cpu_way}.")
    if library:
        return (f"MXNet's CUDA build cannot load: {library} was not found. Reinstall the CUDA "
                f"extra, which brings it (`pip install 'charrnn[cu112]'`), {cpu_way}.")
    return f"MXNet is installed but cannot load ({text.strip()[:200]}); {cpu_way}."


@dataclass(frozen=True)
class Gpu:
    index: int
    name: str
    compute_capability: int | None  # e.g. 86; None when the driver does not report it

    @property
    def supported(self) -> bool:
        # Drivers too old to report the capability predate Hopper, whose GPUs need 520+.
        return self.compute_capability is None or gpu_is_supported(self.compute_capability)

    def describe(self) -> str:
        cc = (f"{self.compute_capability / 10:.1f}" if self.compute_capability is not None
              else "unknown")
        return f"GPU {self.index} {self.name} (compute capability {cc})"


def nvidia_smi_gpus() -> tuple[list[Gpu], str]:
    """The GPUs nvidia-smi lists, and why there are none when there are none."""
    try:
        query = subprocess.run(["nvidia-smi", "--query-gpu=name,compute_cap",
                                "--format=csv,noheader"], capture_output=True, text=True,
                               timeout=20)
    except FileNotFoundError:
        return [], "nvidia-smi not found: no NVIDIA driver"
    except (OSError, subprocess.SubprocessError) as error:
        return [], f"nvidia-smi failed ({error})"
    if query.returncode == 0:
        return parse_gpu_query(query.stdout), "nvidia-smi lists no GPU"
    listing = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20)
    names = re.findall(r"^GPU (\d+): (.*?)(?: \(UUID.*)?$", listing.stdout, re.MULTILINE)
    return [Gpu(int(i), name, None) for i, name in names], "nvidia-smi lists no GPU"


def parse_gpu_query(text: str) -> list[Gpu]:
    """Lines of `name, compute_cap` (e.g. 'NVIDIA A100-SXM4-40GB, 8.0')."""
    gpus = []
    for index, line in enumerate(row for row in text.splitlines() if row.strip()):
        name, _, capability = line.rpartition(",")
        try:
            major, minor = capability.strip().split(".")
            cc: int | None = int(major) * 10 + int(minor)
        except ValueError:
            name, cc = line, None
        gpus.append(Gpu(index, name.strip(), cc))
    return gpus
