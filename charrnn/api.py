"""charrnn from Python: train a run, load a model, compare models. The command line (cli.py)
and the server are clients of these functions; a notebook calls them directly.

Settings are keywords named as config.py's fields (the command line's options, with
underscores), and take their defaults from there: one definition of each.
"""
from __future__ import annotations

import dataclasses
import re
import shlex
import signal as signals
import textwrap
from datetime import date
from pathlib import Path
from typing import Any, Sequence

from charrnn.config import (
    DEFAULT_LR,
    MODEL_SETTINGS,
    MODELS,
    TRAIN_SETTINGS,
    ModelConfig,
    TrainConfig,
    checked_keywords,
    settings_from,
    to_dict,
)
from charrnn.errors import CharrnnError, UsageError
from charrnn.machine import core_share
from charrnn.machine.devices import contexts_of, describe
from charrnn.machine.distributed import Workers, create_kvstore
from charrnn.machine.notebook import figures_inline, image, table
from charrnn.machine.stopping import StopRequest, stop_on_signals
from charrnn.models import count_parameters
from charrnn.models.generation import TEMPERATURE
from charrnn.runs import bundled, loading, plots
from charrnn.runs.rundir import BEST, RunDir
from charrnn.runs.summary import Summary, summarize
from charrnn.text.corpus import DEFAULT_SPLIT, Corpus, PathLike, prepare_corpus
from charrnn.trained import LENGTH, Model, load
from charrnn.training import console, lifecycle
from charrnn.training.comparison import compare_models, results_table, write_report
from charrnn.training.loop import train_locked
from charrnn.training.progress import INTERRUPTED
from charrnn.training.reporter import Reporter

DEFAULT_SEED_TEXT = "The meaning of life is"
DEFAULT_MODELS = ("unrolled", "rnn_relu", "rnn_tanh", "gru", "lstm")


class Run:
    """A run directory: what `train` returns, and what `Run(path)` opens.

    Attributes
    ----------
    path : pathlib.Path
    stop_reason : str
        Why the training that returned it ended ("" for a run opened from disk).
    signal : int or None
        The signal (SIGINT: Ctrl-C or the notebook's interrupt) that stopped it, if one did;
        its checkpoint is written and ``charrnn.train(resume=run.path)`` continues it.
    """

    def __init__(self, path: PathLike, stop_reason: str = "", signal: int | None = None):
        self.path, self.stop_reason, self.signal = Path(path), stop_reason, signal

    def __repr__(self) -> str:
        return f"<charrnn.Run {self.path}{f': {self.stop_reason}' if self.stop_reason else ''}>"

    @property
    def interrupted(self) -> bool:
        """Whether a signal stopped it; ``charrnn.train(resume=run.path)`` continues it."""
        return self.stop_reason == INTERRUPTED

    @property
    def summary(self) -> Summary:
        """Settings, parameters, metrics rows and recorded scores (what `charrnn info`
        shows); the run directory is checked, its weights are not loaded."""
        has_weights = (bundled.run_path(self.path) / BEST).is_file()
        model, _, run = loading.open_run(self.path, params=BEST if has_weights else None)
        return summarize(run, count_parameters(model))

    @property
    def metrics(self) -> list[dict[str, Any]]:
        """One row per evaluation, as metrics.jsonl holds them."""
        return RunDir.open(self.path).metrics()

    def plot(self):
        """Training and validation bits/char against steps and time, the learning rate
        beneath: a matplotlib Figure (a notebook shows it inline)."""
        return curves([self.path])

    def load(self, ctx: Any = None) -> Model:
        """The run's best weights (see `charrnn.load`)."""
        return load(self.path, ctx)

    def _repr_html_(self) -> str:
        rows = info_rows(self.summary)
        picture = (image(plots.png(self.plot()), "learning curves")
                   if self.metrics and plots.available() else "")
        return f"<h4>{self.path}</h4>{table(rows)}{picture}"


class Comparison:
    """What `compare` returns: the rows of results.json, the report folder and its runs.

    Attributes
    ----------
    path : pathlib.Path
        The report folder (results.md, results.json, curves.png, one run per model).
    rows : list of dict
        One per model: parameters, epochs, wall time, speed, validation and test bits/char,
        test accuracy, a sample.
    signal : int or None
        The signal that interrupted it (``resume=True`` continues it).
    """

    def __init__(self, path: Path, rows: list[dict[str, Any]], signal: int | None = None):
        self.path, self.rows, self.signal = path, rows, signal

    def __repr__(self) -> str:
        return f"<charrnn.Comparison {self.path}: {', '.join(r['model'] for r in self.rows)}>"

    @property
    def table(self) -> str:
        """The comparison as a Markdown table."""
        return results_table(self.rows)

    @property
    def runs(self) -> dict[str, Run]:
        """Each model's run directory in the report folder, by model name."""
        return {row["model"]: Run(row["run"]) for row in self.rows}

    def plot(self):
        """Every model's curves in one Figure."""
        return curves([row["run"] for row in self.rows])

    def _repr_html_(self) -> str:
        columns = ("model", "hidden", "parameters", "epochs", "wall_time_s",
                   "train_chars_per_s", "val_bpc", "test_bpc", "test_accuracy")
        return table([{c: row[c] for c in columns} for row in self.rows])


def train(corpus: PathLike | None = None, out: PathLike | None = None, *,
          resume: PathLike | None = None, init_from: PathLike | None = None,
          overwrite: bool = False, encoding: str = "utf-8", ctx: Any = None,
          kvstore: str | None = None, sample_length: int = LENGTH,
          sample_text: str = DEFAULT_SEED_TEXT, verbose: bool = True, **settings: Any) -> Run:
    """Train a model on a text file, or resume a run.

    Parameters
    ----------
    corpus : path, optional
        A UTF-8 text file (or a folder made by `prepare`). Default: the bundled Nietzsche.
    out : path, optional
        The run directory. Default: params/<corpus>-<model>.
    resume : path, optional
        Continue the run saved there where it stopped (settings given are compared with
        the run's; epochs, max_steps, stop_at_step, patience, time_budget, lr and clip may
        change).
    init_from : path, optional
        Start from the best weights of that run (fine-tuning): its architecture, and its
        vocabulary extended with the corpus's new characters.
    overwrite : bool
        Replace the run already in `out`.
    encoding : str
        The corpus's encoding.
    ctx : str or mxnet.Context or list, optional
        Devices: "cpu", "gpu", "gpu:0,1". Default: a GPU if there is a usable one.
    kvstore : str, optional
        "dist_sync" as one worker of a `charrnn launch` job.
    sample_length : int
        Characters generated from the best model at the end (0: none).
    sample_text : str
        Seed text of that sample (a line of the corpus when it has other characters).
    verbose : bool
        Print progress (a progress bar per epoch; tqdm's in a notebook), a line per epoch
        and the closing sample.
    **settings
        Any model or training setting, as below (the command line's options).
    {settings}

    Returns
    -------
    Run
        The run directory. Interrupted (Ctrl-C, SIGTERM, a notebook's interrupt button), the
        training stops after its current step with the checkpoint written and returns
        normally: ``run.interrupted`` is True and ``train(resume=run.path)`` continues
        exactly. Signals are caught only when called from the main thread; from another
        thread, training runs to its limits.

    Raises
    ------
    CharrnnError
        An unknown or out-of-range setting (naming the closest one), a missing or
        unreadable corpus, a run directory that exists or is being written, a damaged run.

    Examples
    --------
    >>> run = charrnn.train("data/nietzsche.txt", "params/quick", hidden=128,
    ...                     time_budget="1m")  # doctest: +SKIP
    >>> run.load().generate("The meaning of life is", 100)  # doctest: +SKIP
    """
    given = checked_keywords(settings)
    contexts = contexts_of(ctx)
    workers = Workers(create_kvstore(kvstore))
    say = console.say if verbose and workers.chief else _silent
    architecture, config = settings_from(given)
    if resume is None:
        corpus = corpus or bundled.corpus()
        out = out or Path("params") / f"{Path(corpus).stem}-{architecture.model}"
    try:
        run, data, model, progress, config = lifecycle.start_or_resume(
            resume or out, resume is not None, corpus, architecture, config, contexts,
            given_model=_only(given, MODEL_SETTINGS), given_training=_only(given, TRAIN_SETTINGS),
            overwrite=overwrite, encoding=encoding, init_from=init_from, write=workers.chief)
    except lifecycle.RunFinished as finished:
        say(str(finished))
        return Run(resume, "finished")
    reporter = console.ConsoleReporter(config.epochs) if verbose and workers.chief else Reporter()
    stop = StopRequest()
    try:  # from here on a stop request (a signal) ends the run after a step, checkpointed
        with stop_on_signals(stop), core_share.sharing(contexts):
            say(_started(run.path, resume is not None, model, contexts, workers, data))
            if not plots.available():
                say(plots.MISSING)
            progress = train_locked(model, data, config, contexts, run, progress, reporter,
                                    stop, workers)
    finally:
        run.unlock()  # also when the loop never started (train_locked releases it otherwise)
    if progress.stop_reason == INTERRUPTED:
        say(f"\nstopped at step {progress.step}; checkpoint saved. Resume with:\n"
            f"  charrnn train --resume {run.path}\n"
            f"  (from Python: charrnn.train(resume={str(run.path)!r}))")
        return Run(run.path, progress.stop_reason, stop.signal or signals.SIGINT)
    if workers.chief:
        best = summarize(run, count_parameters(model)).best_val_bpc
        say(f"{progress.stop_reason}; best validation {best:.3f} bits/char, saved in "
            f"{run.path}")
        if verbose and sample_length:
            _closing_sample(run.path, sample_text, sample_length, progress.step)
    return Run(run.path, progress.stop_reason)


def _started(path: Path, resumed: bool, model, contexts, workers: Workers, data: Corpus) -> str:
    return (f"{'resuming' if resumed else 'training'} {path}: "
            f"{count_parameters(model):,} parameters on {describe(contexts)}"
            f"{f' x {workers.count} workers' if workers.count > 1 else ''}; "
            f"{len(data.part('train')):,} training characters, vocabulary of {len(data.vocab)}")


def _closing_sample(path: Path, seed_text: str, length: int, seed: int) -> None:
    """A taste of the best model, from the seed text if the corpus has its characters, else
    from a line of the corpus (the default English seed suits no Chinese text)."""
    model = load(path)
    known = seed_text if not model.vocab.unknown(seed_text) else None
    console.say(f"\n--- sample ({length} characters, temperature {TEMPERATURE}) ---")
    console.stream(model.stream(known, length, seed=seed))


def compare(corpus: PathLike | None = None, models: Sequence[str] | str = DEFAULT_MODELS, *,
            out: PathLike | None = None, match_params: bool = False, resume: bool = False,
            encoding: str = "utf-8", sample_text: str = DEFAULT_SEED_TEXT,
            temperature: float = TEMPERATURE, ctx: Any = None, verbose: bool = True,
            **settings: Any) -> Comparison:
    """Train several models on the same split of a corpus, with one seed, and compare them.

    Parameters
    ----------
    corpus : path, optional
        Default: the bundled Nietzsche.
    models : sequence of str or str
        Among lstm, gru, rnn_relu, rnn_tanh, unrolled (a list or "lstm,gru").
    out : path, optional
        The report folder. Default: reports/<corpus>-<date>.
    match_params : bool
        Size each model's hidden layer to the parameter count of the first recurrent model
        listed, so that cells are compared at equal size.
    resume : bool
        Continue an interrupted comparison in `out`, skipping finished models.
    encoding : str
        The corpus's encoding.
    sample_text, temperature
        Seed text and temperature of every model's sample.
    ctx : str or mxnet.Context or list, optional
        Devices, as for `train`; the test split is scored on the first.
    verbose : bool
        Print each model's progress and the table.
    **settings
        Any setting of `train` but `model`: every model trains with them (time_budget and
        max_steps apply to each model).

    Returns
    -------
    Comparison
        Its rows, table and runs; a notebook shows its table. results.md (with the command
        line that repeats it), results.json and curves.png are in `out`.

    Raises
    ------
    CharrnnError
        An unknown model or setting, a corpus problem, an `out` that exists (without resume).

    Examples
    --------
    >>> charrnn.compare("my_text.txt", ["lstm", "gru"], match_params=True,
    ...                 time_budget="5m")  # doctest: +SKIP
    """
    names = _model_names(models)
    if "model" in settings:
        raise UsageError("compare trains every model in models: drop model.")
    given = checked_keywords(settings)
    architecture, config = settings_from(given)
    contexts = contexts_of(ctx)
    corpus = Path(corpus) if corpus is not None else bundled.corpus()
    out = Path(out) if out is not None else (
        Path("reports") / f"{corpus.stem}-{date.today().isoformat()}")
    say = console.say if verbose else _silent
    out.mkdir(parents=True, exist_ok=True)
    stop = StopRequest()
    with stop_on_signals(stop), core_share.sharing(contexts):
        rows = compare_models(
            corpus, names, architecture, config, contexts, out, match_params, resume,
            sample_text, temperature, stop, say,
            lambda: console.ConsoleReporter(config.epochs) if verbose else Reporter(),
            encoding)
    options = {"models": ",".join(names), **given, "match_params": match_params,
               "out": out, "resume": resume,
               "sample_text": sample_text if sample_text != DEFAULT_SEED_TEXT else None,
               "temperature": temperature if temperature != TEMPERATURE else None,
               "encoding": encoding if encoding != "utf-8" else None}
    written = write_report(out, rows, command_line("compare", corpus, options), sample_text,
                           temperature)
    say("\n" + results_table(rows))
    say("wrote " + ", ".join(str(p) for p in written))
    if len(written) < 3:
        say(plots.MISSING)
    if stop.signal is not None:
        say(f"interrupted: continue with  charrnn compare {corpus} --out {out} --resume "
            "(and the same options)")
    return Comparison(out, rows, stop.signal)


def command_line(command: str, argument: Any, options: dict[str, Any]) -> str:
    """The command line that does what these keywords do: the top of a comparison's report.
    False flags and None are left out."""
    words = ["charrnn", command, str(argument)]
    for name, value in options.items():
        if value is None or value is False:
            continue
        words.append("--" + name.replace("_", "-"))
        if value is not True:
            words.append(f"{value:g}" if isinstance(value, float) else str(value))
    return " ".join(shlex.quote(w) for w in words)


def curves(run_dirs: Sequence[PathLike], out: PathLike | None = None):
    """Several runs' learning curves in one picture, to see which learns faster.

    Parameters
    ----------
    run_dirs : sequence of path
        Run directories (or shipped models' names) with at least one evaluation.
    out : path, optional
        Also save the picture there, as a PNG.

    Returns
    -------
    matplotlib.figure.Figure
        Validation and training bits/char against steps and against time.

    Raises
    ------
    CharrnnError
        A run with no evaluation yet, or matplotlib missing (the plot extra).

    Examples
    --------
    >>> charrnn.curves(["params/nietzsche-lstm", "params/nietzsche-gru"], "lstm-vs-gru.png")
    """
    labelled = [(Path(path).name, RunDir.open(path).metrics()) for path in run_dirs]
    empty = [str(path) for path, (_, rows) in zip(run_dirs, labelled) if not rows]
    if empty:
        raise CharrnnError(f"{', '.join(empty)} has no evaluation yet (metrics.jsonl is "
                           "empty): nothing to draw.")
    if not plots.available():
        raise CharrnnError("matplotlib is not installed: pip install 'charrnn[plot]'.")
    figure = plots.curves_figure(labelled, f"charrnn: {', '.join(n for n, _ in labelled)}")
    figures_inline()
    if out is not None:
        figure.savefig(out, dpi=100)
    return figure


def prepare(corpus: PathLike, out: PathLike, split: Sequence[float] | str = DEFAULT_SPLIT,
            encoding: str = "utf-8") -> Corpus:
    """Encode a corpus of any size, in chunks, into a folder that training memory-maps, so
    that memory does not grow with the corpus.

    Parameters
    ----------
    corpus : path
        A text file.
    out : path
        The folder to write: ids.npy, vocab.json, meta.json.
    split : sequence of float or str
        The train, validation and test fractions, as numbers or "0.9,0.05,0.05".
    encoding : str
        The text's encoding.

    Returns
    -------
    Corpus
        The prepared corpus; ``charrnn.train(out)`` trains on it.

    Raises
    ------
    CharrnnError
        A missing or undecodable file, or fractions that do not sum to 1.

    Examples
    --------
    >>> charrnn.prepare("big.txt", "big/")
    >>> run = charrnn.train("big/", eval_every=2000, eval_batches=50)
    """
    try:
        fractions = tuple(float(f) for f in (split.split(",") if isinstance(split, str)
                                             else split))
    except ValueError:
        fractions = ()
    if len(fractions) != 3 or min(fractions) < 0 or abs(sum(fractions) - 1) > 1e-6:
        raise UsageError(f"split {split!r}: write three non-negative fractions summing to 1, "
                         "e.g. 0.9,0.05,0.05.")
    return prepare_corpus(Path(corpus), Path(out), encoding, fractions)


def info_rows(summary: Summary) -> list[tuple[str, str]]:
    """What `charrnn info` prints and a Run shows in a notebook, as (name, value) pairs."""
    corpus = summary.corpus
    rows = [("model", ", ".join(f"{k} {v}" for k, v in to_dict(summary.model).items())),
            ("parameters", f"{summary.parameters:,}"),
            ("training", ", ".join(f"{k} {v}" for k, v in to_dict(summary.training).items())),
            ("corpus", f"{corpus.get('path')} ({corpus.get('chars', 0):,} characters, sha256 "
                       f"{str(corpus.get('sha256'))[:12]}..., split at {corpus.get('split')})")]
    last, best = summary.last, summary.best
    if last and best:
        rows.append(("progress", f"epoch {last['epoch']}, step {last['step']}, "
                                 f"{last['elapsed']:.0f} s"))
        rows.append(("best", f"validation {best['val_bpc']:.4f} bits/char at epoch "
                             f"{best['epoch']}"))
        rows.append(("schedule", schedule_text(summary.training, last)))
    for split, scores in summary.evaluations.items():
        rows.append((split, f"{scores['bpc']:.4f} bits/char, accuracy "
                            f"{scores['accuracy']:.2%} ({scores['chars']:,} characters)"))
    return rows


def schedule_text(training: TrainConfig, last: dict[str, Any]) -> str:
    """The learning rate's schedule, its planned end and where the rate stood last."""
    warmup = f" after {training.warmup} warm-up steps" if training.warmup else ""
    end = (f", planned to reach 0 at step {last['planned_end']:,}"
           if last.get("planned_end") and training.lr_schedule != "constant" else "")
    return (f"{training.lr_schedule} from lr {training.lr:g}{warmup}{end}; lr "
            f"{last['lr']:.3g} at step {last['step']:,}")


def _model_names(models: Sequence[str] | str) -> list[str]:
    names = [m.strip() for m in models.split(",")] if isinstance(models, str) else list(models)
    names = [m for m in names if m]
    unknown = [m for m in names if m not in MODELS]
    if unknown or not names:
        raise UsageError(f"{', '.join(unknown) or 'nothing'} is not a model; choose from "
                         f"{', '.join(MODELS)}.")
    if len(set(names)) != len(names):
        raise UsageError("a model is listed twice.")
    return names


def _only(given: dict[str, Any], names: Sequence[str]) -> dict[str, Any]:
    return {k: v for k, v in given.items() if k in names}


def _silent(*_: Any) -> None:
    pass


def _settings_doc(indent: str) -> str:
    """Each setting's numpydoc entry, from its field: the type, the default and the help,
    indented as the docstring's other entries (Python 3.13 dedents docstrings, 3.12 not)."""
    entries = []
    for cls in (ModelConfig, TrainConfig):
        for field in dataclasses.fields(cls):
            if field.name == "vocab_size":
                continue
            default = ("by optimizer: " + ", ".join(f"{v:g} for {k}" for k, v in
                                                    DEFAULT_LR.items())
                       if field.name == "lr" else repr(field.default))
            kind = type(field.default).__name__ + (" or str" * (field.name == "time_budget"))
            help_text = textwrap.fill(field.metadata["help"], 84,
                                      initial_indent=indent + " " * 4,
                                      subsequent_indent=indent + " " * 4)
            entries.append(f"{indent}{field.name} : {kind}, default {default}\n{help_text}")
    return "\n".join(entries)


_placeholder = re.search(r"^([ \t]*)\{settings\}\n", train.__doc__, flags=re.MULTILINE)
train.__doc__ = (train.__doc__[:_placeholder.start()] + _settings_doc(_placeholder.group(1))
                 + "\n" + train.__doc__[_placeholder.end():])
