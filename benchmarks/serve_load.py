"""`python -m benchmarks.serve_load RUN_DIR [RUN_DIR ...]`: `charrnn serve` under load (`make
bench-serve`: make train's model and the shipped one).

For each run and each engine (onnxruntime, NumPy), starts the server on a free port of
127.0.0.1 in its own process; then, for each client count, N clients (threads, each with its
own keep-alive connection) ask for L characters again and again for S seconds. Prints one
table: requests/s, characters/s, latency percentiles and errors, the engines side by side.
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


def load(port: int, clients: int, length: int, seconds: float) -> dict:
    Client(port, 0, length, time.monotonic() + 2).run()  # warm up
    until = time.monotonic() + seconds
    started = time.perf_counter()
    threads = [Client(port, i, length, until) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    latencies = np.array([x for t in threads for x in t.latencies]) * 1000
    errors = [e for t in threads for e in t.errors]
    p50, p95, p99 = np.percentile(latencies, [50, 95, 99]) if len(latencies) else (0, 0, 0)
    return {"requests/s": len(latencies) / elapsed,
            "chars/s": len(latencies) * length / elapsed, "p50": p50, "p95": p95, "p99": p99,
            "errors": len(errors), "first error": errors[0] if errors else ""}


@click.command()
@click.argument("runs", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--clients", "client_counts", multiple=True, type=int, default=(1, 8),
              show_default=True, help="Concurrent clients (repeatable).")
@click.option("--engine", "engines", multiple=True, default=("onnxruntime", "numpy"),
              show_default=True, help="What steps the server's batch (repeatable).")
@click.option("--length", default=200, show_default=True, help="Characters per request.")
@click.option("--seconds", default=20.0, show_default=True)
@click.option("--workers", default=1, show_default=True, help="Server processes.")
def main(runs: tuple[Path, ...], client_counts: tuple[int, ...], engines: tuple[str, ...],
         length: int, seconds: float, workers: int) -> None:
    click.echo(f"charrnn serve: {length} characters a request, {seconds:g} s a row, {workers} "
               f"worker{'s' * (workers != 1)}")
    click.echo(f"{'run':<24} {'engine':<12} {'clients':>7} {'requests/s':>10} {'chars/s':>9} "
               f"{'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'errors':>6}")
    for run in runs:
        for engine in engines:
            port = free_port()
            server = subprocess.Popen(
                [sys.executable, "-m", "charrnn", "serve", str(run), "--port", str(port),
                 "--workers", str(workers), "--engine", engine],
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            try:
                wait_until_up(port, server)
                for clients in client_counts:
                    row = load(port, clients, length, seconds)
                    click.echo(f"{run.resolve().name:<24} {engine:<12} {clients:>7} "
                               f"{row['requests/s']:>10,.1f} {row['chars/s']:>9,.0f} "
                               f"{row['p50']:>8,.1f} {row['p95']:>8,.1f} {row['p99']:>8,.1f} "
                               f"{row['errors']:>6}" + (f"  (first: {row['first error']})"
                                                        if row["errors"] else ""))
            finally:
                server.terminate()
                server.wait(timeout=30)


if __name__ == "__main__":
    main()
