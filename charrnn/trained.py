"""A trained model, loaded from its run directory: what a user does with one (generate, the
next character, evaluate, look inside). `charrnn.load` returns it; the command line's
generate, evaluate and inspect, and the server, are clients of it."""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Iterator, Sequence

import mxnet as mx
import numpy as np

from charrnn.config import ModelConfig
from charrnn.errors import CharrnnError, UsageError
from charrnn.exporting import FORMATS
from charrnn.inside import inspection
from charrnn.machine import core_share
from charrnn.models import CharModel, count_parameters, evaluation, fused_for, generation, hybridize
from charrnn.models.constraints import Constraints, Rules
from charrnn.models.scores import Memorisation, Metrics
from charrnn.runs import copying, loading
from charrnn.runs.rundir import RunDir
from charrnn.runs.summary import Summary, summarize
from charrnn.text.corpus import SPLITS, CharVocab, PathLike, decode_text
from charrnn.text.index import Copy, CorpusIndex, merged

LENGTH = 300  # characters generated: generate's default, and the sample that ends a training
DYNAMIC_LR = evaluation.DYNAMIC_LR  # the defaults of evaluate and inspect
SHOW, RANKED = inspection.SHOW, inspection.RANKED
SAMPLING = generation.SAMPLING
COPY_MIN = 20  # the shortest stretch that counts as copied (copies, --show-copied, tables)
MEMORISATION_TEMPERATURES = (0.5, 0.8, 1.0, 1.2)
CONTEXT = 60  # characters of the corpus on each side of a copy, to show where it came from


class Model:
    """A trained model: the best weights of a run directory (see `charrnn.load`).

    Attributes
    ----------
    name : str
        The run directory's name.
    path : pathlib.Path
        The run directory.
    vocab : CharVocab
        The characters the model knows, in id order (``vocab.chars``).
    network : mxnet.gluon.HybridBlock
        The Gluon model itself: ``network(inputs, state) -> (logits, state)``.
    """

    def __init__(self, network: CharModel, vocab: CharVocab, run: RunDir,
                 ctx: mx.Context | None = None):
        self.network, self.vocab, self.run = network, vocab, run
        self.ctx = ctx or mx.cpu()
        self.path, self.name = run.path, Path(run.path).resolve().name
        self._index: CorpusIndex | None = None

    def __repr__(self) -> str:
        config = self.config
        return (f"<charrnn.Model {self.name}: {config.layers} x {config.hidden} {config.model}, "
                f"{self.parameters:,} parameters, {len(self.vocab)} characters>")

    @property
    def config(self) -> ModelConfig:
        """The model's settings (config.json's model section)."""
        return self.run.config()[0]

    @property
    def parameters(self) -> int:
        """How many weights the model has."""
        return count_parameters(self.network)

    @property
    def summary(self) -> Summary:
        """The run's settings, scores and metrics rows."""
        return summarize(self.run, self.parameters)

    # -- text ----------------------------------------------------------------------------

    def generate(self, seed_text: str | None = None, length: int = LENGTH, *,
                 temperature: float = SAMPLING["temperature"], top_k: int = SAMPLING["top_k"],
                 top_p: float = SAMPLING["top_p"], greedy: bool = SAMPLING["greedy"],
                 beam_size: int = 1, seed: int | None = SAMPLING["seed"],
                 skip_unknown: bool = False, pattern: str | None = None,
                 stop_at: str | Sequence[str] = (), ban: str = "",
                 max_copy: int = 0) -> str:
        """Continue `seed_text` by `length` characters: one text (`samples` makes several).

        Parameters
        ----------
        seed_text : str, optional
            Text that primes the model. Default: a random line of the training corpus,
            chosen by `seed`.
        length : int
            Characters to generate after the seed text.
        temperature : float
            Below 1: safer, more repetitive text; above 1: more surprising, more errors.
        top_k : int
            Sample only among the `top_k` most likely characters (0: all of them).
        top_p : float
            Sample among the most likely characters whose probabilities add up to `top_p`
            (nucleus sampling; 1: all of them).
        greedy : bool
            Always take the most likely character.
        beam_size : int
            Above 1: beam search for the most likely continuation as a whole (it does not
            sample: leave temperature, top_k, top_p, greedy and seed alone).
        seed : int, optional
            Random seed: the same seed gives the same text.
        skip_unknown : bool
            Drop seed characters the model has never seen instead of raising.
        pattern : str, optional
            A regular expression the continuation matches in full (``re.fullmatch``):
            only characters from which it can still be completed within the characters left
            are drawn, so `length` becomes a maximum and the text ends when the pattern
            admits nothing more. Not with beam search.
        stop_at : str or sequence of str
            The continuation ends right after the first of these texts (with a pattern:
            the first where the pattern is complete).
        ban : str
            Characters never generated.
        max_copy : int
            No `max_copy` + 1 consecutive characters of the continuation occur anywhere in
            the run's corpus (0: no limit): text that is the model's own.

        Returns
        -------
        str
            The seed text followed by its continuation.

        Raises
        ------
        CharrnnError
            A seed with characters outside the vocabulary, options that contradict, or
            constraints that cannot hold (a pattern that needs characters the model does
            not know, or more than `length`; an invalid pattern; a ban of every character).

        Examples
        --------
        >>> model = charrnn.load("nietzsche")
        >>> model.generate("The meaning of life is", 60, seed=1)  # doctest: +SKIP
        >>> model.generate("He", 100, pattern=r" [a-z ,]+[.!?]", max_copy=12)  # doctest: +SKIP
        """
        [text] = self.samples(seed_text, length, 1, temperature=temperature, top_k=top_k,
                              top_p=top_p, greedy=greedy, beam_size=beam_size, seed=seed,
                              skip_unknown=skip_unknown, pattern=pattern, stop_at=stop_at,
                              ban=ban, max_copy=max_copy)
        return text

    def samples(self, seed_text: str | None = None, length: int = LENGTH, count: int = 2, *,
                temperature: float = SAMPLING["temperature"], top_k: int = SAMPLING["top_k"],
                top_p: float = SAMPLING["top_p"], greedy: bool = SAMPLING["greedy"],
                beam_size: int = 1, seed: int | None = SAMPLING["seed"],
                skip_unknown: bool = False, pattern: str | None = None,
                stop_at: str | Sequence[str] = (), ban: str = "",
                max_copy: int = 0) -> list[str]:
        """Several continuations of one seed, made together in one batched pass.

        Parameters
        ----------
        seed_text, length, temperature, top_k, top_p, greedy, seed, skip_unknown
            As for `generate`.
        pattern, stop_at, ban, max_copy
            As for `generate`: each continuation respects them.
        count : int
            How many continuations (with beam search: the `count` best beams, at most
            `beam_size`).
        beam_size : int
            As for `generate`.

        Returns
        -------
        list of str
            `count` texts, each the seed text followed by its continuation.

        Raises
        ------
        CharrnnError
            As `generate`.

        Examples
        --------
        >>> model.samples("What is truth", 100, 4, temperature=1.0, seed=1)  # doctest: +SKIP
        """
        sampling = {"temperature": temperature, "top_k": top_k, "top_p": top_p,
                    "greedy": greedy, "seed": seed}
        constraints = Constraints(pattern, _texts(stop_at), ban, max_copy)
        _check_generation(length, count, beam_size, sampling, constraints)
        rules = self.rules(constraints, length)
        seed_ids = self._seed_ids(seed_text, skip_unknown, seed)
        prefix = self.vocab.decode(seed_ids)
        if beam_size > 1:
            texts = generation.beam_search(self.network, self.vocab, seed_ids, length,
                                           beam_size, count)
            return [prefix + text for text in texts]
        steps = generation.sample(self.network, self.vocab, seed_ids, length, count,
                                  temperature, top_k, greedy, seed, top_p, self.ctx, rules)
        columns = list(zip(*steps)) or [()] * count
        return [prefix + "".join(column) for column in columns]

    def stream(self, seed_text: str | None = None, length: int = LENGTH, *,
               temperature: float = SAMPLING["temperature"], top_k: int = SAMPLING["top_k"],
               top_p: float = SAMPLING["top_p"], greedy: bool = SAMPLING["greedy"],
               seed: int | None = SAMPLING["seed"], skip_unknown: bool = False,
               pattern: str | None = None, stop_at: str | Sequence[str] = (),
               ban: str = "", max_copy: int = 0) -> Iterator[str]:
        """`generate` one sample as it is made, to show text as it comes.

        Parameters
        ----------
        seed_text, length, temperature, top_k, top_p, greedy, seed, skip_unknown, pattern,
        stop_at, ban, max_copy
            As for `generate`.

        Yields
        ------
        str
            The seed text, then one character at a time.

        Examples
        --------
        >>> for piece in model.stream("What is truth", 100, seed=1):
        ...     print(piece, end="", flush=True)
        """
        sampling = {"temperature": temperature, "top_k": top_k, "top_p": top_p,
                    "greedy": greedy, "seed": seed}
        constraints = Constraints(pattern, _texts(stop_at), ban, max_copy)
        _check_generation(length, 1, 1, sampling, constraints)
        rules = self.rules(constraints, length)
        seed_ids = self._seed_ids(seed_text, skip_unknown, seed)
        yield self.vocab.decode(seed_ids)
        yield from generation.characters(self.network, self.vocab, seed_ids, length,
                                         temperature=temperature, top_k=top_k, greedy=greedy,
                                         seed=seed, top_p=top_p, ctx=self.ctx, rules=rules)

    def rules(self, constraints: Constraints, length: int) -> Rules | None:
        """`constraints` checked against the vocabulary and `length` (None: there are none)."""
        if not constraints:
            return None
        index = self.copy_index() if constraints.max_copy else None
        return Rules(constraints, self.vocab, length, index)

    def copies(self, text: str, min_length: int = COPY_MIN) -> list[Copy]:
        """The stretches of `text` that occur verbatim in the run's corpus: what a model
        copied from its training text rather than made.

        Parameters
        ----------
        text : str
            A text in the model's characters (a generated one, say).
        min_length : int
            The shortest stretch that counts.

        Returns
        -------
        list of Copy
            Each stretch of at least `min_length` characters found in the corpus (any
            split) and inside no longer one, in order (two may overlap): ``text[c.start:
            c.end]``, ``c.length``, where it occurs in the corpus (``c.source``, a character
            position), how often (``c.occurrences``) and the corpus around it
            (``c.context``).

        Examples
        --------
        >>> text = model.generate("The", 500, temperature=0.5, seed=1)  # doctest: +SKIP
        >>> max((c.length for c in model.copies(text)), default=0)  # doctest: +SKIP
        """
        if min_length < 1:
            raise UsageError(f"min_length must be at least 1, not {min_length}.")
        index = self.copy_index()  # the corpus is read once, with it
        return [dataclasses.replace(copy, context=self.vocab.decode(
                    index.ids[max(copy.source - CONTEXT, 0):
                              copy.source + copy.length + CONTEXT]))
                for copy in index.copies(self._text_ids(text)[0], min_length)]

    def memorisation(self, temperatures: Sequence[float] = MEMORISATION_TEMPERATURES, *,
                     length: int = 400, count: int = 32, seed: int = 0,
                     min_length: int = COPY_MIN) -> list[Memorisation]:
        """How much of what the model writes it copies from its corpus, by temperature.

        Parameters
        ----------
        temperatures : sequence of float
            Each temperature measured.
        length, count : int
            `count` continuations of `length` characters at each temperature, from four
            lines of the corpus chosen by `seed` (the same ones at every temperature).
        seed : int
            Random seed of the openings and of the sampling.
        min_length : int
            The shortest stretch that counts as copied.

        Returns
        -------
        list of Memorisation
            One per temperature: characters written, characters inside copied stretches
            (``share``), the longest stretch and its text.

        Examples
        --------
        >>> for row in model.memorisation():  # doctest: +SKIP
        ...     print(row.temperature, f"{row.share:.1%}", row.longest)
        """
        line_break = "\n" if self.vocab.id_of("\n") is not None else ""
        openings = [self.seed_text(seed=seed + k) + line_break for k in range(4)]
        rows = []
        for temperature in temperatures:
            written, copied, longest = 0, 0, None
            for k, opening in enumerate(openings):
                texts = self.samples(opening, length, max(count // len(openings), 1),
                                     temperature=temperature, seed=seed + k)
                for text in texts:
                    continuation = text[len(opening):]
                    copies = self.copies(continuation, min_length)
                    written += len(continuation)
                    copied += sum(end - start for start, end in merged(copies))
                    best = max(copies, key=lambda c: c.length, default=None)
                    if best and (longest is None or best.length > longest[0]):
                        longest = (best.length, continuation[best.start:best.end])
            rows.append(Memorisation(temperature, written, copied,
                                     longest[0] if longest else 0, min_length,
                                     longest[1] if longest else ""))
        return rows

    def copy_index(self) -> CorpusIndex:
        """The index of the run's corpus (built on first use, then kept in the run)."""
        if self._index is None:
            corpus = loading.training_corpus(self.run, self.vocab)
            self._index = copying.copy_index(self.run, corpus)
        return self._index

    def next(self, text: str, k: int = 5) -> list[tuple[str, float]]:
        """The most likely characters after a text: the serve page's predictive keyboard.

        Parameters
        ----------
        text : str
            What comes before; an empty text is the start of a line.
        k : int
            How many characters.

        Returns
        -------
        list of (str, float)
            The `k` likeliest characters with their probabilities, likeliest first.

        Examples
        --------
        >>> model.next("The meaning of lif", k=2)  # doctest: +SKIP
        [('e', 0.99...), ('i', 0.0003...)]
        """
        if k < 1:
            raise CharrnnError(f"k must be at least 1, not {k}.")
        ids = self.vocab.encode_seed(text or "\n")
        logits, _ = generation.prime(self.network, ids, 1, self.ctx)
        probabilities = mx.nd.softmax(logits).asnumpy()[0].astype(np.float64)
        best = np.argsort(-probabilities, kind="stable")[:k]
        return [(self.vocab.chars[i], float(probabilities[i])) for i in best]

    def seed_text(self, text: str | None = None, *, seed: int | None = SAMPLING["seed"],
                  skip_unknown: bool = False) -> str:
        """The text a generation starts from: `text` as the model reads it, or the random
        line of the training corpus that `seed` chooses (what `generate` prints first)."""
        return self.vocab.decode(self._seed_ids(text, skip_unknown, seed))

    def _seed_ids(self, seed_text: str | None, skip_unknown: bool,
                  seed: int | None) -> np.ndarray:
        """The seed's ids, or a random line of the training corpus chosen by `seed`."""
        if seed_text is not None:
            return self.vocab.encode_seed(seed_text, skip_unknown)
        train = loading.training_corpus(self.run, self.vocab).part("train")
        return generation.corpus_line(train, self.vocab.id_of("\n"),
                                      np.random.default_rng(seed))

    # -- scores --------------------------------------------------------------------------

    def evaluate(self, split: str | None = None, *, text: str | None = None,
                 path: PathLike | None = None, corpus: PathLike | None = None,
                 batch_size: int | None = None, dynamic: bool = False,
                 dynamic_lr: float | None = None, record: bool = False) -> Metrics:
        """Score the model on a split of its corpus, or on a text.

        Parameters
        ----------
        split : str, optional
            "train", "val", "test" or "all" (the whole corpus): a split of the training
            corpus (or of `corpus`). Default: "test", unless `text` or `path` is given.
        text : str, optional
            A text to score instead of a split.
        path : path, optional
            A text file to score instead of a split.
        corpus : path, optional
            Another corpus in the model's vocabulary, to split and score.
        batch_size : int, optional
            Columns scored in parallel (default: the run's eval_batch_size); 1 scores the
            text as one stream, as `inspect` reads it.
        dynamic : bool
            Dynamic evaluation (Krause et al. 2018): the model keeps learning from the text
            it has scored, one step per 50 characters. The model's own weights stay as
            they are (a copy learns).
        dynamic_lr : float, optional
            The step size of dynamic evaluation, in units of each weight's RMS training
            gradient (default: DYNAMIC_LR, 1e-4).
        record : bool
            Keep the scores of a split in the run's evaluation.json (shown by ``info``).

        Returns
        -------
        Metrics
            ``loss`` (nats/char), ``bpc``, ``perplexity``, ``accuracy``, ``chars`` and
            ``source`` (what was scored).

        Raises
        ------
        CharrnnError
            Options that contradict, a text with characters outside the vocabulary, a
            missing corpus, or a dynamic evaluation that diverged.

        Examples
        --------
        >>> model.evaluate("test").bpc  # doctest: +SKIP
        >>> model.evaluate(text="He said no.", batch_size=1).bpc  # doctest: +SKIP
        """
        if dynamic and batch_size is not None:
            raise UsageError("--dynamic (dynamic=True) scores the text as one stream: drop "
                             "--batch-size (batch_size).")
        if dynamic_lr is not None and not dynamic:
            raise UsageError("--dynamic-lr (dynamic_lr) is the step size of --dynamic: add "
                             "--dynamic (dynamic=True).")
        if dynamic_lr is not None and not dynamic_lr > 0:
            raise UsageError(f"dynamic_lr must be greater than 0, not {dynamic_lr}.")
        if batch_size is not None and batch_size < 1:
            raise UsageError(f"batch_size must be at least 1, not {batch_size}.")
        text, source = _text_given(text, path, split=split)
        if text is None:
            split = split or "test"
            if split not in (*SPLITS, "all"):
                raise UsageError(f"split {split!r} is not one of {', '.join(SPLITS)}, all: to "
                                 "score a text, pass it as text= (a file: path=).")
        elif record:
            raise UsageError("record keeps the scores of a split: give train, val, test or "
                             "all.")
        # The corpus: to split, and for dynamic evaluation's RMS gradient on its training part.
        data = (loading.training_corpus(self.run, self.vocab, corpus)
                if text is None or dynamic or corpus is not None else None)
        if text is None:
            ids = data.ids if split == "all" else data.part(split)
            scored, of = f"{split} split", f" of {data.path}"
        else:
            (ids, scored), of = self._text_ids(text), ""
            scored = source or scored
        _, config, _ = self.run.config()
        network = hybridize(self._copy())
        with core_share.sharing([self.ctx]):
            if dynamic:
                dynamic_lr = dynamic_lr or DYNAMIC_LR
                rms = evaluation.gradient_rms(network, data.part("train"), self.ctx)
                metrics = evaluation.evaluate_dynamic(network, ids, self.ctx, rms, dynamic_lr)
                evaluation.check_dynamic(metrics, len(self.vocab), dynamic_lr)
                scored += f" (dynamic evaluation, lr {dynamic_lr:g})"
            else:
                metrics = evaluation.evaluate(network, ids, self.ctx,
                                              batch_size or config.eval_batch_size,
                                              config.seq_len)
        if record:
            self.run.record_evaluation(split + "-dynamic" * dynamic, data, metrics)
        return dataclasses.replace(metrics, source=scored + of)

    def _text_ids(self, text: str) -> tuple[np.ndarray, str]:
        unknown = self.vocab.unknown(text)
        if unknown:
            raise CharrnnError(f"the text has characters outside the model's vocabulary "
                               f"({', '.join(map(repr, unknown[:10]))}): remove them.")
        return self.vocab.encode(text), f"a text of {len(text):,} characters"

    def _copy(self) -> CharModel:
        """The weights in memory (what generate and inspect use, changed or not) in a model of
        its own: dynamic evaluation changes them."""
        model = loading.checked_model(self.config, fused_for([self.ctx]))
        model.initialize(ctx=self.ctx)
        own = model._collect_params_with_prefix()
        for name, param in self.network._collect_params_with_prefix().items():
            own[name].set_data(param.data(self.ctx).copy())
        return model

    # -- inside --------------------------------------------------------------------------

    def inspect(self, text: str | None = None, other: Model | PathLike | None = None,
                *, path: PathLike | None = None, patterns: Sequence[str] = (),
                units: Sequence[str] = (),
                strict: bool = False, show: int = SHOW,
                ranked_chars: int = RANKED,
                source: str | None = None) -> inspection.Inspection:
        """Look inside the model: what each character of a text cost it, what each unit
        does, which units track quotes, brackets, line position..., how its gates behave;
        with `other`, where one model beats the other.

        Parameters
        ----------
        text : str, optional
            The text (a string is always the text itself). Default: the run's test split.
        other : Model or path, optional
            A second model, read on the same text.
        path : path, optional
            A text file to read the text from instead.
        patterns : sequence of str
            Regular expressions: rank units for the characters inside their matches too.
        units : sequence of str
            Units as LAYER.STATE.UNIT (1.c.42), whose contexts and activations
            ``to_json()`` gives.
        strict : bool
            Refuse characters outside the vocabulary instead of skipping them.
        show : int
            Characters the report colours one by one.
        ranked_chars : int
            Characters on which units are ranked.
        source : str, optional
            What the text is, for the title and messages (a file's path by default).

        Returns
        -------
        Inspection
            Shown inline in a notebook; ``save(folder)`` writes index.html and
            inspect.json; ``figures`` holds every figure.

        Examples
        --------
        >>> model.inspect('He said "no" (twice).', units=["2.c.385"]).to_json()  # doctest: +SKIP
        """
        subjects = [self] + ([other if isinstance(other, Model) else load(other)]
                             if other is not None else [])
        chosen = inspection.parse_units(units, inspection.StepForm(self.network))
        text, read_from = _text_given(text, path)
        source = source or read_from
        if text is None:
            source = source or f"{self.path}'s test split"
            text = self.vocab.decode(loading.training_corpus(self.run, self.vocab)
                                     .part("test"))
        source = source or "the text"
        if not text:
            raise CharrnnError(f"{source} is empty: give a text to inspect.")
        inspected = [inspection.inspected(m.name, m.network, m.vocab, m.run) for m in subjects]
        found = inspection.inspect(inspected[0], text, patterns,
                                   inspected[1] if len(inspected) > 1 else None, strict, show,
                                   ranked_chars)
        found.title = (f"Inside {self.name}" + (f" against {subjects[1].name}"
                                                if other is not None else "") + f": {source}")
        found.units = chosen
        return found


    # -- elsewhere -----------------------------------------------------------------------

    def export(self, out: PathLike, formats: Sequence[str] = FORMATS, *,
               overwrite: bool = False) -> list[Path]:
        """Write the model for use without MXNet.

        Parameters
        ----------
        out : path
            A folder that does not exist yet (or `overwrite`): model.onnx (an ONNX step graph
            for onnxruntime), model.safetensors (PyTorch's names and shapes), model.html (one
            page that generates offline), vocab.json and config.json. Written together: a
            failed export leaves nothing.
        formats : sequence of str
            Among "onnx", "safetensors" and "html".
        overwrite : bool
            Replace `out` if it exists.

        Returns
        -------
        list of pathlib.Path
            The files written.

        Examples
        --------
        >>> model.export("exported/", ["onnx"])  # doctest: +SKIP
        """
        from charrnn.exporting import export

        return export(self, Path(out), formats, overwrite)


def load(run_dir: PathLike, ctx: mx.Context | str | None = None) -> Model:
    """The best weights of a run directory, checked before they are loaded.

    Parameters
    ----------
    run_dir : path
        A run directory written by ``charrnn.train`` (or ``charrnn train``).
    ctx : str or mxnet.Context, optional
        Where the MXNet forward passes run: "cpu", "gpu", "gpu:1". Default: a GPU if there
        is a usable one (generation steps in NumPy on the CPU either way).

    Returns
    -------
    Model

    Raises
    ------
    CharrnnError
        A missing or damaged run directory, named with the file at fault.

    Examples
    --------
    >>> model = charrnn.load("params/nietzsche-pretrained")
    >>> text = model.generate("What is truth", 100, seed=0)
    """
    from charrnn.machine.devices import contexts_of

    device = contexts_of(ctx)[0]
    network, vocab, run = loading.load_trained(run_dir, device)
    return Model(network, vocab, run, device)


def _text_given(text: str | None, path: PathLike | None, *, split: str | None = None,
                ) -> tuple[str | None, str | None]:
    """The text given as `text=` or read from `path=` (at most one of them, and not with a
    `split`), and where it came from."""
    given = [name for name, value in (("text", text), ("path", path), ("split", split))
             if value is not None]
    if len(given) > 1:
        raise UsageError(f"give one of {' and '.join(given)}, not both.")
    if path is None:
        return text, None
    if not Path(path).is_file():
        raise CharrnnError(f"{path} does not exist: give a text file.")
    return decode_text(Path(path).read_bytes(), str(path)), str(path)


def _texts(texts: str | Sequence[str]) -> tuple[str, ...]:
    return (texts,) if isinstance(texts, str) else tuple(texts)


def _check_generation(length: int, num_samples: int, beam_size: int, sampling: dict,
                      constraints: Constraints | None = None) -> None:
    """Values out of range, and sampling options or constraints given to beam search, which
    would ignore them, in the command line's words and the keywords'."""
    for name, value, low in (("length", length, 0), ("count", num_samples, 1),
                             ("beam_size", beam_size, 1), ("top_k", sampling["top_k"], 0)):
        if value < low:
            raise UsageError(f"{name} must be at least {low}, not {value}.")
    if not sampling["temperature"] > 0:
        raise UsageError(f"temperature must be greater than 0, not {sampling['temperature']}.")
    if not 0 < sampling["top_p"] <= 1:
        raise UsageError(f"top_p must be in (0, 1], not {sampling['top_p']}.")
    if beam_size > 1:
        ignored = [f"--{name.replace('_', '-')}" for name, default in SAMPLING.items()
                   if sampling[name] != default]
        if ignored:
            raise UsageError(f"--beam-size searches for the most likely text; it does not "
                             f"sample, so {', '.join(ignored)} would be ignored: drop "
                             f"{'it' if len(ignored) == 1 else 'them'}.")
        if constraints is not None and constraints:
            raise UsageError("--beam-size searches for the most likely text as a whole; "
                             "--pattern, --stop-at, --ban and --max-copy (pattern, stop_at, "
                             "ban, max_copy) steer sampling: drop one or the other.")
        if num_samples > beam_size:
            raise UsageError("--num-samples (count) can be at most --beam-size (beam_size) with "
                             "beam search (the best beams are printed).")
