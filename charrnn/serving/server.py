"""Starting the server: checks that fail in one line before anything listens, then uvicorn."""
from __future__ import annotations

import errno
import os
import secrets
import socket
from pathlib import Path

from charrnn.api import Run
from charrnn.errors import CharrnnError
from charrnn.exporting import runtime
from charrnn.runs.bundled import run_path


def run_server(run_dir: Path, host: str, port: int, workers: int, max_length: int,
               engine: str = "auto") -> None:
    try:
        import uvicorn

        from charrnn.serving.app import create_app
    except ImportError as error:
        raise CharrnnError(f"charrnn serve needs the serve extra ({error.name} is missing): "
                           "pip install 'charrnn[serve]', or run make serve.") from None
    engine = runtime.choose(engine)
    run_dir = run_path(run_dir)  # a shipped model's name: its folder, for every worker
    summary = Run(run_dir).summary  # the run directory checked, nothing loaded yet
    _check_port_free(host, port)
    settings = summary.model
    address = f"http://{'[' + host + ']' if ':' in host else host}:{port}/"
    print(f"serving {run_dir} ({settings.layers} x {settings.hidden} {settings.model}, "
          f"{summary.parameters:,} parameters) at {address} with {workers} "
          f"worker{'s' * (workers != 1)}, stepped by {engine}; Ctrl-C stops", flush=True)
    options = {"host": host, "port": port, "log_level": "warning", "access_log": False}
    secret = secrets.token_bytes(32)
    if workers == 1:
        uvicorn.run(create_app(run_dir, max_length, secret, engine), **options)
        return
    os.environ.update(CHARRNN_SERVE_RUN=str(Path(run_dir).resolve()),
                      CHARRNN_SERVE_MAX_LENGTH=str(max_length),
                      CHARRNN_SERVE_SECRET=secret.hex(), CHARRNN_SERVE_ENGINE=engine)
    uvicorn.run("charrnn.serving.app:app_from_environment", factory=True, workers=workers,
                **options)


def _check_port_free(host: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            reason = ("is in use" if error.errno == errno.EADDRINUSE
                      else f"cannot be opened ({error.strerror})")
            raise CharrnnError(f"port {port} on {host} {reason}: choose another with "
                               "--port (or --host).") from None
