"""`python -m benchmarks [--quick] [--peer]`: print one table, write benchmarks/results.json."""
from __future__ import annotations

import json
import os
import platform
import tempfile
import time
from pathlib import Path

import click
import mxnet as mx

from benchmarks import constraints, measure, sharing
from charrnn.machine import threads

MODELS = ("lstm", "gru", "rnn_relu", "rnn_tanh", "unrolled")
GENERATION_LENGTH = 2000
PRETRAINED = str(Path(__file__).resolve().parent.parent / "params" / "nietzsche-pretrained")


class Table:
    """Rows of (what, charrnn figure, unit, peer figure); printed as they come."""

    def __init__(self, peer: bool):
        self.peer = peer
        self.rows: list[dict] = []
        header = f"{'measurement':<52} {'charrnn':>12}  {'unit':<8}"
        if peer:
            header += f" {'PyTorch':>12}  {'ratio':>6}"
        click.echo(header + "\n" + "-" * len(header))

    def add(self, what: str, value: float, unit: str, peer_value: float | None = None) -> None:
        row = {"measurement": what, "charrnn": value if unit == "nats" else round(value, 3),
               "unit": unit}
        digits = 3 if unit == "bpc" else 2 if unit == "x" else 1
        shown = f"{value:>12.2e}" if unit == "nats" else f"{value:>12,.{digits}f}"
        line = f"{what:<52} {shown}  {unit:<8}"
        if peer_value is not None:
            row["pytorch"] = round(peer_value, 3)
            row["ratio"] = round(value / peer_value, 3)
            line += f" {peer_value:>12,.1f}  {value / peer_value:>6.2f}"
        self.rows.append(row)
        click.echo(line)


def shared_machine(table: Table, steps: int) -> None:
    """The default training alone, beside a process keeping one core busy, and two at once,
    each in fresh processes: charrnn's thread sharing against a fixed count of every core."""
    for label, fixed in (("", None), (f", fixed {threads.usable_cores()} threads",
                                      str(threads.usable_cores()))):
        idle = sharing.rates(steps, threads=fixed)[0]
        with sharing.busy_core():
            busy = sharing.rates(steps, threads=fixed)[0]
        pair = min(sharing.rates(steps, processes=2, threads=fixed))
        table.add(f"train lstm{label}: idle machine", idle, "chars/s")
        table.add(f"train lstm{label}: one core busy elsewhere", busy, "chars/s")
        table.add(f"train lstm{label}: one core busy, x idle", busy / idle, "x")
        table.add(f"train lstm{label}: two at once, the slower", pair, "chars/s")
        table.add(f"train lstm{label}: two at once, x idle", pair / idle, "x")


@click.command()
@click.option("--quick", is_flag=True, help="Fewer and shorter measurements (under 3 minutes).")
@click.option("--peer", is_flag=True, help="Also run the PyTorch re-implementation.")
@click.option("--out", type=click.Path(path_type=Path),
              default=Path(__file__).parent / "results.json", show_default=True)
def main(quick: bool, peer: bool, out: Path) -> None:
    started = time.perf_counter()
    peer_module = None
    if peer:
        from benchmarks import peer_torch as peer_module
    chunks, steps = (3, 5) if quick else (5, 10)
    click.echo(f"charrnn benchmarks on {platform.machine()}, {threads.usable_cores()} cores "
               f"({threads.describe()}), "
               f"MXNet {mx.__version__}, default model sizes (2 x 256, embedding 64, "
               f"seq-len {measure.SEQ_LEN}){' [quick]' if quick else ''}\n")
    table = Table(peer)
    for batch in (32,) if quick else (32, 128):
        for name in MODELS:
            rate = measure.training_rate(name, batch, steps, chunks)
            other = (peer_module.training_rate(name, batch, steps, chunks)
                     if peer_module and name != "unrolled" else None)
            table.add(f"train {name}, batch {batch}", rate, "chars/s", other)
    shared_machine(table, steps=20 if quick else 40)
    table.add("evaluate lstm on the validation split, batch 32",
              measure.evaluation_rate(chunks), "chars/s")
    with tempfile.TemporaryDirectory() as folder:
        run = measure.trained_lstm(Path(folder), steps=20)
        length = GENERATION_LENGTH // (4 if quick else 1)
        for label, options, torch_options in [
                ("generate lstm, batch 1, greedy", {"greedy": True}, {}),
                ("generate lstm, batch 1, sampled (T=0.8)", {"temperature": 0.8},
                 {"greedy": False}),
                ("generate lstm, 32 samples (aggregate)", {"num_samples": 32},
                 {"samples": 32, "greedy": False})]:
            rate = measure.generation_rate(run, length, chunks, **options)
            other = (peer_module.generation_rate("lstm", length, chunks, **torch_options)
                     if peer_module else None)
            table.add(label, rate, "chars/s", other)
        table.add("generate by re-feeding a 100-char window",
                  measure.refeeding_rate(run, 50 if quick else 200), "chars/s")
        for what, value, unit in constraints.rows([run, Path(PRETRAINED)], quick):
            table.add(what, value, unit)
        megabytes = 20 if quick else 100
        table.add(f"encode a {megabytes} MB corpus", measure.encoding_rate(megabytes), "MB/s")
        table.add("peak RSS, training the default lstm",
                  measure.training_peak_rss_mb(20), "MB")
        text_mb = 0.02 if quick else 1.0
        seconds, peak = measure.inspection_cost(text_mb)
        table.add(f"inspect the pretrained 2 x 512 lstm, {text_mb:g} MB text", seconds, "s")
        table.add(f"inspect the pretrained 2 x 512 lstm, {text_mb:g} MB: peak RSS", peak, "MB")
        if not quick:
            seconds, bpc = measure.budget_quality(Path(folder), epochs=3)
            table.add("3 epochs of the default lstm: wall time", seconds, "s")
            table.add("3 epochs of the default lstm: test bits/char", bpc, "bpc")
    if peer_module:
        difference, count = peer_module.exported_difference(PRETRAINED)
        table.add(f"safetensors in torch.nn: max log-p gap, {count:,} chars", difference,
                  "nats")
    out.write_text(json.dumps({"machine": f"{platform.machine()}, {os.cpu_count()} cores",
                               "mxnet": mx.__version__, "quick": quick, "rows": table.rows},
                              indent=1) + "\n")
    click.echo(f"\nwrote {out} in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
