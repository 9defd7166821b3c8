"""Start an MXNet parameter-server job: a scheduler, servers and workers.

`local` runs every process on this machine over 127.0.0.1 and watches them: the first that
fails ends the whole job (a worker that dies otherwise leaves the others blocked forever).
`ssh`, `mpi` and `slurm` go through the launcher that ships in the mxnet wheel (its
dmlc_tracker package), with a shim for Python 3.9+, where Thread.isAlive no longer exists.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path
from typing import Callable

from charrnn.errors import CharrnnError

LAUNCHERS = ("local", "ssh", "mpi", "slurm")
# A process asked to stop is killed if it has not stopped this long after (workers need up to
# one logging interval to agree, then a checkpoint).
GRACE_SECONDS = 10.0
# Servers and the scheduler finish on their own once every worker has; this long at most.
SHUTDOWN_SECONDS = 30.0


def free_port() -> int:
    """A port nobody listens on now; the scheduler binds it a moment later."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def worker_command(command: list[str], local: bool = True) -> list[str]:
    """`charrnn train ...` as a dist_sync worker unless told otherwise; run locally, with this
    very Python (remote hosts use the `charrnn` on their PATH)."""
    command = list(command)
    if "train" in command and not any(c.startswith("--kvstore") for c in command):
        command += ["--kvstore", "dist_sync"]
    if local and command and command[0] == "charrnn":
        command = [sys.executable, "-m", "charrnn", *command[1:]]
    return command


@dataclass
class Process:
    role: str
    index: int
    popen: subprocess.Popen

    @property
    def name(self) -> str:
        """In launch order; MXNet numbers the workers' ranks in the order they connect."""
        name = self.role if self.role == "scheduler" else f"{self.role} {self.index}"
        return f"{name} (pid {self.popen.pid})"


def launch_local(command: list[str], workers: int, servers: int, timeout: float | None = None,
                 echo: Callable[[str], None] = print) -> int:
    """Run the job on this machine; returns the exit code for the `charrnn launch` process."""
    port = free_port()
    env = {**os.environ, "DMLC_NUM_WORKER": str(workers), "DMLC_NUM_SERVER": str(servers),
           "DMLC_PS_ROOT_URI": "127.0.0.1", "DMLC_PS_ROOT_PORT": str(port),
           "DMLC_NODE_HOST": "127.0.0.1", "DMLC_JOB_CLUSTER": "local"}
    # A server or the scheduler only needs to import mxnet: MXNet serves as it is imported
    # (after charrnn, which restores the names MXNet reads from NumPy 1).
    serve = [sys.executable, "-c", "import charrnn, mxnet"]
    roles = [("scheduler", 0, serve)] + [("server", i, serve) for i in range(servers)] + \
            [("worker", i, worker_command(command)) for i in range(workers)]
    processes = []
    for role, index, argv in roles:
        role_env = {**env, "DMLC_ROLE": role, "DMLC_TASK_ID": str(index)}
        processes.append(Process(role, index, subprocess.Popen(argv, env=role_env)))
    echo(f"charrnn launch: scheduler on 127.0.0.1:{port}, {servers} server(s), "
         f"{workers} worker(s)")
    return supervise(processes, timeout, echo)


def supervise(processes: list[Process], timeout: float | None,
              echo: Callable[[str], None]) -> int:
    """Wait for the workers; end everything as soon as one process fails or time runs out."""
    interrupted: list[int] = []
    previous = {s: signal.signal(s, lambda signum, _: interrupted.append(signum))
                for s in (signal.SIGINT, signal.SIGTERM)}
    started = time.time()
    try:
        while True:
            failed = [p for p in processes if p.popen.poll() not in (None, 0)]
            if failed:
                p = failed[0]
                echo(f"charrnn launch: {p.name} exited with code {p.popen.returncode}; "
                     "stopping the job.")
                return _stop_all(processes, 1)
            if interrupted:
                echo("charrnn launch: interrupted; stopping the job.")
                return _stop_all(processes, 128 + interrupted[0], interrupted[0])
            if timeout and time.time() - started > timeout:
                echo(f"charrnn launch: the job ran past --timeout {timeout:g} s; stopping it.")
                return _stop_all(processes, 1)
            if all(p.popen.poll() == 0 for p in processes if p.role == "worker"):
                break
            time.sleep(0.2)
        deadline = time.time() + SHUTDOWN_SECONDS
        while time.time() < deadline and any(p.popen.poll() is None for p in processes):
            time.sleep(0.2)
        return _stop_all(processes, 0)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def _stop_all(processes: list[Process], code: int, signum: int = signal.SIGTERM) -> int:
    """Stop the workers first (forwarding `signum`: they agree to stop, checkpoint and exit,
    which needs the servers), then the servers and the scheduler; kill what outlives its grace
    period."""
    workers = [p for p in processes if p.role == "worker"]
    for group, sent in ((workers, signum), ([p for p in processes if p not in workers],
                                            signal.SIGTERM)):
        for p in group:
            if p.popen.poll() is None:
                p.popen.send_signal(sent)
        deadline = time.time() + GRACE_SECONDS
        for p in group:
            try:
                p.popen.wait(timeout=max(0.0, deadline - time.time()))
            except subprocess.TimeoutExpired:
                p.popen.kill()
                p.popen.wait()
    return code


def remote_options(command: list[str], workers: int, servers: int, launcher: str,
                   hostfile: Path | None):
    """The job as MXNet's dmlc_tracker (ssh, mpi or slurm) understands it."""
    if launcher in ("ssh", "mpi") and hostfile is None:
        raise CharrnnError(f"--launcher {launcher} needs -H HOSTFILE, one host per line.")
    try:
        from dmlc_tracker import opts
    except ImportError:
        raise CharrnnError("MXNet's dmlc_tracker package is missing; reinstall mxnet.") from None
    arguments = ["--num-workers", str(workers), "--num-servers", str(servers),
                 "--cluster", launcher]
    if hostfile is not None:
        arguments += ["--host-file", str(hostfile)]
    return opts.get_opts(arguments + worker_command(command, local=False))


def launch_remote(command: list[str], workers: int, servers: int, launcher: str,
                  hostfile: Path | None) -> int:
    """Hand the job to dmlc_tracker, which starts the scheduler here and the rest remotely."""
    options = remote_options(command, workers, servers, launcher, hostfile)
    # dmlc_tracker waits on its threads with Thread.isAlive, removed in Python 3.9.
    threading.Thread.isAlive = threading.Thread.is_alive
    import_module(f"dmlc_tracker.{launcher}").submit(options)
    return 0
