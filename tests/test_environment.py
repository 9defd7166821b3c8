"""The machine, out of the box: threads, the MXNet build the Makefile picks, a Python for
MXNet, CUDA libraries and `charrnn doctor`."""
from __future__ import annotations

import ctypes
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from charrnn.cli.doctor import library_report, run_doctor
from charrnn.machine import cuda

from .conftest import REPO, TINY_MODEL

THREAD_VARIABLES = ("OMP_NUM_THREADS", "MXNET_OMP_MAX_THREADS", "CHARRNN_SET_THREADS")


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in THREAD_VARIABLES}
    return {**env, **extra}


def omp_threads_seen(env: dict[str, str], cores: set[int] | None = None) -> str:
    """OMP_NUM_THREADS as MXNet will read it, in a fresh process pinned to `cores`."""
    program = "import charrnn, os, mxnet; print(os.environ.get('OMP_NUM_THREADS'))"
    pin = (lambda: os.sched_setaffinity(0, cores)) if cores else None
    return subprocess.run([sys.executable, "-c", program], env=env, capture_output=True,
                          text=True, timeout=60, preexec_fn=pin).stdout.strip()


def test_charrnn_gives_mxnet_every_usable_core_unless_the_user_chose():
    usable = len(os.sched_getaffinity(0))
    assert omp_threads_seen(clean_env()) == str(usable)
    assert omp_threads_seen(clean_env(), cores={0}) == "1"  # the affinity mask, not the machine
    assert omp_threads_seen(clean_env(OMP_NUM_THREADS="1")) == "1"
    assert omp_threads_seen(clean_env(MXNET_OMP_MAX_THREADS="1")) == "None"


def test_the_startup_line_names_the_device_and_threads(tiny_corpus, tmp_path):
    command = [sys.executable, "-m", "charrnn", "train", str(tiny_corpus), "--out",
               str(tmp_path / "run"), "--max-steps", "2", *TINY_MODEL]
    result = subprocess.run(command, env=clean_env(), capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    usable = len(os.sched_getaffinity(0))
    assert f"on cpu(0), {usable} thread" in result.stdout
    given = subprocess.run([*command, "--overwrite"], env=clean_env(OMP_NUM_THREADS="1"),
                           capture_output=True, text=True, timeout=120)
    assert "on cpu(0), 1 thread (OMP_NUM_THREADS)" in given.stdout


# -- the MXNet build `make install` picks --------------------------------------------------

GPU_SETS = {
    "no GPU": ([], "cpu"),
    "A100": ([("NVIDIA A100-SXM4-40GB", "8.0")], "cu112"),
    "L4": ([("NVIDIA L4", "8.9")], "cu112"),
    "H100": ([("NVIDIA H100 80GB HBM3", "9.0")], "cpu"),
    "H100 + A100": ([("NVIDIA H100 80GB HBM3", "9.0"), ("NVIDIA A100-SXM4-40GB", "8.0")],
                    "cu112"),
}


def fake_nvidia_smi(folder: Path, gpus: list[tuple[str, str]]) -> None:
    """A stand-in nvidia-smi printing the -L list and the --query-gpu fields."""
    query = "".join(f"{name}, {cc}\\n" for name, cc in gpus)
    listing = "".join(f"GPU {i}: {name} (UUID: GPU-{i})\\n" for i, (name, _) in enumerate(gpus))
    script = folder / "nvidia-smi"
    script.write_text(f"#!/bin/sh\ncase \"$*\" in\n  *query-gpu*) printf '{query}';;\n"
                      f"  -L) printf '{listing}';;\nesac\n")
    script.chmod(0o755)


# A command line like `make test PYTHON=... VENV=...` (.ci/run's second suite) exports its
# variables to the suite's environment too.
MAKE_VARIABLES = ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES", "MXNET", "PYTHON", "VENV")


def make_env(**extra: str) -> dict[str, str]:
    """A user's shell: `make test MXNET=cpu` (as CI runs it) must not reach the inner make."""
    env = {k: v for k, v in os.environ.items() if k not in MAKE_VARIABLES}
    return {**env, **extra}


def make_dry_run(tmp_path: Path, path: str, *variables: str) -> str:
    result = subprocess.run(["make", "-n", "install", f"VENV={tmp_path}/venv", *variables],
                            cwd=REPO, env=make_env(PATH=path), capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize("name", GPU_SETS)
def test_make_install_picks_the_build_the_gpus_can_run(tmp_path, name):
    gpus, extra = GPU_SETS[name]
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    if gpus:
        fake_nvidia_smi(bin_dir, gpus)
    plan = make_dry_run(tmp_path, f"{bin_dir}:{os.environ['PATH']}")
    assert 'pip install --quiet -e ".[plot,serve,dev]" "$(' in plan  # and the NumPy
    assert f"scripts/install-mxnet {extra}" in plan
    why = next(line for line in plan.splitlines() if "installing MXNet's" in line)
    assert ("CUDA build" if extra == "cu112" else "CPU build") in why
    if name == "H100":
        assert "nvcr.io/nvidia/mxnet:24.06-py3 and make install MXNET=system" in why
    override = make_dry_run(tmp_path, f"{bin_dir}:{os.environ['PATH']}", "MXNET=cpu")
    assert "scripts/install-mxnet cpu" in override and "MXNET=cpu given" in override


# -- a Python that MXNet runs on -------------------------------------------------------------

PYENV = Path.home() / ".pyenv" / "versions"
TOOLS = ("make", "sh", "bash", "sed", "grep", "cut", "rm", "test", "awk", "cat", "head", "env")


def path_of_tools(folder: Path) -> str:
    """`folder` as the whole PATH, with the tools make needs and no Python but its own."""
    for tool in TOOLS:
        found = shutil.which(tool)
        if found:
            (folder / tool).symlink_to(found)
    return str(folder)


def path_with_only(folder: Path, python: Path) -> str:
    """A PATH whose one Python is `python`, as `python3` (as on Ubuntu 24.04 or Debian 13)."""
    folder.mkdir()
    (folder / "python3").symlink_to(python)
    return path_of_tools(folder)


def interpreters() -> list[Path]:
    """This machine's Pythons 3.11-3.13 (pyenv's, as on this project's CI image)."""
    found = sorted(PYENV.glob("3.1[1-3].*/bin/python3.1[1-3]"))
    return found or [Path(os.path.realpath(sys.executable))]


@pytest.mark.parametrize("python", interpreters(), ids=lambda p: p.name)
def test_make_uses_the_machines_own_python3_when_charrnn_supports_it(tmp_path, python):
    path = path_with_only(tmp_path / "bin", python)
    plan = make_dry_run(tmp_path, path)
    version = subprocess.run([str(python), "-V"], capture_output=True, text=True).stdout.strip()
    assert f"creating {tmp_path}/venv with python3 ({version})" in plan
    assert f"python3 -m venv  {tmp_path}/venv" in plan
    assert "uv" not in plan


def test_make_python_chooses_and_refuses_an_unsupported_one(tmp_path):
    chosen = make_dry_run(tmp_path, os.environ["PATH"], f"PYTHON={sys.executable}")
    assert f"{sys.executable} -m venv  {tmp_path}/venv" in chosen
    old = tmp_path / "python2"
    old.write_text("#!/bin/sh\necho Python 2.7.18\nexit 1\n")
    old.chmod(0o755)
    refused = make_dry_run(tmp_path, os.environ["PATH"], f"PYTHON={old}")
    assert f"charrnn supports Python 3.9-3.13: PYTHON={old} is not one" in refused


def path_without_supported_python(folder: Path) -> str:
    """A PATH whose only Python says it is 3.8 (a stand-in: this Python underneath)."""
    folder.mkdir()
    (folder / "python3").write_text(
        "#!/bin/sh\ncase \"$*\" in *version_info*) echo 3.8; exit 0;; -V) echo Python 3.8.18;"
        f" exit 0;; esac\nexec {os.path.realpath(sys.executable)} \"$@\"\n")
    (folder / "python3").chmod(0o755)
    return path_of_tools(folder)


@pytest.mark.slow
def test_without_a_supported_python_make_tries_uv_and_says_what_to_install(tmp_path):
    path = path_without_supported_python(tmp_path / "bin")
    plan = make_dry_run(tmp_path, path)
    assert "uv venv --quiet --seed --python 3.12" in plan
    # The real thing, with uv's Python downloads pointed at a port where nothing listens.
    result = subprocess.run(["make", "install", f"VENV={tmp_path}/venv"], cwd=REPO,
                            env=make_env(PATH=path,
                                         UV_PYTHON_INSTALL_MIRROR="http://127.0.0.1:9/"),
                            capture_output=True, text=True, timeout=600)
    assert result.returncode != 0
    message = [line for line in result.stdout.splitlines() if "uv could not download" in line]
    assert len(message) == 1, result.stdout + result.stderr
    assert "install Python 3.9-3.13 yourself" in message[0]
    assert not (tmp_path / "venv").exists()


# -- CUDA libraries and the doctor -----------------------------------------------------------

def test_the_library_report_names_each_library_and_where_it_resolves(tmp_path):
    wheels = {name: f"/site-packages/nvidia/x/lib/{name}" for name in cuda.CUDA_LIBRARIES}
    lines, missing = library_report(wheels.get)
    assert missing == ["libcuda.so.1"]
    assert len(lines) == len(cuda.CUDA_LIBRARIES) + 1
    assert re.search(r"libcudnn\.so\.8 +/site-packages/nvidia/x/lib/libcudnn\.so\.8", "\n".join(
        lines))
    assert "libcuda.so.1" in lines[-1] and "not found (installed with the NVIDIA driver)" in \
        lines[-1]


def test_a_users_own_cuda_comes_before_the_wheels(tmp_path):
    own, wheel = tmp_path / "own", tmp_path / "wheel"
    for folder in (own, wheel):
        folder.mkdir()
        (folder / "libcudart.so.11.0").write_bytes(b"")
    (wheel / "libcudnn.so.8").write_bytes(b"")
    locate = cuda.make_locator([own, wheel])
    assert locate("libcudart.so.11.0") == str(own / "libcudart.so.11.0")
    assert locate("libcudnn.so.8") == str(wheel / "libcudnn.so.8")


def test_a_missing_driver_is_named_with_the_way_out():
    try:
        ctypes.CDLL(cuda.DRIVER_LIBRARY)
    except OSError as error:  # the real error of a machine without the NVIDIA driver
        message = cuda.load_problem(error)
        assert "libcuda.so.1 (the NVIDIA driver) is not installed" in message
        assert "Install the NVIDIA driver" in message and "make install MXNET=cpu" in message
    else:
        pytest.skip("this machine has the NVIDIA driver")
    missing = OSError("libcudnn.so.8: cannot open shared object file: No such file or directory")
    assert "libcudnn.so.8 was not found" in cuda.load_problem(missing)


def test_doctor_reports_versions_cores_and_the_device():
    lines: list[str] = []
    code = run_doctor(lines.append)
    report = "\n".join(lines)
    assert code == 0, report
    for name in ("python", "charrnn", "mxnet", "gluonnlp", "numpy", "processors", "gpus",
                 "device"):
        assert re.search(rf"^{name} +\S", report, re.MULTILINE), name
    assert "1.9.1" in report and f"{len(os.sched_getaffinity(0))} usable" in report
    assert "charrnn train would use" in report


def test_doctor_runs_when_mxnet_cannot_be_imported():
    hide_mxnet = ("import sys; sys.modules['mxnet'] = None; sys.argv = ['charrnn', 'doctor'];"
                  " from charrnn.__main__ import main; main()")
    result = subprocess.run([sys.executable, "-c", hide_mxnet], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 1
    assert "not installed" in result.stdout and "device      none" in result.stdout
    assert "Traceback" not in result.stderr


def test_make_install_mxnet_system_uses_the_installed_mxnet_as_it_is(tmp_path):
    plan = make_dry_run(tmp_path, os.environ["PATH"], "MXNET=system")
    assert "using the MXNet that python3 has (MXNET=system)" in plan
    assert f"-m venv --system-site-packages {tmp_path}/venv" in plan
    assert "install-mxnet" not in plan
    assert "import charrnn, mxnet" in plan  # refused in one line when it has none
