"""The `charrnn` command line: each command parses its options, calls one function of the
Python API (api.py, trained.py) and prints. Options the user did not type are not passed on,
so every default is the API's (config.py's fields): one definition of each."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from charrnn import api
from charrnn.cli.doctor import doctor
from charrnn.cli.launch import LAUNCHERS, launch_local, launch_remote
from charrnn.cli.options import Duration, setting_options, typed
from charrnn.config import MODELS
from charrnn.errors import CharrnnError, UsageError
from charrnn.exporting import FORMATS
from charrnn.exporting.runtime import ENGINES
from charrnn.models.generation import SAMPLING, TEMPERATURE
from charrnn.runs import bundled
from charrnn.serving.schema import MAX_LENGTH
from charrnn.text.corpus import DEFAULT_SPLIT, SPLITS, decode_text
from charrnn.trained import (
    COPY_MIN,
    DYNAMIC_LR,
    LENGTH,
    MEMORISATION_TEMPERATURES,
    RANKED,
    SHOW,
    load,
)
from charrnn.training import console


class Group(click.Group):
    """A CharrnnError becomes click's one-line `Error: ...`: exit code 1, or 2 (with the
    usage) for arguments that contradict."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except UsageError as error:
            raise click.UsageError(str(error)) from None
        except CharrnnError as error:
            raise click.ClickException(str(error)) from None


POSITIVE = click.IntRange(min=1)
CTX_OPTION = click.option(
    "--ctx", default=None,
    help="Device(s): cpu, gpu, gpu:1, or gpu:0,1,2,3 (cpu:0,1 too). Default: a GPU if any.")
TEMPERATURE_TYPE = click.FloatRange(0, min_open=True)
SAMPLE_TEXT_OPTION = click.option("--sample-text", default=api.DEFAULT_SEED_TEXT,
                                  show_default=True, help="Seed text of the samples.")


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"],
                                          "max_content_width": 100})
@click.version_option(package_name="charrnn")
def cli() -> None:
    """Character-level language models with Apache MXNet Gluon.

    Train a recurrent (LSTM, GRU, RNN) or unrolled three-character model on a text file, watch
    bits per character fall, and generate text in the corpus' style from a seed string.
    From Python: import charrnn; help(charrnn.train).
    """


def _exit_if_interrupted(signal: int | None) -> None:
    if signal is not None:
        sys.exit(128 + signal)


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
@click.option("--sample-text", default=api.DEFAULT_SEED_TEXT, show_default=True,
              help="Seed text of that final sample.")
@click.pass_context
def train(context: click.Context, corpus: Path | None, out: Path | None, resume: Path | None,
          **options: Any) -> None:
    """Train a model on CORPUS (default: the bundled Nietzsche corpus).

    Progress is shown as it trains; every epoch the validation split is scored, the best
    weights are kept in RUN_DIR/model.params and a resumable checkpoint is written. Ctrl-C stops
    after the current batch and prints the command that resumes.
    """
    run = api.train(corpus, out, resume=resume, **typed(context, options))
    _exit_if_interrupted(run.signal)


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
@click.option("--temperature", type=TEMPERATURE_TYPE, default=SAMPLING["temperature"],
              show_default=True,
              help="Below 1: safer, more repetitive text; above 1: more surprising, more "
                   "errors.")
@click.option("--top-k", type=click.IntRange(min=0), default=SAMPLING["top_k"], show_default=True,
              help="Sample only among the K most likely characters (0: all of them).")
@click.option("--top-p", type=click.FloatRange(0, 1, min_open=True), default=SAMPLING["top_p"],
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
@click.option("--pattern", default=None, metavar="REGEX",
              help="A regular expression the continuation matches in full; --length is then "
                   "a maximum (e.g. '[A-Z][a-z]+( [a-z,;]+){4,12}[.!?]').")
@click.option("--stop-at", multiple=True, metavar="TEXT",
              help="End the continuation right after the first occurrence of TEXT "
                   "(repeatable: any of them).")
@click.option("--ban", default=None, metavar="CHARS", help="Characters never generated.")
@click.option("--max-copy", type=click.IntRange(min=0), default=None, metavar="N",
              help="No N+1 consecutive characters of the continuation occur anywhere in the "
                   "training corpus [default: 0, no limit].")
@click.option("--show-copied", is_flag=True,
              help=f"Mark the stretches of {COPY_MIN} characters or more that the "
                   "continuation copied from the corpus, and say the longest.")
@click.pass_context
def generate(context: click.Context, run_dir: Path, seed_text: str | None, seed_file: Path | None,
             show_copied: bool, **options: Any) -> None:
    """Generate text from the model in RUN_DIR, continuing the seed text."""
    if seed_text is not None and seed_file is not None:
        raise click.UsageError("give the seed as --seed-text or --seed-file, not both.")
    if seed_file is not None:
        seed_text = decode_text(seed_file.read_bytes(), f"--seed-file {seed_file}")
    given = typed(context, options)
    model = load(run_dir, "cpu")
    count = given.pop("num_samples", 1)
    if given.get("beam_size", 1) == count == 1 and not show_copied:
        given.pop("beam_size", None)
        console.stream(model.stream(seed_text, **given))
        return
    if not show_copied:
        console.print_samples(model.samples(seed_text, count=count, **given))
        return
    seed_text = model.seed_text(seed_text, seed=given.get("seed"),
                                skip_unknown=given.pop("skip_unknown", False))
    texts = model.samples(seed_text, count=count, **given)
    for i, text in enumerate(texts, 1 if count > 1 else 0):
        continuation = text[len(seed_text):]
        console.print_copied(seed_text, continuation, model.copies(continuation, COPY_MIN), i)


# -- evaluate and info ----------------------------------------------------------------------

@cli.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.argument("corpus", required=False, type=click.Path(path_type=Path))
@click.option("--split", type=click.Choice([*SPLITS, "all"]), default="test",
              show_default=True, help="Which part of the corpus to score (all: the whole text).")
@click.option("--batch-size", type=POSITIVE, default=None,
              help="Columns scored in parallel [default: the run's --eval-batch-size].")
@CTX_OPTION
@click.option("--dynamic", is_flag=True,
              help="Dynamic evaluation: the model keeps learning from the text it has scored, "
                   "one step per 50 characters (Krause et al. 2018). Slower; reported apart.")
@click.option("--dynamic-lr", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Step size of --dynamic, in units of each weight's RMS training gradient "
                   f"[default: {DYNAMIC_LR:g}, chosen on the bundled corpus's validation "
                   "split].")
@click.option("--record", is_flag=True,
              help="Keep the scores in RUN_DIR/evaluation.json (shown by `charrnn info`).")
@click.option("--copying", is_flag=True,
              help="Instead of scoring: how much of what the model writes it copies from its "
                   f"corpus (stretches of {COPY_MIN}+ characters), at temperatures "
                   f"{', '.join(map(str, MEMORISATION_TEMPERATURES))}.")
def evaluate(run_dir: Path, corpus: Path | None, split: str, ctx: str | None, copying: bool,
             **options: Any) -> None:
    """Score the model in RUN_DIR on a split of CORPUS (default: its training corpus)."""
    if copying:
        console.print_memorisation(load(run_dir, ctx).memorisation())
        return
    metrics = load(run_dir, ctx).evaluate(split, corpus=corpus, **options)
    click.echo(f"{metrics.source}: {metrics.chars:,} characters scored\n"
               f"loss        {metrics.loss:.4f} nats/char\n"
               f"bits/char   {metrics.bpc:.4f}\n"
               f"perplexity  {metrics.perplexity:.4f}\n"
               f"accuracy    {metrics.accuracy:.2%}")


@cli.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
def info(run_dir: Path) -> None:
    """Show the settings, size and progress of the model in RUN_DIR."""
    for name, value in [("run", str(run_dir)), *api.info_rows(api.Run(run_dir).summary)]:
        click.echo(f"{name:<11} {value}")


# -- inspect --------------------------------------------------------------------------------

class BadInput(click.ClickException):
    """Bad input to `inspect` or `export`: one line and exit code 2, as click gives a bad
    option."""

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
@click.option("--unit", "units", multiple=True, metavar="LAYER.STATE.UNIT",
              help="A unit to show, as 1.c.42 (layer 1's cell state, unit 42) (repeatable).")
@click.option("--strict", is_flag=True,
              help="Refuse a text with characters outside the vocabulary instead of skipping "
                   "them.")
@click.option("--show", type=POSITIVE, default=SHOW, show_default=True,
              help="Characters the report colours one by one (the figures cover the whole "
                   "text).")
@click.option("--ranked-chars", type=POSITIVE, default=RANKED, show_default=True,
              help="Characters on which units are ranked: each unit's activation at each of "
                   "them is kept in memory.")
def inspect_command(paths: tuple[Path, ...], given_text: str | None, out: Path | None,
                    as_json: bool, **options: Any) -> None:
    """Look inside the model in RUN: what each character of a text cost it, what each unit
    does, which units track quotes, brackets, line position..., how its gates behave; with
    RUN_B, where one model beats the other. Writes a self-contained index.html."""
    try:
        found = _inspection(paths, given_text, options)
        if as_json:
            click.echo(json.dumps(found.to_json(), indent=1))
            return
        written = found.save(out or Path("reports") / f"inside-{paths[0].resolve().name}")
    except CharrnnError as error:
        raise BadInput(str(error)) from None
    console.print_inspection(found.title.split(": ", 1)[1], found.figures)
    click.echo("wrote " + ", ".join(str(p) for p in written))


def _inspection(paths: tuple[Path, ...], given_text: str | None, options: dict[str, Any]):
    """RUN [RUN_B] [TEXT]: which path is which."""
    missing = [p for p in paths if not (p.exists() or bundled.is_model(p))]
    if missing:
        raise CharrnnError(f"{missing[0]} does not exist: give a run directory or a text file.")
    run_dirs = [p for p in paths if bundled.is_model(p)]
    files = [p for p in paths if not bundled.is_model(p)]
    if not run_dirs or len(run_dirs) > 2 or len(files) > 1 or (files and given_text is not None):
        raise CharrnnError("give one or two run directories and at most one text (a file or "
                           "--text), e.g. charrnn inspect RUN my_text.txt.")
    return load(run_dirs[0]).inspect(given_text, run_dirs[1] if len(run_dirs) > 1 else None,
                                     path=files[0] if files else None,
                                     source="--text" if given_text is not None else None,
                                     **options)


# -- export ---------------------------------------------------------------------------------

@cli.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("-o", "--out", type=click.Path(path_type=Path), required=True,
              help="Folder to create for the exported files.")
@click.option("--format", "formats", type=click.Choice(FORMATS), multiple=True,
              help="onnx (a step graph for onnxruntime), safetensors (PyTorch's layout) or "
                   "html (one page that generates offline); repeatable [default: all].")
@click.option("--overwrite", is_flag=True, help="Replace --out if it exists.")
def export(run_dir: Path, out: Path, formats: tuple[str, ...], overwrite: bool) -> None:
    """Take the model in RUN_DIR out of MXNet: into OUT as model.onnx, model.safetensors,
    model.html, vocab.json and config.json."""
    try:
        written = load(run_dir, "cpu").export(out, formats or FORMATS, overwrite=overwrite)
    except CharrnnError as error:
        raise BadInput(str(error)) from None
    click.echo("wrote " + ", ".join(f"{p} ({p.stat().st_size:,} bytes)" for p in written))


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
@click.option("--engine", type=click.Choice(ENGINES), default="auto", show_default=True,
              help="What steps the batch: onnxruntime (the model's ONNX step graph; auto "
                   "where it is installed) or NumPy.")
def serve(run_dir: Path, host: str, port: int, workers: int, max_length: int,
          engine: str) -> None:
    """Serve the model in RUN_DIR: a JSON API and a page with a predictive keyboard, streamed
    generation and a human-or-machine game (needs the serve extra)."""
    from charrnn.serving.server import run_server
    run_server(run_dir, host, port, workers, max_length, engine)


# -- compare --------------------------------------------------------------------------------

@cli.command()
@click.argument("corpus", required=False, type=click.Path(path_type=Path))
@click.option("--models", default=",".join(api.DEFAULT_MODELS), show_default=True,
              help=f"Comma-separated models to train, among {', '.join(MODELS)}.")
@setting_options("model")
@CTX_OPTION
@click.option("--match-params", is_flag=True,
              help="Size each model's hidden layer to the parameter count of the first "
                   "recurrent model listed, so cells are compared at equal size.")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Report folder [default: reports/<corpus>-<date>].")
@click.option("--resume", is_flag=True,
              help="Continue an interrupted comparison in --out, skipping finished models.")
@click.option("--encoding", default="utf-8", show_default=True, help="Encoding of CORPUS.")
@SAMPLE_TEXT_OPTION
@click.option("--temperature", type=TEMPERATURE_TYPE, default=TEMPERATURE, show_default=True,
              help="Temperature of the samples.")
@click.pass_context
def compare(context: click.Context, corpus: Path | None, **options: Any) -> None:
    """Train several models on the same split of CORPUS and compare them.

    Writes results.md (a table with the command that produced it), results.json and, with
    matplotlib installed (pip install 'charrnn[plot]'), curves.png. Each model's run directory
    is kept in the report folder for generate, evaluate and info.
    """
    try:
        comparison = api.compare(corpus, **typed(context, options))
    except UsageError as error:
        raise click.BadParameter(str(error), param_hint="'--models'") from None
    _exit_if_interrupted(comparison.signal)


# -- plot ---------------------------------------------------------------------------------------

@cli.command()
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path(path_type=Path),
                metavar="RUN_DIR...")
@click.option("-o", "--out", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("curves.png"), show_default=True, help="The PNG to write.")
def plot(run_dirs: tuple[Path, ...], out: Path) -> None:
    """Draw the learning curves of one or several runs into one PNG: training and validation
    bits per character against steps and against time, the learning rate beneath."""
    api.curves(run_dirs, out)
    click.echo(f"wrote {out}")


# -- prepare --------------------------------------------------------------------------------

@cli.command()
@click.argument("corpus", type=click.Path(path_type=Path))
@click.option("-o", "--out", type=click.Path(path_type=Path), required=True,
              help="Folder for ids.npy, vocab.json and meta.json.")
@click.option("--split", "fractions", default=",".join(f"{f:g}" for f in DEFAULT_SPLIT),
              show_default=True, help="Train, validation and test fractions.")
@click.option("--encoding", default="utf-8", show_default=True, help="Encoding of CORPUS.")
def prepare(corpus: Path, out: Path, fractions: str, encoding: str) -> None:
    """Encode CORPUS, of any size, for `charrnn train OUT`.

    The text is read in chunks, never whole; training memory-maps the ids, so a corpus larger
    than memory trains in constant memory.
    """
    prepared = api.prepare(corpus, out, fractions, encoding)
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
