"""`charrnn serve`: one run directory behind a JSON API and a web page (Starlette, an ASGI app
served by uvicorn).

Every generation, next-character query and game passage is a row of one batch stepped by
the batcher's thread (batcher.py); the event loop only parses requests and relays characters.
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable

import numpy as np
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from charrnn.config import to_dict
from charrnn.errors import CharrnnError
from charrnn.exporting import runtime
from charrnn.inside import inspection
from charrnn.models import count_parameters
from charrnn.models.constraints import Constraints, Guide
from charrnn.models.generation import TEMPERATURE
from charrnn.runs import loading
from charrnn.runs.rundir import BEST
from charrnn.runs.summary import summarize
from charrnn.serving.batcher import Batcher, Job, Sampling
from charrnn.serving.game import PASSAGE, PASSAGE_MAX_COPY, PASSAGE_TEMPERATURE, Game
from charrnn.serving.schema import (
    CONSTRAINT_FIELDS,
    GUESS_FIELDS,
    INSPECT_FIELDS,
    MAX_BODY,
    MAX_LENGTH,
    NEXT_FIELDS,
    BadRequest,
    generate_fields,
    parse,
)
from charrnn.trained import COPY_MIN, load

PAGE = Path(__file__).parent / "page"
INSIDE_PAGE = Path(inspection.__file__).parent / "page"  # the report's script, for the tab
log = logging.getLogger("charrnn.serve")


class Service:
    """The model, its batcher and what the endpoints say about it."""

    def __init__(self, run_dir: Path, max_length: int, game_secret: bytes,
                 engine: str = "auto"):
        self.model = loaded = load(run_dir, "cpu")
        model, self.vocab, run = loaded.network, loaded.vocab, loaded.run
        self.max_length = max_length
        self.engine = runtime.choose(engine)
        stepper = (runtime.OnnxStepper(model, to_dict(loaded.config), list(self.vocab.chars))
                   if self.engine == "onnxruntime" else None)
        self.batcher = Batcher(model, self.vocab, stepper)
        self.info = {**_model_info(run_dir, model, run), "engine": self.engine}
        self.inside = inspection.inspected(self.info["run"], model, self.vocab, run)
        try:
            test = loading.training_corpus(run, self.vocab).part("test")
            self.game: Game | None = Game(test, self.vocab, game_secret)
        except (CharrnnError, ValueError) as error:
            log.warning("charrnn serve: the human-or-machine game is off: %s", error)
            self.game = None
        self.info["game"] = self.game is not None

    def seed_ids(self, text: str, field: str) -> np.ndarray:
        """A seed's ids; an empty seed reads as the start of a line."""
        unknown = self.vocab.unknown(text)
        if unknown:
            raise BadRequest(f"{field} has characters outside the model's vocabulary: "
                             f"{', '.join(map(repr, unknown[:20]))}", field, unknown=unknown)
        if not text:
            if self.vocab.id_of("\n") is None:
                raise BadRequest(f"{field} is empty and the model has no line break to start "
                                 "from: give at least one character", field)
            text = "\n"
        return self.vocab.encode_seed(text)

    def start(self, seed_ids: np.ndarray, length: int, stream: bool = False,
              **settings: Any) -> tuple[Job, asyncio.Queue]:
        """Submit a job; its events arrive on the returned queue."""
        loop = asyncio.get_running_loop()
        events: asyncio.Queue = asyncio.Queue()

        def emit(kind: str, value: object) -> None:
            loop.call_soon_threadsafe(events.put_nowait, (kind, value))

        job = Job(seed_ids, length, emit, stream=stream, **settings)
        self.batcher.submit(job)
        return job, events

    async def guide(self, constraints: Constraints, length: int) -> Guide | None:
        """One row's guide; constraints that cannot hold are a 422 naming them. The first
        --max-copy builds (or reads) the corpus index: in a thread, the loop serves on."""
        try:
            rules = await run_in_threadpool(self.model.rules, constraints, length)
        except CharrnnError as error:
            raise BadRequest(str(error), _constraint_field(str(error))) from None
        return rules.guides(1)[0] if rules else None

    async def copies(self, text: str) -> list[dict[str, Any]]:
        """The stretches of a generated text found in the corpus, for the page to mark."""
        found = await run_in_threadpool(self.model.copies, text, COPY_MIN)
        return [{"start": c.start, "end": c.end, "occurrences": c.occurrences,
                 "context": c.context} for c in found]


def _constraint_field(message: str) -> str | None:
    return next((name for name in CONSTRAINT_FIELDS if f"({name})" in message), None)


def _model_info(run_dir: Path, model, run) -> dict[str, Any]:
    summary = summarize(run, count_parameters(model))
    info: dict[str, Any] = {
        "run": Path(run_dir).name, "model": dict(vars(summary.model)),
        "parameters": summary.parameters,
        "size_bytes": run.file(BEST).stat().st_size, "corpus": summary.corpus.get("path"),
        "vocabulary": "".join(run.vocab(summary.model.vocab_size).chars),
        "temperature": TEMPERATURE}
    if summary.evaluations:
        info["test_bpc"] = summary.test_bpc()
    if summary.metrics:
        info["best_val_bpc"] = summary.best_val_bpc
    return info


async def result(events: asyncio.Queue, wanted: str) -> Any:
    """The job's final event of kind `wanted` (characters streamed before it are skipped)."""
    while True:
        kind, value = await events.get()
        if kind == wanted:
            return value
        if kind == "refused":
            raise BadRequest(value)
        if kind == "error":
            raise RuntimeError(value)


async def read_body(request: Request) -> bytes:
    """The body, refused past MAX_BODY whether or not it declared its length."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        raise BadRequest(f"the body is {int(declared):,} bytes; the limit is 64 KB "
                         f"({MAX_BODY:,} bytes)", status=413)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise BadRequest(f"the body is over the limit of 64 KB ({MAX_BODY:,} bytes)",
                             status=413)
    return bytes(body)


async def generate(request: Request) -> Response:
    service: Service = request.app.state.service
    fields = parse(await read_body(request), generate_fields(service.max_length))
    seed_ids = service.seed_ids(fields["seed"], "seed")
    random_seed = fields["random_seed"]
    if random_seed is None:
        random_seed = secrets.randbits(63)
    sampling = Sampling(fields["temperature"], fields["top_k"], fields["top_p"],
                        fields["greedy"])
    constraints = Constraints(fields["pattern"], tuple(fields["stop_at"]), fields["ban"],
                              fields["max_copy"])
    guide = await service.guide(constraints, fields["length"])
    job, events = service.start(seed_ids, fields["length"], fields["stream"],
                                sampling=sampling, random_seed=random_seed, guide=guide)
    about = {"seed": fields["seed"], "random_seed": random_seed}
    copies = service.copies if fields["show_copied"] else None
    if fields["stream"]:
        return StreamingResponse(_stream(job, events, about, copies),
                                 media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache"})
    text, seconds = await result(events, "text")
    found = {"copies": await copies(text)} if copies else {}
    return JSONResponse({"text": text, **about, "chars_per_s": round(len(text) / seconds, 1),
                         **found})


async def _stream(job: Job, events: asyncio.Queue, about: dict,
                  copies: Callable[[str], Awaitable[list]] | None) -> AsyncIterator[str]:
    """Server-sent events: `data: {"text": ...}` as characters come (those that arrived
    together in one event), then `event: done` with the whole text and the speed (and, when
    asked, the stretches it copied)."""
    try:
        while True:
            kind, value = await events.get()
            chunk = []
            while kind == "char":
                chunk.append(value)
                if events.empty():
                    break
                kind, value = events.get_nowait()
            if chunk:
                yield f"data: {json.dumps({'text': ''.join(chunk)})}\n\n"
            if kind in ("error", "refused"):
                yield f"event: error\ndata: {json.dumps({'error': value})}\n\n"
                return
            if kind == "text":
                text, seconds = value
                done = {"text": text, **about, "chars_per_s": round(len(text) / seconds, 1),
                        **({"copies": await copies(text)} if copies else {})}
                yield f"event: done\ndata: {json.dumps(done)}\n\n"
                return
    finally:
        job.cancelled = True  # a client that went away stops its row


async def next_chars(request: Request) -> Response:
    service: Service = request.app.state.service
    fields = parse(await read_body(request), NEXT_FIELDS)
    _, events = service.start(service.seed_ids(fields["text"], "text"), 0)
    probabilities = await result(events, "next")
    best = np.argsort(-probabilities)[:fields["k"]]
    return JSONResponse({"next": [{"char": service.vocab.chars[i],
                                   "p": round(float(probabilities[i]), 5)} for i in best]})


async def inspect_text(request: Request) -> Response:
    """What each character of `text` cost, the top 5 there and the `units`' activations;
    with `figures`, every unit ranked as `charrnn inspect` does. Runs beside the batcher."""
    service: Service = request.app.state.service
    fields = parse(await read_body(request), INSPECT_FIELDS)
    text = fields["text"]
    if len(text) > service.max_length:
        raise BadRequest(f"text is {len(text):,} characters; the limit is {service.max_length:,}"
                         " (charrnn serve --max-length)", "text")
    try:
        units = inspection.parse_units(fields["units"], service.inside.model)
    except CharrnnError as error:
        raise BadRequest(str(error), "units") from None
    try:
        inspection.known_text(text, [service.vocab], strict=False)
    except CharrnnError as error:
        raise BadRequest(str(error), "text") from None
    found = await run_in_threadpool(inspection.inspect, service.inside, text, show=len(text),
                                    ranked=len(text) if fields["figures"] else 0)
    return JSONResponse(inspection.for_units(found, units))


async def game_round(request: Request) -> Response:
    service: Service = request.app.state.service
    if service.game is None:
        raise BadRequest("the game needs the run's corpus, which this server could not find",
                         status=404)
    round_id, context, passage = service.game.deal(np.random.default_rng())
    if passage is None:  # the model's own words: no stretch of the corpus past a few words
        guide = await service.guide(Constraints(max_copy=PASSAGE_MAX_COPY), PASSAGE)
        _, events = service.start(context, PASSAGE, sampling=Sampling(PASSAGE_TEMPERATURE),
                                  guide=guide)
        passage, _ = await result(events, "text")
    return JSONResponse({"round": round_id, "text": passage})


async def game_guess(request: Request) -> Response:
    service: Service = request.app.state.service
    fields = parse(await read_body(request), GUESS_FIELDS)
    if fields["guess"] not in ("human", "machine"):
        raise BadRequest("guess must be \"human\" or \"machine\"", "guess")
    answer = service.game.answer(fields["round"]) if service.game else None
    if answer is None:
        raise BadRequest("round is not one this server dealt", "round")
    return JSONResponse({"correct": fields["guess"] == answer, "answer": answer,
                         "temperature": PASSAGE_TEMPERATURE if answer == "machine" else None})


async def healthz(request: Request) -> Response:
    batcher = request.app.state.service.batcher
    return JSONResponse({"status": "ok", "in_flight": batcher.in_flight,
                         "largest_batch": batcher.largest_batch,
                         "engine": request.app.state.service.engine})


async def model_info(request: Request) -> Response:
    return JSONResponse(request.app.state.service.info)


def _page(name: str, media_type: str, folder: Path = PAGE):
    async def serve_file(request: Request) -> Response:
        return FileResponse(folder / name, media_type=media_type)
    return serve_file


async def _refused(request: Request, error: BadRequest) -> Response:
    return JSONResponse(error.body, status_code=error.status)


async def _http_error(request: Request, error: HTTPException) -> Response:
    return JSONResponse({"error": error.detail}, status_code=error.status_code)


async def _crashed(request: Request, error: Exception) -> Response:
    log.exception("internal error on %s", request.url.path)
    return JSONResponse({"error": f"internal error: {type(error).__name__}"}, status_code=500)


def create_app(run_dir: Path, max_length: int = MAX_LENGTH, game_secret: bytes | None = None,
               engine: str = "auto") -> Starlette:
    app = Starlette(routes=[
        Route("/", _page("index.html", "text/html")),
        Route("/app.js", _page("app.js", "text/javascript")),
        Route("/style.css", _page("style.css", "text/css")),
        Route("/inside.js", _page("inside.js", "text/javascript", INSIDE_PAGE)),
        Route("/inside.css", _page("inside.css", "text/css", INSIDE_PAGE)),
        Route("/inspect", inspect_text, methods=["POST"]),
        Route("/generate", generate, methods=["POST"]),
        Route("/next", next_chars, methods=["POST"]),
        Route("/game/round", game_round),
        Route("/game/guess", game_guess, methods=["POST"]),
        Route("/healthz", healthz),
        Route("/model", model_info),
    ], exception_handlers={BadRequest: _refused, HTTPException: _http_error,
                           Exception: _crashed})
    app.state.service = Service(Path(run_dir), max_length,
                                game_secret or secrets.token_bytes(32), engine)
    return app


def app_from_environment() -> Starlette:
    """The app for each of `--workers N` processes (uvicorn imports it by name): the settings
    and the game's key come from the parent, so any worker can score any round."""
    return create_app(Path(os.environ["CHARRNN_SERVE_RUN"]),
                      int(os.environ["CHARRNN_SERVE_MAX_LENGTH"]),
                      bytes.fromhex(os.environ["CHARRNN_SERVE_SECRET"]),
                      os.environ["CHARRNN_SERVE_ENGINE"])
