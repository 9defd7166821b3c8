"""`python -m benchmarks.schedules TEXT... --budget 100s`: the learning-rate settings measured
against today's default, each text and setting one budgeted run scored on its test split.

Every setting is given in full on the command line, so a row means the same whatever the
defaults are when it is run again. `--parallel 2` runs two trainings at a time, one core each
(OMP_NUM_THREADS=1): the rows compare settings under equal conditions, not absolute speeds.
Results go to OUT/results.json and a table on stdout (benchmarks/NOTES.md, "Schedules").
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import click

TODAY = ("--lr-schedule", "constant", "--lr", "0.002", "--warmup", "0", "--beta2", "0.999",
         "--forget-bias", "0")


def changed(*pairs: str) -> tuple[str, ...]:
    """Today's settings with some replaced: ("--lr", "0.004", ...)."""
    given = dict(zip(pairs[::2], pairs[1::2]))
    base = dict(zip(TODAY[::2], TODAY[1::2]))
    return tuple(x for name, value in {**base, **given}.items() for x in (name, value))


LINEAR = ("--lr-schedule", "linear", "--lr", "0.004")
SETTINGS = {
    "today: constant 0.002": TODAY,
    "linear to 0, peak 0.002": changed("--lr-schedule", "linear"),
    "linear to 0, peak 0.003": changed("--lr-schedule", "linear", "--lr", "0.003"),
    "linear to 0, peak 0.004": changed(*LINEAR),
    "cosine to 0, peak 0.004": changed("--lr-schedule", "cosine", "--lr", "0.004"),
    "cooldown to 0, peak 0.004": changed("--lr-schedule", "cooldown", "--lr", "0.004"),
    "linear 0.004, beta2 0.99": changed(*LINEAR, "--beta2", "0.99"),
    "linear 0.004, forget bias 1": changed(*LINEAR, "--forget-bias", "1"),
    "linear 0.004, beta2 0.99, bias 1, warm-up 50": changed(*LINEAR, "--beta2", "0.99",
                                                           "--forget-bias", "1", "--warmup",
                                                           "50"),
}


def run_one(text: Path, name: str, flags: tuple[str, ...], limit: tuple[str, ...], out: Path,
            threads: int | None, extra: tuple[str, ...]) -> dict:
    run = out / f"{text.stem}--{''.join(c if c.isalnum() or c in '.-' else '_' for c in name)}"
    env = {**os.environ, **({"OMP_NUM_THREADS": str(threads)} if threads else {})}
    charrnn = [sys.executable, "-m", "charrnn"]
    subprocess.run([*charrnn, "train", str(text), "--out", str(run), *limit,
                    "--sample-length", "0", "--overwrite", *flags, *extra], env=env,
                   check=True, capture_output=True)
    subprocess.run([*charrnn, "evaluate", str(run), "--split", "test", "--record"], env=env,
                   check=True, capture_output=True)
    test = json.loads((run / "evaluation.json").read_text())["test"]
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return {"text": text.stem, "setting": name, "test_loss": test["loss"],
            "test_bpc": test["bpc"], "steps": rows[-1]["step"], "last_lr": rows[-1]["lr"]}


@click.command()
@click.argument("texts", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--budget", default="100s", show_default=True)
@click.option("--epochs", "epochs", default="",
              help="Train each text for a number of epochs instead of --budget, e.g. "
                   "nietzsche=6,shakespeare=3: a horizon in steps, the same at any speed.")
@click.option("--out", default="/tmp/charrnn-schedules", type=click.Path(path_type=Path),
              show_default=True)
@click.option("--parallel", default=1, show_default=True)
@click.option("--only", multiple=True, help="Settings to run (default: all).")
@click.option("--extra", default="", help="More train options for every run, e.g. '--seed 1'.")
def main(texts: tuple[Path, ...], budget: str, epochs: str, out: Path, parallel: int,
         only: tuple[str, ...], extra: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    chosen = {k: v for k, v in SETTINGS.items() if not only or k in only}
    per_text = dict(pair.split("=") for pair in epochs.split(",")) if epochs else {}
    limits = {text: ("--epochs", per_text[text.stem]) if per_text else
              ("--time-budget", budget, "--epochs", "1000") for text in texts}
    jobs = [(text, name, flags, limits[text]) for name, flags in chosen.items() for text in texts]
    threads = 1 if parallel > 1 else None
    with ThreadPoolExecutor(parallel) as pool:
        results = list(pool.map(lambda job: run_one(*job, out, threads,
                                                    tuple(extra.split())), jobs))
    (out / "results.json").write_text(json.dumps(results, indent=1))
    base = {r["text"]: r["test_loss"] for r in results if r["setting"] == next(iter(chosen))}
    click.echo(f"{'setting':<46}" + "".join(f"{t.stem[:22]:>24}" for t in texts))
    for name in chosen:
        cells = []
        for text in texts:
            row = next(r for r in results if r["setting"] == name and r["text"] == text.stem)
            delta = row["test_loss"] - base[text.stem] if text.stem in base else 0.0
            cells.append(f"{row['test_loss']:.4f} ({delta:+.4f})")
        click.echo(f"{name:<46}" + "".join(f"{c:>24}" for c in cells))


if __name__ == "__main__":
    main()
