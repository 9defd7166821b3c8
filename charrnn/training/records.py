"""What a run writes down as it trains: a row per evaluation (metrics.jsonl, redrawn as
curves.png) and short samples from the current weights (samples.jsonl)."""
from __future__ import annotations

import mxnet as mx
import numpy as np
from mxnet import gluon

from charrnn.config import TrainConfig
from charrnn.models import generation
from charrnn.models.scores import Metrics, bits
from charrnn.runs.plots import plot_runs
from charrnn.runs.rundir import CURVES, SAMPLES, RunDir
from charrnn.text.corpus import Corpus
from charrnn.training.progress import Progress
from charrnn.training.reporter import Reporter, Throughput


class Logbook:
    """The run directory's growing files, and the reporter that shows each entry."""

    def __init__(self, run: RunDir, reporter: Reporter, meter: Throughput):
        self.run, self.reporter, self.meter = run, reporter, meter

    def evaluation(self, progress: Progress, metrics: Metrics, improved: bool,
                   windows_per_epoch: int, lr: float) -> None:
        """Append this evaluation to metrics.jsonl, show it, redraw the curves."""
        epoch = progress.epoch + (round(progress.window / windows_per_epoch, 3)
                                  if progress.window else 0)
        train_loss = progress.mean_train_loss()
        if not progress.window:
            progress.restart_train_loss()
        row = {"epoch": epoch, "step": progress.step,
               "train_loss": train_loss, "train_bpc": bits(train_loss),
               "val_loss": metrics.loss, "val_bpc": metrics.bpc,
               "val_accuracy": metrics.accuracy, "lr": lr,
               "planned_end": progress.plan.end,
               "best": improved, "chars_per_s": round(self.meter.rate()),
               "elapsed": round(progress.elapsed, 2)}
        self.meter.restart()
        self.run.append_metrics(row)
        progress.wrote_row()
        self.reporter.epoch_ended(row)
        name = self.run.path.name
        plot_runs([(name, self.run.metrics())], self.run.file(CURVES), f"charrnn: {name}")

    def samples(self, model: gluon.Block, corpus: Corpus, config: TrainConfig,
                progress: Progress, ctx: mx.Context) -> None:
        """A short sample from the current weights at each temperature; its seed is a line of
        the corpus chosen by (seed, step). NumPy draws only: MXNet's random stream, and so
        the run, is unchanged."""
        vocab, step = corpus.vocab, progress.step
        rng = np.random.default_rng([config.seed, step])
        seed_ids = generation.corpus_line(corpus.part("train"), vocab.id_of("\n"), rng, 60)
        for temperature in config.temperatures():
            text = "".join(generation.characters(
                model, vocab, seed_ids, generation.SAMPLE_LENGTH, temperature=temperature,
                seed=int(rng.integers(2 ** 31)), ctx=ctx))
            row = {"step": step, "epoch": progress.epoch, "temperature": temperature,
                   "seed": vocab.decode(seed_ids), "text": text}
            self.run.append_row(SAMPLES, row)
            progress.wrote_sample()
            self.reporter.sampled(row)
