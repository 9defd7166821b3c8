"""`charrnn serve`: the real server in a subprocess on a free port of 127.0.0.1, asked over HTTP."""
from __future__ import annotations

import http.client
import json
import queue
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from charrnn.runs import loading
from charrnn.serving.batcher import Batcher, Job, Sampling

from .conftest import PANGRAM, REPO, TINY_MODEL, invoke

PRETRAINED = REPO / "params" / "nietzsche-pretrained"
PATTERN = r"[A-Z][a-z]+( [a-z,;]+){4,12}[.!?]"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    """`charrnn serve RUN` in a subprocess, and requests to it."""

    def __init__(self, run: Path, *options: str):
        self.port = free_port()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "charrnn", "serve", str(run), "--port", str(self.port),
             *options], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.process.stdout.read()
            try:
                if self.request("GET", "/healthz")[0] == 200:
                    return
            except OSError:
                time.sleep(0.2)
        raise AssertionError("the server did not come up")

    def request(self, method: str, path: str, body: object = None,
                raw: bytes | None = None, headers: dict | None = None) -> tuple[int, dict]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        data = raw if raw is not None else (None if body is None else json.dumps(body))
        connection.request(method, path, data, headers or {})
        response = connection.getresponse()
        payload = response.read()
        kind = response.getheader("Content-Type", "")
        return response.status, json.loads(payload) if "json" in kind else payload.decode()

    def post(self, path: str, body: object) -> tuple[int, dict]:
        return self.request("POST", path, body)

    def stop(self) -> str:
        self.process.terminate()
        return self.process.communicate(timeout=30)[0]


@pytest.fixture(scope="module", params=["onnxruntime", "numpy"])
def server(request):
    """The shipped model served, stepped by each engine in turn: every test of the API runs
    against both."""
    running = Server(PRETRAINED, "--max-length", "100000", "--engine", request.param)
    running.engine = request.param
    yield running
    running.stop()


def test_both_engines_write_the_same_characters_for_the_same_seed(server):
    """onnxruntime's step and NumPy's agree to float32 rounding: sampled with a random seed,
    greedy, constrained or streamed, the answers are the same characters."""
    assert server.request("GET", "/model")[1]["engine"] == server.engine
    other = Server(PRETRAINED, "--engine", "numpy" if server.engine == "onnxruntime"
                   else "onnxruntime")
    try:
        for body in ({"seed": "The meaning of life is", "length": 300, "temperature": 0.8,
                      "random_seed": 1},
                     {"seed": "Truth", "length": 200, "top_k": 5, "random_seed": 2},
                     {"seed": "\n", "length": 200, "greedy": True},
                     {"seed": "He said: ", "length": 200, "pattern": PATTERN,
                      "random_seed": 3}):
            mine, theirs = server.post("/generate", body), other.post("/generate", body)
            assert mine[0] == theirs[0] == 200 and mine[1]["text"] == theirs[1]["text"]
    finally:
        other.stop()


def test_the_api_generates_suggests_describes_and_plays(server):
    status, health = server.request("GET", "/healthz")
    assert status == 200 and health["status"] == "ok"
    status, model = server.request("GET", "/model")
    assert model["parameters"] == 3_333_460 and model["test_bpc"] < 1.8 and model["game"]
    status, page = server.request("GET", "/")
    assert status == 200 and "Human or machine?" in page and "/app.js" in page

    request = {"seed": "The meaning of life is", "length": 120, "temperature": 0.8,
               "top_k": 20, "top_p": 0.95, "random_seed": 7}
    status, first = server.post("/generate", request)
    assert status == 200 and len(first["text"]) == 120 and first["chars_per_s"] > 0
    assert first["seed"] == request["seed"] and first["random_seed"] == 7
    assert server.post("/generate", request)[1]["text"] == first["text"]  # its own stream
    other = server.post("/generate", {**request, "random_seed": 8})[1]["text"]
    assert other != first["text"]
    greedy = server.post("/generate", {"seed": "The meaning of life is", "length": 40,
                                       "greedy": True})[1]["text"]
    assert greedy == server.post("/generate", {"seed": "The meaning of life is", "length": 40,
                                               "greedy": True})[1]["text"]

    status, suggested = server.post("/next", {"text": "The meaning of lif", "k": 4})
    chars = [s["char"] for s in suggested["next"]]
    shares = [s["p"] for s in suggested["next"]]
    assert status == 200 and chars[0] == "e" and len(chars) == 4
    assert shares == sorted(shares, reverse=True) and sum(shares) <= 1.0 + 1e-6
    assert server.post("/next", {"text": ""})[0] == 200  # the start of a line

    status, dealt = server.request("GET", "/game/round")
    assert status == 200 and len(dealt["text"]) == 240
    verdicts = [server.post("/game/guess", {"round": dealt["round"], "guess": guess})[1]
                for guess in ("human", "machine")]
    assert sorted(v["correct"] for v in verdicts) == [False, True]
    assert verdicts[0]["answer"] == verdicts[1]["answer"]


def test_the_game_deals_both_kinds_of_passage(server):
    """The machine's passages copy no more than a few words of the corpus (16 characters)."""
    corpus = (REPO / "data" / "nietzsche.txt").read_text(encoding="utf-8")
    answers = set()
    for _ in range(12):
        dealt = server.request("GET", "/game/round")[1]
        answer = server.post("/game/guess", {"round": dealt["round"], "guess": "human"})[1]
        answers.add(answer["answer"])
        passage = dealt["text"]
        if answer["answer"] == "machine":
            assert not any(passage[i:i + 17] in corpus for i in range(len(passage) - 16))
        else:
            assert passage in corpus
    assert answers == {"human", "machine"}  # 1 in 2,048 to fail by chance


BAD_REQUESTS = [
    # (path, body, status, field the error names)
    ("/generate", b"{not json", 400, None),
    ("/generate", b"\xff\xfe{}", 400, None),
    ("/generate", [1, 2], 400, None),
    ("/generate", {}, 422, "seed"),
    ("/generate", {"seed": 42}, 422, "seed"),
    ("/generate", {"seed": "a", "lenght": 10}, 422, "lenght"),
    ("/generate", {"seed": "a", "length": "10"}, 422, "length"),
    ("/generate", {"seed": "a", "length": 0}, 422, "length"),
    ("/generate", {"seed": "a", "length": 100_001}, 422, "length"),
    ("/generate", {"seed": "a", "length": True}, 422, "length"),
    ("/generate", {"seed": "a", "temperature": 0}, 422, "temperature"),
    ("/generate", {"seed": "a", "temperature": -1.5}, 422, "temperature"),
    ("/generate", {"seed": "a", "top_p": 0}, 422, "top_p"),
    ("/generate", {"seed": "a", "top_p": 1.5}, 422, "top_p"),
    ("/generate", {"seed": "a", "top_k": -1}, 422, "top_k"),
    ("/generate", {"seed": "a", "top_k": 10**30}, 422, "top_k"),
    ("/generate", b'{"seed": "a", "temperature": NaN}', 422, "temperature"),
    ("/generate", {"seed": "a", "greedy": "yes"}, 422, "greedy"),
    ("/generate", {"seed": "a", "random_seed": -1}, 422, "random_seed"),
    ("/generate", {"seed": "price: 5€ 🙂"}, 422, "seed"),
    ("/next", {"text": "a", "k": 0}, 422, "k"),
    ("/next", {"txt": "a"}, 422, "txt"),
    ("/next", {"text": "ǂ"}, 422, "text"),
    ("/game/guess", {"round": "made.up", "guess": "human"}, 422, "round"),
    ("/game/guess", {"round": "x", "guess": "robot"}, 422, "guess"),
    ("/generate", {"seed": "a" * 70_000}, 413, None),
]


def test_the_api_generates_under_constraints_and_says_what_it_copied(server):
    status, made = server.post("/generate", {"seed": "He said: ", "length": 200,
                                             "temperature": 0.8, "pattern": PATTERN})
    assert status == 200 and re.fullmatch(PATTERN, made["text"]), made
    status, made = server.post("/generate", {"seed": "The ", "length": 300, "ban": "e",
                                             "stop_at": ["."], "random_seed": 4})
    assert status == 200 and "e" not in made["text"]
    assert "." not in made["text"][:-1] and (made["text"].endswith(".")
                                               or len(made["text"]) == 300)
    status, made = server.post("/generate", {"seed": "The ", "length": 300, "max_copy": 12,
                                             "show_copied": True, "random_seed": 2})
    assert status == 200 and made["copies"] == []  # nothing of 20 characters
    corpus = (REPO / "data" / "nietzsche.txt").read_text(encoding="utf-8")
    status, made = server.post("/generate", {"seed": corpus[:300], "length": 200,
                                             "greedy": True, "show_copied": True})
    assert status == 200 and made["copies"], made
    for copy in made["copies"]:
        span = made["text"][copy["start"]:copy["end"]]
        assert len(span) >= 20 and span in corpus and span in copy["context"]
    for body, field in (({"pattern": "[中]"}, "pattern"), ({"pattern": "(a"}, "pattern"),
                        ({"ban": "".join(sorted(set(corpus)))}, "ban"),
                        ({"stop_at": [""]}, "stop_at"), ({"max_copy": -1}, "max_copy")):
        status, refused = server.post("/generate", {"seed": "The ", **body})
        assert status == 422 and refused["field"] == field, refused


def test_bad_requests_get_a_4xx_naming_the_field_and_the_server_serves_on(server):
    for path, body, status, field in BAD_REQUESTS:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        answer_status, answer = server.request("POST", path, raw=raw)
        assert (answer_status, answer.get("field")) == (status, field), (body, answer)
        assert answer["error"] and "Traceback" not in answer["error"]
    status, answer = server.post("/generate", {"seed": "price: 5€ 🙂"})
    assert answer["unknown"] == ["€", "🙂"] and "'€'" in answer["error"]
    assert server.request("GET", "/nowhere")[0] == 404
    assert server.request("GET", "/generate")[0] == 405
    assert server.post("/generate", {"seed": "a", "length": 5})[0] == 200  # still serving
    tiny = server.post("/generate", {"seed": "a", "length": 5, "temperature": 1e-320})[1]
    assert tiny["text"] == server.post("/generate", {"seed": "a", "length": 5,
                                                     "greedy": True})[1]["text"]


def test_a_body_over_64_kb_is_refused_even_without_a_declared_length(server):
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    chunks = [b'{"seed": "', b"a" * 40_000, b"a" * 40_000, b'"}']
    connection.request("POST", "/generate", iter(chunks), encode_chunked=True)
    response = connection.getresponse()
    assert response.status == 413 and "64" in json.loads(response.read())["error"]


def test_streaming_sends_the_characters_as_they_are_made(server):
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    connection.request("POST", "/generate", json.dumps(
        {"seed": "The meaning of life is", "length": 2000, "stream": True, "random_seed": 3}))
    response = connection.getresponse()
    assert response.status == 200
    assert response.getheader("Content-Type").startswith("text/event-stream")
    pieces, arrivals, done = [], [], None
    for event in _events(response):
        arrivals.append(time.perf_counter())
        if event.startswith("event: done"):
            done = json.loads(event.split("data: ", 1)[1])
        else:
            pieces.append(json.loads(event.split("data: ", 1)[1])["text"])
    assert done and "".join(pieces) == done["text"] and len(done["text"]) == 2000
    assert len(pieces) >= 10  # in many pieces, not one at the end
    assert len(pieces[0]) < 1000
    unstreamed = server.post("/generate", {"seed": "The meaning of life is", "length": 2000,
                                           "random_seed": 3})[1]
    assert unstreamed["text"] == done["text"]


def test_a_client_that_goes_away_stops_its_generation(server):
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    connection.request("POST", "/generate", json.dumps(
        {"seed": "The", "length": 100_000, "stream": True}))  # half a minute of work
    response = connection.getresponse()
    assert next(_events(response)).startswith("data: ")
    assert server.request("GET", "/healthz")[1]["in_flight"] == 1
    connection.close()
    deadline = time.monotonic() + 20
    while server.request("GET", "/healthz")[1]["in_flight"] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert server.request("GET", "/healthz")[1]["in_flight"] == 0


def _events(response: http.client.HTTPResponse):
    buffer = ""
    while True:
        line = response.readline().decode()
        if not line:
            return
        if line == "\n":
            yield buffer
            buffer = ""
        else:
            buffer += line


def test_twenty_concurrent_requests_all_succeed_in_one_batch(server):
    results: list[tuple[int, dict]] = []

    def ask(i: int) -> None:
        results.append(server.post("/generate", {"seed": f"{i} The", "length": 150,
                                                 "random_seed": i}))

    clients = [threading.Thread(target=ask, args=(i,)) for i in range(20)]
    for client in clients:
        client.start()
    for client in clients:
        client.join()
    assert [status for status, _ in results] == [200] * 20
    assert all(len(answer["text"]) == 150 for _, answer in results)
    assert server.request("GET", "/healthz")[1]["largest_batch"] > 1


def onnx_stepper(model, vocab):
    from charrnn.exporting.runtime import OnnxStepper

    config = json.loads((PRETRAINED / "config.json").read_text())["model"]
    return OnnxStepper(model, config, list(vocab.chars))


@pytest.mark.parametrize("engine", ["onnxruntime", "numpy"])
def test_a_row_samples_the_same_alone_and_amid_others(engine):
    """Each request has its own settings and random stream, whatever else is in the batch."""
    model, vocab, _ = loading.load_trained(PRETRAINED)
    batcher = Batcher(model, vocab, onnx_stepper(model, vocab) if engine == "onnxruntime"
                      else None)

    def run(jobs: list[tuple[str, int, Sampling, int]]) -> list[str]:
        texts: dict[int, str] = {}
        finished = threading.Semaphore(0)
        for index, (seed, length, sampling, random_seed) in enumerate(jobs):
            def emit(kind, value, index=index):
                if kind == "text":
                    texts[index] = value[0]
                    finished.release()
            batcher.submit(Job(vocab.encode_seed(seed), length, emit, sampling, random_seed))
        for _ in jobs:
            finished.acquire(timeout=60)
        return [texts[i] for i in range(len(jobs))]

    alone = run([("Truth is", 60, Sampling(0.7, top_k=10), 5)])[0]
    crowd = [("The", 90, Sampling(1.3), 1), ("Truth is", 60, Sampling(0.7, top_k=10), 5),
             ("A much longer seed that is read while the others sample", 30,
              Sampling(greedy=True), 2), ("Why", 10, Sampling(0.5, top_p=0.5), 4)]
    together = run(crowd)
    assert together[1] == alone
    assert [len(t) for t in together] == [90, 60, 30, 10]
    assert batcher.largest_batch == 4


def test_a_constrained_row_amid_others_writes_what_generate_writes():
    """A row's constraints are its own: it matches its pattern, the others are unchanged, and
    it writes the characters Model.generate writes with the same pattern and seed."""
    import charrnn
    from charrnn.models.constraints import Constraints

    model = charrnn.load(PRETRAINED)
    batcher = Batcher(model.network, model.vocab)
    texts: dict[int, str] = {}
    finished = threading.Semaphore(0)
    rules = model.rules(Constraints(PATTERN), 150)
    jobs = [("He said: ", 150, Sampling(0.8), 3, rules.guides(1)[0]),
            ("Truth is", 60, Sampling(0.7, top_k=10), 5, None)]
    for index, (seed, length, sampling, random_seed, guide) in enumerate(jobs):
        def emit(kind, value, index=index):
            if kind == "text":
                texts[index] = value[0]
                finished.release()
        batcher.submit(Job(model.vocab.encode_seed(seed), length, emit, sampling, random_seed,
                           guide=guide))
    for _ in jobs:
        finished.acquire(timeout=60)
    assert re.fullmatch(PATTERN, texts[0])
    assert "He said: " + texts[0] == model.generate("He said: ", 150, temperature=0.8, seed=3,
                                                    pattern=PATTERN)
    assert "Truth is" + texts[1] == model.generate("Truth is", 60, temperature=0.7, top_k=10,
                                                   seed=5)


def test_a_seed_read_before_is_continued_from_its_kept_state():
    """The keyboard asks after every keystroke: the state after the text it asked about last
    time is kept, and the answer is the one reading the whole text would give."""
    model, vocab, _ = loading.load_trained(PRETRAINED)

    def next_chars(batcher: Batcher, text: str) -> np.ndarray:
        answer = queue.SimpleQueue()
        batcher.submit(Job(vocab.encode_seed(text), 0, lambda kind, value: answer.put(value)))
        return answer.get(timeout=60)

    text = "The meaning of life is not to be found in"
    fresh = next_chars(Batcher(model, vocab), text)
    typing = Batcher(model, vocab)
    for end in range(len(text) - 5, len(text) + 1):  # typed one character at a time
        answer = next_chars(typing, text[:end])
    np.testing.assert_allclose(answer, fresh, rtol=1e-5, atol=1e-7)
    assert len(typing.kept) == 6
    done = queue.SimpleQueue()
    for batcher in (typing, Batcher(model, vocab)):  # Continue starts from the kept state
        batcher.submit(Job(vocab.encode_seed(text), 40, lambda kind, value: done.put(value),
                           Sampling(greedy=True)))
    assert done.get(timeout=60)[0] == done.get(timeout=60)[0]


def test_the_page_marks_what_a_continuation_copied(tiny_corpus, browser, tmp_path):
    """A model that has learnt a repetitive text copies it: the page marks each stretch, the
    corpus around it on hover."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    import charrnn

    run = tmp_path / "run"
    charrnn.train(tiny_corpus, run, epochs=6, dropout=0, hidden=64, embed=16, batch_size=4,
                  seq_len=50, lr=0.01, sample_length=0, verbose=False)
    corpus = PANGRAM * 200
    server = Server(run)
    try:
        wait = WebDriverWait(browser, 60)
        browser.get(f"http://127.0.0.1:{server.port}/")
        wait.until(lambda b: "parameters" in b.find_element(By.ID, "model").text)
        browser.find_element(By.ID, "text").send_keys("the quick brown")
        browser.find_element(By.ID, "continue").click()
        wait.until(lambda b: b.find_element(By.ID, "copied").is_displayed())
        marks = browser.find_elements(By.CSS_SELECTOR, "#copied-text mark")
        assert marks and all(len(m.text) >= 20 and m.text in corpus for m in marks)
        assert "in the training text" in marks[0].get_attribute("title")
        assert marks[0].text in marks[0].get_attribute("title")
        assert "the longest" in browser.find_element(By.ID, "copied-summary").text
    finally:
        server.stop()


def test_serve_refuses_a_missing_run_and_a_busy_port(tmp_path, tiny_corpus):
    missing = invoke("serve", tmp_path / "nothing")
    assert missing.exit_code == 1 and "nothing" in missing.output
    assert len(missing.output.strip().splitlines()) == 1
    run = tmp_path / "run"
    assert invoke("train", tiny_corpus, "--out", run, "--max-steps", "3",
                  *TINY_MODEL).exit_code == 0
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = invoke("serve", run, "--port", str(taken.getsockname()[1]))
    assert busy.exit_code == 1 and "is in use: choose another with --port" in busy.output


def test_without_its_corpus_the_server_runs_without_the_game(tmp_path, tiny_corpus):
    run = tmp_path / "run"
    assert invoke("train", tiny_corpus, "--out", run, "--max-steps", "3",
                  *TINY_MODEL).exit_code == 0
    tiny_corpus.unlink()
    server = Server(run)
    try:
        assert server.request("GET", "/model")[1]["game"] is False
        status, answer = server.request("GET", "/game/round")
        assert status == 404 and "corpus" in answer["error"]
        assert server.post("/generate", {"seed": "the ", "length": 20})[0] == 200
    finally:
        output = server.stop()
    assert "game is off" in output


def test_several_workers_share_the_port_and_any_scores_a_round(tmp_path):
    server = Server(PRETRAINED, "--workers", "2")
    try:
        rounds = [server.request("GET", "/game/round")[1]["round"] for _ in range(6)]
        for round_id in rounds:  # each guess may reach the other worker
            assert server.post("/game/guess", {"round": round_id, "guess": "human"})[0] == 200
        texts = {server.post("/generate", {"seed": "I", "length": 20, "random_seed": 1})[1]
                 ["text"] for _ in range(4)}
        assert len(texts) == 1
    finally:
        server.stop()


# -- the page, in a real browser --------------------------------------------------------------

def test_the_page_suggests_continues_and_plays_a_round(server, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(browser, 60)
    browser.get(f"http://127.0.0.1:{server.port}/")
    wait.until(lambda b: "parameters" in b.find_element(By.ID, "model").text)

    text = browser.find_element(By.ID, "text")
    text.send_keys("The meaning of lif")
    wait.until(lambda b: b.find_elements(By.CSS_SELECTOR, ".suggestion"))
    wait.until(lambda b: b.find_element(By.CSS_SELECTOR, ".suggestion")
               .get_attribute("data-char") == "e")
    text.send_keys(Keys.TAB)  # takes the first suggestion
    assert text.get_attribute("value") == "The meaning of life"

    length = browser.find_element(By.ID, "length")
    length.clear()
    length.send_keys("200")
    browser.find_element(By.ID, "continue").click()
    wait.until(lambda b: "chars/s" in b.find_element(By.ID, "status").text)
    assert len(text.get_attribute("value")) == len("The meaning of life") + 200

    pattern = browser.find_element(By.ID, "pattern")  # a continuation that matches it
    pattern.send_keys(PATTERN)
    before = text.get_attribute("value")
    browser.find_element(By.ID, "continue").click()
    wait.until(lambda b: b.find_element(By.ID, "continue").is_enabled()
               and text.get_attribute("value") != before)
    assert re.fullmatch(PATTERN, text.get_attribute("value")[len(before):])
    assert browser.find_element(By.ID, "copied").is_displayed()  # what it copied, if any
    pattern.clear()

    browser.find_element(By.ID, "tab-game").click()  # the game is the second tab
    assert not browser.find_element(By.ID, "text").is_displayed()
    wait.until(lambda b: b.find_element(By.ID, "guess-human").is_enabled())
    passage = browser.find_element(By.ID, "game-text").text
    assert len(passage) > 100
    browser.find_element(By.ID, "guess-machine").click()
    wait.until(lambda b: b.find_element(By.ID, "game-result").text)
    assert browser.find_element(By.ID, "score").text in ("0 / 1", "1 / 1")
    assert browser.find_element(By.ID, "game-result").text.startswith(("Right", "Wrong"))
    browser.save_screenshot(str(tmp_path / "page.png"))
    assert (tmp_path / "page.png").stat().st_size > 10_000
