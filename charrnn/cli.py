"""The `charrnn` command line: train, generate, evaluate, info, inspect (and compare, plot, serve,
prepare, launch, doctor)."""
from __future__ import annotations

import json
import shlex
import signal
import sys
from datetime import date
from pathlib import Path
from typing import Any, Iterable

import click
import numpy as np
from click.core import ParameterSource

from charrnn import console, core_share, evaluation, lifecycle, plots
from charrnn.compare import compare_models, results_table, write_report
from charrnn.config import MODELS, ModelConfig, to_dict
from charrnn.corpus import DEFAULT_SPLIT, SPLITS, Corpus, decode_text, prepare_corpus
from charrnn.devices import describe, parse_contexts
from charrnn.distributed import Workers, create_kvstore
from charrnn.doctor import doctor
from charrnn.errors import CharrnnError
from charrnn.generation import TEMPERATURE, beam_search, corpus_line, sample, seed_or_corpus_line
from charrnn.inside import inspection
from charrnn.inside.report import write_inspection
from charrnn.launch import LAUNCHERS, launch_local, launch_remote
from charrnn.models import count_parameters, hybridize
from charrnn.options import (
    MODEL_SETTINGS,
    TRAIN_SETTINGS,
    Duration,
    setting_options,
    split_settings,
)
from charrnn.progress import INTERRUPTED
from charrnn.rundir import BEST, RunDir
from charrnn.serving.schema import MAX_LENGTH
from charrnn.stopping import StopRequest, stop_on_signals
from charrnn.summary import summarize
from charrnn.training import Reporter, TrainingLoop

DEFAULT_SEED_TEXT = "The meaning of life is"

class Group(click.Group):
    """Turns a CharrnnError into click's one-line `Error: ...` and exit code 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CharrnnError as error:
            raise click.ClickException(str(error)) from None


POSITIVE = click.IntRange(min=1)
POSITIVE_FLOAT = click.FloatRange(min=0, min_open=True)
LENGTH = 300  # characters of a sample: generate's, and the one that ends a training
CTX_OPTION = click.option(
    "--ctx", "ctx_spec", default=None,
    help="Device(s): cpu, gpu, gpu:1, or gpu:0,1,2,3 (cpu:0,1 too). Default: a GPU if any.")


def temperature_option(help: str):
    return click.option("--temperature", type=click.FloatRange(0, min_open=True),
                        default=TEMPERATURE, show_default=True, help=help)


def sample_text_option(help: str):
    return click.option("--sample-text", default=DEFAULT_SEED_TEXT, show_default=True,
                        help=help)


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"],
                                          "max_content_width": 100})
@click.version_option(package_name="charrnn")
def cli() -> None:
    """Character-level language models with Apache MXNet Gluon.

    Train a recurrent (LSTM, GRU, RNN) or unrolled three-character model on a text file, watch
    bits per character fall, and generate text in the corpus' style from a seed string.
    """


# -- train ----------------------------------------------------------------------------------

@cli.command()
@click.argument("corpus", required=False, type=click.Path(path_type=Path))
@setting_options()
@CTX_OPTION
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Run directory [default: params/<corpus>-<model>].")
@click.option("--resume", type=click.Path(path_type=Path), default=None, metavar="RUN_DIR",
              help="Continue the run saved in RUN_DIR where it stopped.")
@click.option("--overwrite", is_flag=True, help="Replace the model already in --out.")
@click.option("--init-from", type=click.Path(path_type=Path), default=None, metavar="RUN_DIR",
              help="Start from the best weights of RUN_DIR (fine-tuning): its architecture, "
                   "and its vocabulary extended with CORPUS's new characters.")
@click.option("--encoding", default="utf-8", show_default=True, help="Encoding of CORPUS.")
@click.option("--kvstore", type=click.Choice(["dist_sync", "dist_device_sync"]), default=None,
              help="Train as one worker of a `charrnn launch` job, gradients summed by its "
                   "parameter servers. (Across the devices of one process, a kvstore is chosen "
                   "for you.)")
@click.option("--sample-length", type=click.IntRange(min=0), default=LENGTH, show_default=True,
              help="Characters to generate from the best model at the end (0: none).")
@sample_text_option("Seed text of that final sample.")
@click.pass_context
def train(ctx: click.Context, corpus: Path | None, out: Path | None,
          resume: Path | None, overwrite: bool, init_from: Path | None, encoding: str,
          ctx_spec: str | None,
          kvstore: str | None, sample_length: int, sample_text: str, **options: Any) -> None:
    """Train a model on CORPUS (default: data/nietzsche.txt).

    Progress is shown as it trains; every epoch the validation split is scored, the best
    weights are kept in RUN_DIR/model.params and a resumable checkpoint is written. Ctrl-C stops
    after the current batch and prints the command that resumes.
    """
    contexts = parse_contexts(ctx_spec)
    architecture, config = split_settings(options)
    workers = Workers(create_kvstore(kvstore))
    if resume:
        if overwrite or init_from:
            raise click.UsageError("--resume continues a run; --overwrite and --init-from start "
                                   "one: pick one.")
        try:
            run, data, model, progress, config = lifecycle.resume_run(
                resume, corpus, _given(ctx, MODEL_SETTINGS, options),
                _given(ctx, TRAIN_SETTINGS, options), contexts, write=workers.chief)
        except lifecycle.RunFinished as finished:
            click.echo(str(finished))
            return
    else:
        corpus = corpus or lifecycle.default_corpus()
        model_config = ModelConfig(**architecture, vocab_size=1)
        out = out or Path("params") / f"{corpus.stem}-{model_config.model}"
        run, data, model, progress = lifecycle.start_run(
            corpus, model_config.check(), config, out, overwrite, encoding, contexts,
            create=workers.chief, init_from=init_from,
            given_model=_given(ctx, MODEL_SETTINGS, options))
    if workers.chief:  # worker 0 speaks for a job
        click.echo(f"{'resuming' if resume else 'training'} {run.path}: "
                   f"{count_parameters(model):,} parameters on {describe(contexts)}"
                   f"{f' x {workers.count} workers' if workers.count > 1 else ''}; "
                   f"{len(data.part('train')):,} training characters, vocabulary of "
                   f"{len(data.vocab)}")
        if not plots.available():
            click.echo(plots.MISSING)
    reporter = console.ConsoleReporter(config.epochs) if workers.chief else Reporter()
    stop = StopRequest()
    try:
        with stop_on_signals(stop), core_share.sharing(contexts):
            progress = TrainingLoop(model, data, config, contexts, run, progress, reporter, stop,
                                    workers).run()
    finally:
        run.unlock()
    if progress.stop_reason == INTERRUPTED:
        if workers.chief:
            click.echo(f"\nstopped at step {progress.step}; checkpoint saved. Resume with:\n"
                       f"  charrnn train --resume {run.path}")
        sys.exit(128 + (stop.signal or signal.SIGINT))
    if workers.chief:
        best = summarize(run, count_parameters(model)).best_val_bpc
        click.echo(f"{progress.stop_reason}; best validation {best:.3f} bits/char, saved in "
                   f"{run.path}")
        if sample_length:
            _final_sample(run.path, sample_text, sample_length, progress.step, data)


def _final_sample(run_dir: Path, seed_text: str, length: int, seed: int,
                  corpus: Corpus) -> None:
    """A taste of the best model, from the seed text if the corpus has its characters, else
    from a line of the corpus (the default English seed suits no Chinese text)."""
    model, vocab, _ = lifecycle.load_trained(run_dir)
    seed_ids = seed_or_corpus_line(vocab, seed_text, corpus.part("train"),
                                   np.random.default_rng(seed))
    click.echo(f"\n--- sample ({length} characters, temperature {TEMPERATURE}) ---")
    console.stream(vocab.decode(seed_ids), (chars[0] for chars in sample(
        model, vocab, seed_ids, length, temperature=TEMPERATURE, seed=seed)))


def _given(ctx: click.Context, names: Iterable[str], options: dict[str, Any]) -> dict[str, Any]:
    """Options the user typed (not defaults): on resume only these are compared or applied."""
    typed = (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)
    return {n: options[n] for n in names if ctx.get_parameter_source(n) in typed}


# -- generate ---------------------------------------------------------------------------------

@cli.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--seed-text", default=None,
              help="Text that primes the model; printed before the continuation [default: a "
                   "random line of the training corpus, chosen by --seed].")
@click.option("--seed-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="Read the seed text from this UTF-8 file.")
@click.option("--length", type=click.IntRange(min=0), default=LENGTH, show_default=True,
              help="Characters to generate after the seed text.")
@temperature_option("Below 1: safer, more repetitive text; above 1: more surprising, more "
                    "errors.")
@click.option("--top-k", type=click.IntRange(min=0), default=0, show_default=True,
              help="Sample only among the K most likely characters (0: all of them).")
@click.option("--top-p", type=click.FloatRange(0, 1, min_open=True), default=1.0,
              show_default=True,
              help="Sample only among the most likely characters whose probabilities add up to "
                   "P (nucleus sampling; 1: all of them).")
@click.option("--greedy", is_flag=True,
              help="Always take the most likely character: deterministic, often loops.")
@click.option("--beam-size", type=POSITIVE, default=1, show_default=True,
              help="Above 1: beam search for the most likely continuation as a whole.")
@click.option("--num-samples", type=POSITIVE, default=1, show_default=True,
              help="Continuations generated together in one batched pass.")
@click.option("--seed", type=click.IntRange(min=0), default=None,
              help="Random seed: the same seed gives the same text.")
@click.option("--skip-unknown", is_flag=True,
              help="Drop seed characters the model has never seen instead of failing.")
@click.pass_context
def generate(ctx: click.Context, run_dir: Path, seed_text: str | None, seed_file: Path | None,
             length: int, temperature: float, top_k: int, top_p: float, greedy: bool,
             beam_size: int, num_samples: int, seed: int | None, skip_unknown: bool) -> None:
    """Generate text from the model in RUN_DIR, continuing the seed text."""
    if beam_size > 1:
        _refuse_with_beam_search(ctx)
        if num_samples > beam_size:
            raise click.UsageError("--num-samples can be at most --beam-size with beam search "
                                   "(the best beams are printed).")
    if seed_text is not None and seed_file is not None:
        raise click.UsageError("give the seed as --seed-text or --seed-file, not both.")
    model, vocab, run = lifecycle.load_trained(run_dir)
    if seed_file is not None:
        seed_text = decode_text(seed_file.read_bytes(), f"--seed-file {seed_file}")
    if seed_text is None:
        seed_ids = corpus_line(lifecycle.training_corpus(run, vocab).part("train"),
                               vocab.id_of("\n"), np.random.default_rng(seed))
    else:
        seed_ids = vocab.encode_seed(seed_text, skip_unknown)
    prefix = vocab.decode(seed_ids)
    if beam_size > 1:
        texts = beam_search(model, vocab, seed_ids, length, beam_size, num_samples)
        console.print_samples([prefix + t for t in texts])
        return
    steps = sample(model, vocab, seed_ids, length, num_samples, temperature, top_k, greedy, seed,
                   top_p)
    if num_samples == 1:
        console.stream(prefix, (chars[0] for chars in steps))
    else:
        columns = list(zip(*steps)) or [()] * num_samples
        console.print_samples([prefix + "".join(c) for c in columns])


def _refuse_with_beam_search(ctx: click.Context) -> None:
    """Beam search finds the most likely text: options that shape sampling do not apply."""
    sampling = [f"--{name.replace('_', '-')}" for name in ("temperature", "top_k", "top_p",
                                                            "greedy", "seed")
                if ctx.get_parameter_source(name) == ParameterSource.COMMANDLINE]
    if sampling:
        raise click.UsageError(f"--beam-size searches for the most likely text; it does not "
                               f"sample, so {', '.join(sampling)} would be ignored: drop "
                               f"{'it' if len(sampling) == 1 else 'them'}.")


# -- evaluate and info ----------------------------------------------------------------------

@cli.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.argument("corpus", required=False, type=click.Path(path_type=Path))
@click.option("--split", "part", type=click.Choice([*SPLITS, "all"]), default="test",
              show_default=True, help="Which part of the corpus to score (all: the whole text).")
@click.option("--batch-size", type=POSITIVE, default=None,
              help="Columns scored in parallel [default: the run's --eval-batch-size].")
@CTX_OPTION
@click.option("--dynamic", is_flag=True,
              help="Dynamic evaluation: the model keeps learning from the text it has scored, "
                   "one step per 50 characters (Krause et al. 2018). Slower; reported apart.")
@click.option("--dynamic-lr", type=POSITIVE_FLOAT, default=None,
              help="Step size of --dynamic, in units of each weight's RMS training gradient "
                   f"[default: {evaluation.DYNAMIC_LR:g}, chosen on the bundled corpus's "
                   "validation split].")
@click.option("--record", is_flag=True,
              help="Keep the scores in RUN_DIR/evaluation.json (shown by `charrnn info`).")
def evaluate(run_dir: Path, corpus: Path | None, part: str, batch_size: int | None,
             ctx_spec: str | None, dynamic: bool, dynamic_lr: float | None,
             record: bool) -> None:
    """Score the model in RUN_DIR on a split of CORPUS (default: its training corpus)."""
    if dynamic and batch_size is not None:
        raise click.UsageError("--dynamic scores the text as one stream: drop --batch-size.")
    if dynamic_lr is not None and not dynamic:
        raise click.UsageError("--dynamic-lr is the step size of --dynamic: add --dynamic.")
    ctx = parse_contexts(ctx_spec)[0]
    model, vocab, run = lifecycle.load_trained(run_dir, ctx)
    _, config, _ = run.config()
    data = lifecycle.training_corpus(run, vocab, corpus)
    ids = data.ids if part == "all" else data.part(part)
    model = hybridize(model)
    scored = f"{part} split"
    with core_share.sharing([ctx]):
        if dynamic:
            dynamic_lr = dynamic_lr or evaluation.DYNAMIC_LR
            rms = evaluation.gradient_rms(model, data.part("train"), ctx)
            metrics = evaluation.evaluate_dynamic(model, ids, ctx, rms, dynamic_lr)
        else:
            metrics = evaluation.evaluate(model, ids, ctx, batch_size or config.eval_batch_size,
                                          config.seq_len)
    if dynamic:
        evaluation.check_dynamic(metrics, len(vocab), dynamic_lr)
        part, scored = f"{part}-dynamic", f"{scored} (dynamic evaluation, lr {dynamic_lr:g})"
    if record:
        run.record_evaluation(part, data, metrics)
    click.echo(f"{scored} of {data.path}: {metrics.chars:,} characters scored\n"
               f"loss        {metrics.loss:.4f} nats/char\n"
               f"bits/char   {metrics.bpc:.4f}\n"
               f"perplexity  {metrics.perplexity:.4f}\n"
               f"accuracy    {metrics.accuracy:.2%}")


@cli.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
def info(run_dir: Path) -> None:
    """Show the settings, size and progress of the model in RUN_DIR."""
    has_weights = (run_dir / BEST).is_file()
    model, _, run = lifecycle.open_run(run_dir, params=BEST if has_weights else None)
    summary = summarize(run, count_parameters(model))
    corpus = summary.corpus
    rows = [("run", str(run.path)),
            ("model", ", ".join(f"{k} {v}" for k, v in to_dict(summary.model).items())),
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
    for split, scores in summary.evaluations.items():
        rows.append((split, f"{scores['bpc']:.4f} bits/char, accuracy "
                            f"{scores['accuracy']:.2%} ({scores['chars']:,} characters)"))
    for name, value in rows:
        click.echo(f"{name:<11} {value}")


# -- inspect --------------------------------------------------------------------------------

class BadInspection(click.ClickException):
    """Bad input to `inspect`: one line and exit code 2, as click gives a bad option."""

    exit_code = 2


@cli.command("inspect")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path),
                metavar="RUN [RUN_B] [TEXT]")
@click.option("--text", "given_text", default=None,
              help="Inspect this text instead of a file [default: RUN's test split].")
@click.option("-o", "--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder for index.html and inspect.json [default: reports/inside-<run>].")
@click.option("--json", "as_json", is_flag=True,
              help="Print the figures as JSON instead of writing a report (with the "
                   "activations and contexts of the --unit units).")
@click.option("--pattern", "patterns", multiple=True, metavar="REGEX",
              help="Also rank units for the characters inside this regular expression's "
                   "matches (repeatable).")
@click.option("--unit", "unit_specs", multiple=True, metavar="LAYER.STATE.UNIT",
              help="A unit to show, as 1.c.42 (layer 1's cell state, unit 42) (repeatable).")
@click.option("--strict", is_flag=True,
              help="Refuse a text with characters outside the vocabulary instead of skipping "
                   "them.")
@click.option("--show", type=POSITIVE, default=inspection.SHOW, show_default=True,
              help="Characters the report colours one by one (the figures cover the whole "
                   "text).")
@click.option("--ranked-chars", type=POSITIVE, default=inspection.RANKED, show_default=True,
              help="Characters on which units are ranked: each unit's activation at each of "
                   "them is kept in memory.")
def inspect_command(paths: tuple[Path, ...], given_text: str | None, out: Path | None,
                    as_json: bool, patterns: tuple[str, ...], unit_specs: tuple[str, ...],
                    strict: bool, show: int, ranked_chars: int) -> None:
    """Look inside the model in RUN: what each character of a text cost it, what each unit
    does, which units track quotes, brackets, line position..., how its gates behave; with
    RUN_B, where one model beats the other. Writes a self-contained index.html."""
    try:
        _inspect(paths, given_text, out, as_json, patterns, unit_specs, strict, show,
                 ranked_chars)
    except CharrnnError as error:
        raise BadInspection(str(error)) from None


def _inspect(paths: tuple[Path, ...], given_text: str | None, out: Path | None, as_json: bool,
             patterns: tuple[str, ...], unit_specs: tuple[str, ...], strict: bool, show: int,
             ranked_chars: int) -> None:
    missing = [p for p in paths if not p.exists()]
    if missing:
        raise CharrnnError(f"{missing[0]} does not exist: give a run directory or a text file.")
    run_dirs = [p for p in paths if p.is_dir()]
    files = [p for p in paths if not p.is_dir()]
    if not run_dirs or len(run_dirs) > 2 or len(files) > 1 or (files and given_text is not None):
        raise CharrnnError("give one or two run directories and at most one text (a file or "
                           "--text), e.g. charrnn inspect RUN my_text.txt.")
    subjects = [_inspected(run_dir) for run_dir in run_dirs]
    units = inspection.parse_units(unit_specs, subjects[0].model)
    if given_text is not None:
        text, source = given_text, "--text"
    elif files:
        corpus_file = files[0]
        text, source = decode_text(corpus_file.read_bytes(), str(corpus_file)), str(corpus_file)
    else:
        vocab = subjects[0].vocab
        text = vocab.decode(lifecycle.training_corpus(RunDir.open(run_dirs[0]), vocab)
                            .part("test"))
        source = f"{run_dirs[0]}'s test split"
    if not text:
        raise CharrnnError(f"{source} is empty: give a text to inspect.")
    found = inspection.inspect(subjects[0], text, patterns, subjects[1] if len(subjects) > 1
                               else None, strict, show, ranked_chars)
    if as_json:
        click.echo(json.dumps(inspection.for_units(found, units), indent=1))
        return
    out = out or Path("reports") / f"inside-{run_dirs[0].resolve().name}"
    title = f"Inside {subjects[0].name}" + (f" against {subjects[1].name}"
                                            if len(subjects) > 1 else "") + f": {source}"
    written = write_inspection(out, found, title)
    figures = found.figures
    click.echo(f"{source}: {figures['text_chars']:,} characters, {figures['bpc']:.4f} bits/char"
               + (f" ({figures['skipped']:,} skipped: not in the vocabulary)"
                  if figures["skipped"] else "")
               + (f"; units ranked on the first {figures['ranked_chars']:,} (--ranked-chars)"
                  if figures["ranked_chars"] < figures["text_chars"] else ""))
    for prop in figures["properties"]:
        if prop["best"]:
            best = prop["best"][0]
            click.echo(f"  {prop['name']:<28} unit {best['layer']}.{best['state']}."
                       f"{best['unit']:<5} {best['score']:.3f} (permuted "
                       f"{prop['baseline_permuted']:.3f}, untrained "
                       f"{prop['baseline_untrained']:.3f})")
    if "compare" in figures:
        compared = figures["compare"]
        gain = compared["gain_bits"]
        click.echo(f"{compared['run']}: {compared['bpc']:.4f} bits/char; {subjects[0].name} "
                   f"needs {abs(gain):,.0f} bits {'fewer' if gain >= 0 else 'more'} for the "
                   "whole text")
    click.echo("wrote " + ", ".join(str(p) for p in written))


def _inspected(run_dir: Path) -> inspection.Inspected:
    model, vocab, run = lifecycle.load_trained(run_dir)
    return inspection.inspected(run_dir.resolve().name, model, vocab, run)


# -- serve ----------------------------------------------------------------------------------

@cli.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on (0.0.0.0: every network interface).")
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True)
@click.option("--workers", type=POSITIVE, default=1, show_default=True,
              help="Server processes, each with the model and its own batch.")
@click.option("--max-length", type=click.IntRange(1, 100_000), default=MAX_LENGTH,
              show_default=True,
              help="Most characters one request may ask for.")
def serve(run_dir: Path, host: str, port: int, workers: int, max_length: int) -> None:
    """Serve the model in RUN_DIR: a JSON API and a page with a predictive keyboard, streamed
    generation and a human-or-machine game (needs the serve extra)."""
    from charrnn.serving.server import run_server
    run_server(run_dir, host, port, workers, max_length)


# -- compare --------------------------------------------------------------------------------

def _model_list(ctx: click.Context, param: click.Parameter, value: str) -> list[str]:
    models = [m.strip() for m in value.split(",") if m.strip()]
    unknown = [m for m in models if m not in MODELS]
    if unknown or not models:
        raise click.BadParameter(f"{', '.join(unknown) or 'nothing'} is not a model; choose "
                                 f"from {', '.join(MODELS)}.")
    if len(set(models)) != len(models):
        raise click.BadParameter("a model is listed twice.")
    return models


@cli.command()
@click.argument("corpus", required=False, type=click.Path(path_type=Path))
@click.option("--models", default=",".join(("unrolled", "rnn_relu", "rnn_tanh", "gru", "lstm")),
              show_default=True, callback=_model_list, help="Comma-separated models to train.")
@setting_options("model")
@CTX_OPTION
@click.option("--match-params", is_flag=True,
              help="Size each model's hidden layer to the parameter count of the first "
                   "recurrent model listed, so cells are compared at equal size.")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Report folder [default: reports/<corpus>-<date>].")
@click.option("--resume", is_flag=True,
              help="Continue an interrupted comparison in --out, skipping finished models.")
@sample_text_option("Seed text of every model's sample.")
@temperature_option("Temperature of the samples.")
@click.pass_context
def compare(ctx: click.Context, corpus: Path | None, models: list[str], match_params: bool,
            out: Path | None, resume: bool, sample_text: str, temperature: float,
            ctx_spec: str | None, **options: Any) -> None:
    """Train several models on the same split of CORPUS and compare them.

    Writes results.md (a table with the command that produced it), results.json and, with
    matplotlib installed (pip install 'charrnn[plot]'), curves.png. Each model's run directory
    is kept in the report folder for generate, evaluate and info.
    """
    contexts = parse_contexts(ctx_spec)
    architecture, config = split_settings(options)
    corpus = corpus or lifecycle.default_corpus()
    out = out or Path("reports") / f"{corpus.stem}-{date.today().isoformat()}"
    out.mkdir(parents=True, exist_ok=True)
    stop = StopRequest()
    with stop_on_signals(stop), core_share.sharing(contexts):
        rows = compare_models(corpus, models, ModelConfig(**architecture), config, contexts,
                              out, match_params, resume, sample_text, temperature, stop,
                              click.echo, lambda: console.ConsoleReporter(config.epochs))
    written = write_report(out, rows, _command_line(ctx), sample_text, temperature)
    click.echo("\n" + results_table(rows))
    click.echo("wrote " + ", ".join(str(p) for p in written))
    if len(written) < 3:
        click.echo(plots.MISSING)
    if stop.signal is not None:
        click.echo(f"interrupted: continue with  charrnn compare {corpus} --out {out} --resume "
                   "(and the same options)")
        sys.exit(128 + stop.signal)


def _command_line(ctx: click.Context) -> str:
    """The command as typed (options that were given), for the top of the report."""
    words = ["charrnn", ctx.info_name]
    for param in ctx.command.params:
        source = ctx.get_parameter_source(param.name)
        if source not in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT):
            continue
        value = ctx.params[param.name]
        if isinstance(param, click.Argument):
            words.append(str(value))
        elif getattr(param, "is_flag", False):
            words.append(param.opts[0])
        else:
            words += [param.opts[0], ",".join(value) if isinstance(value, list) else str(value)]
    return " ".join(shlex.quote(w) for w in words)


# -- plot ---------------------------------------------------------------------------------------

@cli.command()
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path(path_type=Path),
                metavar="RUN_DIR...")
@click.option("-o", "--out", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("curves.png"), show_default=True, help="The PNG to write.")
def plot(run_dirs: tuple[Path, ...], out: Path) -> None:
    """Draw the learning curves of one or several runs into one PNG: training and validation
    bits per character against steps and against time, the learning rate beneath."""
    curves = [(run.name, RunDir.open(run).metrics()) for run in run_dirs]
    empty = [str(run) for run, (_, rows) in zip(run_dirs, curves) if not rows]
    if empty:
        raise CharrnnError(f"{', '.join(empty)} has no evaluation yet (metrics.jsonl is empty): "
                           "nothing to draw.")
    title = f"charrnn: {', '.join(name for name, _ in curves)}"
    if plots.plot_runs(curves, out, title) is None:
        click.echo(plots.MISSING)
        return
    click.echo(f"wrote {out}")


# -- prepare --------------------------------------------------------------------------------

def _fractions(ctx: click.Context, param: click.Parameter, value: str) -> tuple[float, ...]:
    try:
        fractions = tuple(float(f) for f in value.split(","))
    except ValueError:
        raise click.BadParameter("write three fractions, e.g. 0.9,0.05,0.05.") from None
    if len(fractions) != 3 or min(fractions) < 0 or abs(sum(fractions) - 1) > 1e-6:
        raise click.BadParameter("three non-negative fractions summing to 1, e.g. 0.9,0.05,0.05.")
    return fractions


@cli.command()
@click.argument("corpus", type=click.Path(path_type=Path))
@click.option("-o", "--out", type=click.Path(path_type=Path), required=True,
              help="Folder for ids.npy, vocab.json and meta.json.")
@click.option("--split", "fractions", default=",".join(f"{f:g}" for f in DEFAULT_SPLIT),
              show_default=True,
              callback=_fractions, help="Train, validation and test fractions.")
@click.option("--encoding", default="utf-8", show_default=True, help="Encoding of CORPUS.")
def prepare(corpus: Path, out: Path, fractions: tuple[float, ...], encoding: str) -> None:
    """Encode CORPUS, of any size, for `charrnn train OUT`.

    The text is read in chunks, never whole; training memory-maps the ids, so a corpus larger
    than memory trains in constant memory.
    """
    prepared = prepare_corpus(corpus, out, encoding, fractions)
    train, val, test = (len(prepared.part(name)) for name in SPLITS)
    click.echo(f"{out}: {len(prepared.ids):,} characters ({prepared.ids.dtype} ids), vocabulary "
               f"of {len(prepared.vocab)}; train {train:,}, validation {val:,}, test {test:,}")


# -- launch ---------------------------------------------------------------------------------

@cli.command(context_settings={"ignore_unknown_options": True})
@click.option("-n", "--workers", type=POSITIVE, required=True, help="Worker processes.")
@click.option("-s", "--servers", type=POSITIVE, default=None,
              help="Parameter servers [default: as many as workers].")
@click.option("--launcher", type=click.Choice(LAUNCHERS), default="local", show_default=True,
              help="local: all on this machine over 127.0.0.1; ssh/mpi/slurm: MXNet's tracker.")
@click.option("-H", "--hostfile", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="Hosts, one per line (ssh and mpi).")
@click.option("--timeout", type=Duration(), default=None,
              help="End the job if it runs longer than this (local launcher).")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def launch(workers: int, servers: int | None, launcher: str, hostfile: Path | None,
           timeout: float | None, command: tuple[str, ...]) -> None:
    """Run COMMAND as the workers of an MXNet parameter-server job.

    COMMAND is typically `-- charrnn train CORPUS --out RUN_DIR ...`. Each worker trains on its
    own contiguous shard of the training split; the servers sum the gradients, and worker 0
    validates, checkpoints and reports. If a process fails, the local launcher stops the whole
    job and says which one.
    """
    servers = servers or workers
    if launcher == "local":
        code = launch_local(list(command), workers, servers, timeout, click.echo)
    else:
        code = launch_remote(list(command), workers, servers, launcher, hostfile)
    sys.exit(code)


cli.add_command(doctor)
