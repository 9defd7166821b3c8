"""Several models trained on one split with one seed, then set side by side.

Each model becomes an ordinary run directory inside the report folder; the report is a
Markdown table, the same numbers as JSON, and validation curves as a picture.
"""
from __future__ import annotations

import dataclasses
import json
import platform
from pathlib import Path
from typing import Any, Callable

import mxnet as mx

from charrnn.config import RECURRENT_MODELS, ModelConfig, TrainConfig
from charrnn.errors import CharrnnError
from charrnn.machine.stopping import StopRequest
from charrnn.models import build_model, count_parameters
from charrnn.models.generation import SAMPLE_LENGTH
from charrnn.runs.plots import plot_runs
from charrnn.runs.rundir import BEST, STATE, RunDir
from charrnn.text.corpus import load_corpus
from charrnn.trained import COPY_MIN, load
from charrnn.training import lifecycle
from charrnn.training.loop import train_locked
from charrnn.training.progress import INTERRUPTED
from charrnn.training.reporter import Reporter
from charrnn.training.step import Diverged


def match_hidden(config: ModelConfig, target: int) -> int:
    """The hidden size that brings `config`'s parameter count closest to `target`."""
    def size(hidden: int) -> int:
        return count_parameters(build_model(dataclasses.replace(config, hidden=hidden)))

    low, high = 1, 1
    while size(high) < target:
        low, high = high, high * 2
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if size(middle) < target else (low, middle)
    return min((low, high), key=lambda h: abs(size(h) - target))


def plan(models: list[str], base: ModelConfig, match_params: bool) -> dict[str, ModelConfig]:
    """Each model's settings; with `match_params`, sized like the first recurrent model."""
    configs = {m: dataclasses.replace(base, model=m) for m in models}
    if match_params:
        reference = next((m for m in models if m in RECURRENT_MODELS), models[0])
        target = count_parameters(build_model(configs[reference]))
        for m in models:
            if m != reference:
                configs[m] = dataclasses.replace(configs[m],
                                                 hidden=match_hidden(configs[m], target))
    return configs


def finished(path: Path) -> bool:
    run = RunDir(path)
    if not run.has(STATE):
        return False
    return run.read_json(STATE).get("stop_reason", "") not in ("", INTERRUPTED)


def train_one(path: Path, corpus_path: Path, config: ModelConfig, train_config: TrainConfig,
              contexts: list[mx.Context], encoding: str, reporter: Reporter,
              stop: StopRequest) -> None:
    run, corpus, model, progress, train_config = lifecycle.start_or_resume(
        path, RunDir(path).has(STATE), corpus_path, config, train_config, contexts,
        encoding=encoding)
    train_locked(model, corpus, train_config, contexts, run, progress, reporter, stop)


def result_row(path: Path, seed_text: str, temperature: float,
               ctx: mx.Context) -> dict[str, Any]:
    """The numbers of one finished run: the best weights scored on the test split."""
    model = load(path, ctx)
    summary = model.summary
    config, metrics = summary.model, summary.metrics
    test = model.evaluate("test", record=True)
    text = model.generate(seed_text, SAMPLE_LENGTH, temperature=temperature, seed=0,
                          skip_unknown=True)
    [copying] = model.memorisation([temperature], length=400, count=16)
    return {"model": config.model, "hidden": config.hidden, "layers": config.layers,
            "parameters": summary.parameters, "epochs": summary.last["epoch"],
            "wall_time_s": summary.last["elapsed"],
            "train_chars_per_s": round(summary.mean_chars_per_s),
            "val_bpc": summary.best_val_bpc, "test_bpc": test.bpc,
            "test_accuracy": test.accuracy, "copied": copying.share,
            "longest_copy": copying.longest, "sample": text,
            "run": str(path), "curve": [{k: r[k] for k in ("epoch", "elapsed", "val_bpc")}
                                        for r in metrics]}


def compare_models(corpus_path: Path, models: list[str], base: ModelConfig,
                   train_config: TrainConfig, contexts: list[mx.Context], out: Path,
                   match_params: bool, resume: bool, seed_text: str, temperature: float,
                   stop: StopRequest, announce: Callable[[str], None],
                   reporter: Callable[[], Reporter], encoding: str = "utf-8") -> list[dict]:
    """Train each model (skipping those a resumed compare already finished); return the rows."""
    corpus = load_corpus(corpus_path, encoding)
    configs = plan(models, dataclasses.replace(base, vocab_size=len(corpus.vocab)), match_params)
    rows = []
    for i, (name, config) in enumerate(configs.items(), 1):
        path = out / name
        if not resume and path.exists():
            raise CharrnnError(f"{path} already exists: pass --resume (resume=True) to continue "
                               "this comparison, or choose another --out (out).")
        if finished(path):
            announce(f"[{i}/{len(configs)}] {name}: already trained, skipped")
        else:
            announce(f"[{i}/{len(configs)}] {name}: hidden {config.hidden}")
            try:
                train_one(path, corpus_path, config, train_config, contexts, encoding,
                          reporter(), stop)
            except Diverged as error:  # one unstable model should not cost the others
                announce(f"[{i}/{len(configs)}] {name}: {error}")
            if stop.signal is not None:
                break
        if RunDir(path).has(BEST):
            rows.append(result_row(path, seed_text, temperature, contexts[0]))
    return rows


def machine() -> str:
    return (f"{platform.machine()} {platform.processor() or platform.system()}, "
            f"MXNet {mx.__version__}, Python {platform.python_version()}")


def write_report(out: Path, rows: list[dict], command: str, seed_text: str,
                 temperature: float) -> list[Path]:
    """results.md, results.json and (with matplotlib) curves.png; returns what was written."""
    report = {"command": command, "machine": machine(), "seed_text": seed_text,
              "temperature": temperature, "models": rows}
    (out / "results.json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    (out / "results.md").write_text(markdown(report), encoding="utf-8")
    written = [out / "results.md", out / "results.json"]
    picture = plot_runs([(f"{r['model']} ({r['parameters']:,})", RunDir(r["run"]).metrics())
                         for r in rows], out / "curves.png",
                        "charrnn compare: bits per character (lower is better)")
    return written + ([picture] if picture else [])


def markdown(report: dict) -> str:
    return (f"# charrnn compare\n\n```\n{report['command']}\n```\n\n"
            f"Machine: {report['machine']}. Samples: {SAMPLE_LENGTH} characters from "
            f"\"{report['seed_text']}\" at temperature {report['temperature']}. Copied: the "
            f"share of 16 continuations of 400 characters at that temperature inside "
            f"stretches of {COPY_MIN}+ characters found in the corpus, and the longest.\n\n"
            + results_table(report["models"], with_samples=True) + "\n")


def results_table(rows: list[dict], with_samples: bool = False) -> str:
    """The comparison as a Markdown table (the samples as a last column if asked)."""
    head = ("| model | hidden | parameters | epochs | wall time | train chars/s | val bpc "
            "| test bpc | test accuracy | copied |")
    lines = [head + (" sample |" if with_samples else ""),
             "|---" + "|---:" * 9 + "|" + ("---|" if with_samples else "")]
    for r in rows:
        copied = (f"{r['copied']:.1%} (longest {r['longest_copy']})" if "copied" in r
                  else "")  # reports written before the copy meter have none
        line = (f"| {r['model']} | {r['hidden']} | {r['parameters']:,} | {r['epochs']} "
                f"| {r['wall_time_s']:.0f} s | {r['train_chars_per_s']:,} "
                f"| {r['val_bpc']:.3f} | {r['test_bpc']:.3f} | {r['test_accuracy']:.1%} "
                f"| {copied} |")
        if with_samples:
            text = r["sample"].replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ⏎ ")
            line += f" {text} |"
        lines.append(line)
    return "\n".join(lines)
