"""charrnn export: each of the five models, trained here, exported to ONNX and run by
onnxruntime, and to safetensors read into NumPy implementations of PyTorch's documented
equations, predicts as MXNet does; bad input gets one line and nothing half written."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

import charrnn

from .conftest import REPO, invoke

VARIANTS = {
    "lstm": {"model": "lstm"},
    "gru": {"model": "gru"},
    "rnn_relu": {"model": "rnn_relu"},
    "rnn_tanh": {"model": "rnn_tanh"},
    "unrolled": {"model": "unrolled"},
    "lstm-regularised": {"model": "lstm", "embed": 24, "tie_weights": True, "weight_drop": 0.3,
                         "embed_drop": 0.1},
}


@pytest.fixture(scope="module")
def texts(tmp_path_factory):
    text = (REPO / "data" / "nietzsche.txt").read_text(encoding="utf-8")[:60_000]
    corpus = tmp_path_factory.mktemp("export") / "excerpt.txt"
    corpus.write_text(text[:50_000], encoding="utf-8")
    return corpus, text[50_000:51_200]  # 1,200 characters the models never trained on


@pytest.fixture(scope="module")
def exported(texts):
    corpus, _ = texts
    found = {}
    for name, settings in VARIANTS.items():
        run = charrnn.train(corpus, corpus.parent / name, **{
            "hidden": 24, "embed": 16, "layers": 2, "batch_size": 8, "seq_len": 30,
            "max_steps": 40, "sample_length": 0, "verbose": False, **settings})
        model = run.load("cpu")
        found[name] = (model, model.export(corpus.parent / f"{name}-exported"))
    return found


def mxnet_log_probs(model, text: str) -> np.ndarray:
    """log p(each character | everything before it), MXNet's forward pass, from a zero state."""
    import mxnet as mx

    ids = model.vocab.encode(text)
    logits, _ = model.network(mx.nd.array(ids[:-1, None]), model.network.begin_state(1))
    log_probs = mx.nd.log_softmax(logits).asnumpy().astype(np.float64)
    return log_probs[np.arange(len(ids) - 1), ids[1:]]


def log_softmax(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64)
    return x - x.max(axis=-1, keepdims=True) - np.log(np.exp(x - x.max(axis=-1, keepdims=True))
                                                      .sum(axis=-1, keepdims=True))


class OnnxModel:
    """The exported graph in onnxruntime, its state carried from call to call."""

    def __init__(self, folder: Path):
        self.session = ort.InferenceSession(str(folder / "model.onnx"),
                                            providers=["CPUExecutionProvider"])
        meta = self.session.get_modelmeta().custom_metadata_map
        self.vocab = json.loads(meta["vocab"])
        self.state = {i.name: np.zeros([1 if d in ("B",) else d for d in i.shape],
                                       dtype=np.int64 if i.name == "previous" else np.float32)
                      for i in self.session.get_inputs() if i.name != "chars"}

    def __call__(self, ids: np.ndarray) -> np.ndarray:
        names = [o.name for o in self.session.get_outputs()]
        values = self.session.run(names, {"chars": ids.astype(np.int64)[:, None], **self.state})
        self.state = {name[:-len("_out")]: value
                      for name, value in zip(names[1:], values[1:])}
        return values[0][:, 0]


@pytest.mark.parametrize("name", list(VARIANTS))
def test_onnxruntime_predicts_every_character_as_mxnet_does(exported, texts, name):
    model, files = exported[name]
    assert {p.name for p in files} == {"model.onnx", "model.safetensors", "model.html",
                                       "vocab.json", "config.json"}
    text = texts[1]
    ids = model.vocab.encode(text)
    runner = OnnxModel(files[0].parent)
    assert runner.vocab == list(model.vocab.chars)
    logits = np.concatenate([runner(ids[start:start + 97])        # the state carried over
                             for start in range(0, len(ids) - 1, 97)])[:len(ids) - 1]
    onnx_log_probs = log_softmax(logits)[np.arange(len(ids) - 1), ids[1:]]
    expected = mxnet_log_probs(model, text)
    assert len(expected) >= 1000
    np.testing.assert_allclose(onnx_log_probs, expected, atol=1e-4, rtol=0)
    scored = model.evaluate(text=text, batch_size=1)
    assert abs(-onnx_log_probs.mean() - scored.loss) < 1e-4


@pytest.mark.parametrize("name", list(VARIANTS))
def test_greedy_generation_in_onnxruntime_is_charrnns(exported, name):
    model, files = exported[name]
    seed = "The meaning of life is"
    runner = OnnxModel(files[0].parent)
    logits = runner(model.vocab.encode(seed))[-1]
    text = seed
    for _ in range(200):
        best = int(np.argmax(logits))
        text += model.vocab.chars[best]
        logits = runner(np.array([best]))[-1]
    assert text == model.generate(seed, 200, greedy=True)


# -- PyTorch's equations, from its documentation (torch.nn.LSTM, GRU, RNN, Embedding, Linear),
#    in NumPy: not charrnn's step ---------------------------------------------------------------

def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def torch_layer(mode, w, k, x, h, c):
    """One step of layer k of torch.nn.<mode> with x (input), h, c (LSTM)."""
    gi = w[f"rnn.weight_ih_l{k}"] @ x + w[f"rnn.bias_ih_l{k}"]
    gh = w[f"rnn.weight_hh_l{k}"] @ h + w[f"rnn.bias_hh_l{k}"]
    if mode == "lstm":
        i, f, g, o = np.split(gi + gh, 4)
        c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
        return sigmoid(o) * np.tanh(c), c
    if mode == "gru":
        (ri, zi, ni), (rh, zh, nh) = np.split(gi, 3), np.split(gh, 3)
        r, z = sigmoid(ri + rh), sigmoid(zi + zh)
        n = np.tanh(ni + r * nh)
        return (1 - z) * n + z * h, None
    pre = gi + gh
    return (np.maximum(pre, 0) if mode == "rnn_relu" else np.tanh(pre)), None


def torch_log_probs(w: dict, config: dict, ids: np.ndarray) -> np.ndarray:
    w = {k: v.astype(np.float64) for k, v in w.items()}
    mode, layers, hidden = config["model"], config["layers"], config["hidden"]
    if mode == "unrolled":
        def dense(name, x, relu):
            y = w[f"{name}.weight"] @ x + w[f"{name}.bias"]
            return np.maximum(y, 0) if relu else y
        padded = np.concatenate([[0, 0], ids])
        rows = []
        for t in range(len(ids) - 1):
            first, second, third = (dense("input", w["embedding.weight"][padded[t + j]], True)
                                    for j in range(3))
            h = dense("hidden", dense("hidden", first, True) + second, True) + third
            rows.append(dense("output", h, False))
        logits = np.array(rows)
    else:
        h = [np.zeros(hidden) for _ in range(layers)]
        c = [np.zeros(hidden) for _ in range(layers)]
        rows = []
        for t in range(len(ids) - 1):
            x = w["embedding.weight"][ids[t]]
            for k in range(layers):
                h[k], c[k] = torch_layer(mode, w, k, x, h[k], c[k])
                x = h[k]
            rows.append(w["decoder.weight"] @ x + w["decoder.bias"])
        logits = np.array(rows)
    return log_softmax(logits)[np.arange(len(ids) - 1), ids[1:]]


@pytest.mark.parametrize("name", list(VARIANTS))
def test_the_safetensors_file_is_pytorchs_layout(exported, texts, name):
    from safetensors import safe_open
    from safetensors.numpy import load_file

    model, files = exported[name]
    path = files[0].parent / "model.safetensors"
    weights = load_file(str(path))
    with safe_open(str(path), framework="np") as f:
        meta = f.metadata()
    config = json.loads(meta["charrnn_config"])
    assert json.loads(meta["vocab"]) == list(model.vocab.chars)
    if config["model"] != "unrolled":
        gates = {"lstm": 4, "gru": 3}.get(config["model"], 1)
        assert weights["rnn.weight_ih_l0"].shape == (gates * 24, config["embed"])
        assert weights["rnn.weight_hh_l1"].shape == (gates * 24, 24)
        assert weights["decoder.weight"].shape == (len(model.vocab), 24)
    text = texts[1][:300]
    np.testing.assert_allclose(torch_log_probs(weights, config, model.vocab.encode(text)),
                               mxnet_log_probs(model, text), atol=1e-4, rtol=0)


def test_bad_input_gets_one_line_and_nothing_half_written(exported, tmp_path):
    model, _ = exported["gru"]
    run, existing = model.path, tmp_path / "existing"
    assert invoke("export", run, "-o", existing, "--format", "onnx").exit_code == 0
    cases = [
        (("export", tmp_path / "nowhere", "-o", tmp_path / "a"), "does not exist"),
        (("export", run, "-o", tmp_path / "b", "--format", "tflite"), "'tflite' is not one of"),
        (("export", run, "-o", existing), "already exists"),
    ]
    for args, message in cases:
        result = invoke(*args)
        assert result.exit_code == 2, result.output
        lines = result.output.strip().splitlines()
        assert lines[-1].startswith("Error: ") and message in lines[-1], result.output
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["existing"]  # no staging folder left
    again = invoke("export", run, "-o", existing, "--overwrite", "--format", "safetensors",
                   "--format", "html")
    assert again.exit_code == 0, again.output
    assert {p.name for p in existing.iterdir()} == {"model.safetensors", "model.html",
                                                    "vocab.json", "config.json"}


# -- the page -------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", list(VARIANTS))
def test_the_page_generates_offline_as_python_does(exported, texts, browser, name):
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    model, files = exported[name]
    page = files[0].parent / "model.html"
    browser.get(page.as_uri())
    wait = WebDriverWait(browser, 60)
    try:
        wait.until(lambda b: b.find_elements(By.CSS_SELECTOR, "#suggestions .suggestion"))
    except TimeoutException:
        status = browser.execute_script("return document.getElementById('status').textContent")
        pytest.fail(f"no suggestions: status {status!r}, log {browser.get_log('browser')}")

    seed = "The meaning of life is"
    in_page = dict(browser.execute_script(f"return charrnn.next({seed!r}, 84)"))
    for char, p in model.next(seed, k=len(model.vocab)):
        assert abs(in_page[char] - p) < 1e-3, (char, in_page[char], p)
    greedy = browser.execute_script(f"return charrnn.greedy({seed!r}, 100)")
    assert seed + greedy == model.generate(seed, 100, greedy=True)
    text = texts[1][:400]
    bpc = browser.execute_script(f"return charrnn.inspect({text!r}).figures.bpc")
    assert abs(bpc - model.inspect(text, show=400).bpc) < 1e-3

    field = browser.find_element(By.ID, "text")   # the keyboard, as a user types
    field.send_keys(" the")
    wait.until(lambda b: b.find_element(By.CSS_SELECTOR, ".suggestion").get_attribute("data-char")
               == model.next(seed + " the", k=1)[0][0])
    browser.find_element(By.ID, "continue").click()
    wait.until(lambda b: "a second" in b.find_element(By.ID, "status").text)
    browser.find_element(By.ID, "tab-inside").click()
    browser.find_element(By.ID, "inspect").click()
    wait.until(lambda b: len(b.find_elements(By.CSS_SELECTOR, ".inside-text span")) > 10)
    requested = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)")
    assert requested == []
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []
