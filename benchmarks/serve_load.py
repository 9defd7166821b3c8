"""`python -m benchmarks.serve_load RUN_DIR`: `charrnn serve` under load (`make bench-serve`).

Starts the server on a free port of 127.0.0.1 in its own process, then N clients (threads,
each with its own keep-alive connection) ask for L characters again and again for S seconds.
Prints requests/s, characters/s, latency percentiles and errors.
"""
from __future__ import annotations

import http.client
import json
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import click
import numpy as np

SEEDS = ("The meaning of life is", "What is noble?", "Truth", "The philosopher",
         "Every profound spirit needs a mask", "In the end")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_up(port: int, server: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server exited: {server.stdout.read()}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/healthz")
            if connection.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("the server did not come up")


class Client(threading.Thread):
    def __init__(self, port: int, index: int, length: int, until: float):
        super().__init__(daemon=True)
        self.port, self.index, self.length, self.until = port, index, length, until
        self.latencies: list[float] = []
        self.errors: list[str] = []

    def run(self) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        count = 0
        while time.monotonic() < self.until:
            body = json.dumps({"seed": SEEDS[(self.index + count) % len(SEEDS)],
                               "length": self.length, "temperature": 0.8})
            started = time.perf_counter()
            try:
                connection.request("POST", "/generate", body,
                                   {"Content-Type": "application/json"})
                response = connection.getresponse()
                answer = json.loads(response.read())
                if response.status != 200 or len(answer["text"]) != self.length:
                    self.errors.append(f"{response.status}: {answer}")
                else:
                    self.latencies.append(time.perf_counter() - started)
            except (OSError, http.client.HTTPException, ValueError) as error:
                self.errors.append(repr(error))
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            count += 1


@click.command()
@click.argument("run_dir", type=click.Path(exists=True, path_type=Path))
@click.option("--clients", default=8, show_default=True)
@click.option("--length", default=200, show_default=True, help="Characters per request.")
@click.option("--seconds", default=20.0, show_default=True)
@click.option("--workers", default=1, show_default=True, help="Server processes.")
def main(run_dir: Path, clients: int, length: int, seconds: float, workers: int) -> None:
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "charrnn", "serve", str(run_dir),
                               "--port", str(port), "--workers", str(workers)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_until_up(port, server)
        Client(port, 0, length, time.monotonic() + 2).run()  # warm up
        until = time.monotonic() + seconds
        started = time.perf_counter()
        threads = [Client(port, i, length, until) for i in range(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - started
    finally:
        server.terminate()
        server.wait(timeout=30)
    latencies = np.array([x for t in threads for x in t.latencies]) * 1000
    errors = [e for t in threads for e in t.errors]
    p50, p95, p99 = np.percentile(latencies, [50, 95, 99]) if len(latencies) else (0, 0, 0)
    click.echo(f"charrnn serve {run_dir}: {clients} clients x {length} characters, "
               f"{seconds:g} s, {workers} worker{'s' * (workers != 1)}")
    click.echo(f"  requests      {len(latencies):>9,}  ({len(latencies) / elapsed:,.1f}/s)")
    click.echo(f"  characters/s  {len(latencies) * length / elapsed:>9,.0f}")
    click.echo(f"  latency ms    p50 {p50:,.1f}  p95 {p95:,.1f}  p99 {p99:,.1f}")
    click.echo(f"  errors        {len(errors):>9,}" + (f"  (first: {errors[0]})" if errors else ""))


if __name__ == "__main__":
    main()
