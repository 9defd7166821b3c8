"""The Python API (charrnn.train, load, compare; Run, Model, Inspection, Comparison) with tiny
real models: it gives what the command line prints, and refuses bad input with the same line."""
from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

import charrnn
from charrnn.errors import CharrnnError

from .conftest import PANGRAM, invoke, last_weights

TINY = {"hidden": 32, "embed": 16, "batch_size": 4, "seq_len": 20, "sample_length": 0,
        "verbose": False}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("api") / "tiny.txt"
    path.write_text(PANGRAM * 200, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def run(corpus) -> charrnn.Run:
    return charrnn.train(corpus, corpus.parent / "run", epochs=2, **TINY)


def test_the_api_is_listed_and_documented_in_numpydoc():
    for name in charrnn.__all__:
        assert getattr(charrnn, name) is not None, name
    for function in (charrnn.train, charrnn.load, charrnn.compare, charrnn.Model.generate,
                     charrnn.Model.evaluate, charrnn.Model.inspect):
        doc = function.__doc__
        assert "Parameters\n" in doc and "Returns\n" in doc, function.__name__
    assert "Raises\n" in charrnn.train.__doc__ and "Examples\n" in charrnn.train.__doc__
    for setting in ("hidden : int, default 256", "time_budget : float or str, default 0.0",
                    "lr : float, default by optimizer: 0.004 for adam"):
        assert setting in charrnn.train.__doc__


def test_train_returns_a_run_whose_model_generates_evaluates_and_predicts(run, corpus):
    assert run.stop_reason == "completed 2 epochs" and not run.interrupted
    assert [row["epoch"] for row in run.metrics] == [1, 2]
    assert run.summary.best_val_bpc == min(row["val_bpc"] for row in run.metrics)
    model = run.load()
    assert model.parameters == run.summary.parameters

    text = model.generate("the lazy", 25, greedy=True)
    cli_text = invoke("generate", run.path, "--seed-text", "the lazy", "--length", "25",
                      "--greedy").output.rstrip("\n")
    assert text == cli_text and text.startswith("the lazy") and len(text) == 33
    assert model.generate("the", 30, seed=4) == model.generate("the", 30, seed=4)
    samples = model.samples("the", 10, 3, seed=1)  # several: always a list; one: a str
    assert len(samples) == 3 and all(s.startswith("the") and len(s) == 13 for s in samples)
    assert model.samples("the", 10, 1, seed=4) == [model.generate("the", 10, seed=4)]
    assert "".join(model.stream("the lazy", 25, greedy=True)) == text
    beams = model.samples("the", 10, 2, beam_size=3)
    assert model.generate("the", 10, beam_size=3) == beams[0] and isinstance(beams, list)

    ranked = model.next("the lazy", k=4)
    assert len(ranked) == 4 and ranked[0][0] == text[len("the lazy")]
    probabilities = [p for _, p in ranked]
    assert probabilities == sorted(probabilities, reverse=True) and sum(probabilities) <= 1

    val = model.evaluate("val")
    assert abs(val.bpc - run.summary.best_val_bpc) < 1e-3
    assert val.source == f"val split of {corpus}"
    cli_val = invoke("evaluate", run.path, "--split", "val").output
    assert f"bits/char   {val.bpc:.4f}" in cli_val


def test_dynamic_evaluation_scores_lower_and_leaves_the_model_as_it_was(run):
    model = run.load()
    before = model.next("the quick", k=3)
    static = model.evaluate("val")
    dynamic = model.evaluate("val", dynamic=True, dynamic_lr=3e-4, record=True)
    assert dynamic.bpc < static.bpc
    assert "dynamic evaluation, lr 0.0003" in dynamic.source
    assert model.next("the quick", k=3) == before
    assert "val-dynamic" in run.summary.evaluations


def test_evaluate_scores_the_weights_in_memory_not_those_on_disk(run):
    """What generate and inspect use: a model changed in memory is scored as it now is."""
    import math

    import mxnet as mx

    model = run.load()
    on_disk = model.evaluate("val").bpc
    for param in model.network.collect_params().values():
        param.set_data(mx.nd.zeros_like(param.data()))  # every logit 0: a uniform guess
    assert model.evaluate("val").bpc == pytest.approx(math.log2(len(model.vocab)), abs=1e-4)
    assert on_disk < math.log2(len(model.vocab)) - 1


def test_resuming_a_finished_or_refused_run_releases_its_lock(corpus, tmp_path):
    """In a notebook the process lives on: another process must be able to take the run."""
    import fcntl

    path = tmp_path / "finished"
    charrnn.train(corpus, path, max_steps=3, **TINY)
    assert charrnn.train(resume=path, verbose=False).stop_reason == "finished"
    with pytest.raises(CharrnnError, match="cannot resume"):
        charrnn.train(resume=path, hidden=64, verbose=False)
    with open(path / ".lock", "a+") as handle:  # another open file: conflicts if still held
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)


def test_a_text_is_scored_as_inspect_reads_it(run):
    model = run.load()
    text = PANGRAM * 3
    scored = model.evaluate(text=text, batch_size=1)
    inside = model.inspect(text, units=["1.h.3", "2.c.0"])
    assert scored.chars == len(text) - 1
    assert abs(inside.bpc - scored.bpc) < 1e-3
    found = inside.to_json()
    assert set(found["activations"]) == {"1.h.3", "2.c.0"}
    assert len(found["activations"]["1.h.3"]) == len(text)


def test_an_inspection_shows_inline_and_saves_the_report(run, tmp_path):
    inside = run.load().inspect(show=300)
    assert inside.title.endswith("'s test split")
    page = inside._repr_html_()
    assert page.startswith("<iframe srcdoc=") and 'sandbox="allow-scripts"' in page
    assert "Inside.render" in page and "http://" not in page.split("srcdoc=")[1][:200]
    written = inside.save(tmp_path / "inside")
    assert {p.name for p in written} >= {"index.html", "inspect.json"}


def test_a_run_shows_its_summary_and_curves_in_a_notebook(run):
    page = run._repr_html_()
    assert "<table>" in page and "best" in page and "data:image/png;base64," in page
    figure = run.plot()
    assert type(figure).__name__ == "Figure" and len(figure.axes) == 4


def test_train_resumes_to_the_weights_of_an_uninterrupted_run(corpus, tmp_path):
    whole = charrnn.train(corpus, tmp_path / "whole", max_steps=30, **TINY)
    part = charrnn.train(corpus, tmp_path / "part", max_steps=30, stop_at_step=12, **TINY)
    assert part.stop_reason == "stopped at step 12 (--stop-at-step)"
    resumed = charrnn.train(resume=part.path, verbose=False)
    assert resumed.path == part.path
    expected, got = last_weights(whole.path), last_weights(resumed.path)
    assert expected.keys() == got.keys()
    for name in expected:
        np.testing.assert_allclose(got[name], expected[name], atol=1e-5, rtol=0)


def test_train_runs_from_another_thread_without_signal_handlers(corpus, tmp_path):
    found = {}
    thread = threading.Thread(target=lambda: found.update(run=charrnn.train(
        corpus, tmp_path / "threaded", max_steps=5, **TINY)))
    thread.start()
    thread.join(120)
    assert found["run"].stop_reason.startswith("reached --max-steps")


def test_compare_returns_the_rows_table_and_runs(corpus, tmp_path):
    compared = charrnn.compare(corpus, "unrolled,lstm", out=tmp_path / "report", epochs=1,
                               hidden=16, embed=8, batch_size=4, seq_len=20, verbose=False)
    assert [row["model"] for row in compared.rows] == ["unrolled", "lstm"]
    assert "| unrolled |" in compared.table and "test_bpc" in compared._repr_html_()
    assert set(compared.runs) == {"unrolled", "lstm"}
    assert all(row["test_bpc"] > 0 for row in compared.rows)
    command = (tmp_path / "report" / "results.md").read_text()
    assert "charrnn compare" in command and "--models unrolled,lstm --epochs 1" in command
    assert len(compared.plot().axes) == 4


def _cli_error(*args) -> str:
    result = invoke(*args)
    assert result.exit_code in (1, 2), result.output
    return result.output.strip().splitlines()[-1].removeprefix("Error: ")


@pytest.mark.parametrize("call, cli", [
    (lambda c, r: charrnn.train(c.parent / "missing.txt", **TINY),
     lambda c, r: ("train", c.parent / "missing.txt")),
    (lambda c, r: charrnn.train(c, ctx="tpu", **TINY), lambda c, r: ("train", c, "--ctx", "tpu")),
    (lambda c, r: charrnn.train(resume=c.parent / "nowhere"),
     lambda c, r: ("train", "--resume", c.parent / "nowhere")),
    (lambda c, r: charrnn.load(c.parent / "nowhere"),
     lambda c, r: ("generate", c.parent / "nowhere")),
    (lambda c, r: r.load().generate("Zürich"),
     lambda c, r: ("generate", r.path, "--seed-text", "Zürich")),
    (lambda c, r: r.load().generate("the", beam_size=2, top_k=3),
     lambda c, r: ("generate", r.path, "--seed-text", "the", "--beam-size", "2", "--top-k", "3")),
    (lambda c, r: r.load().evaluate(dynamic=True, batch_size=8),
     lambda c, r: ("evaluate", r.path, "--dynamic", "--batch-size", "8")),
    (lambda c, r: r.load().evaluate(dynamic_lr=1e-3),
     lambda c, r: ("evaluate", r.path, "--dynamic-lr", "1e-3")),
    (lambda c, r: r.load().evaluate(dynamic=True, dynamic_lr=10),
     lambda c, r: ("evaluate", r.path, "--dynamic", "--dynamic-lr", "10")),
    (lambda c, r: r.load().inspect("the dog", units=["3.h.0"]),
     lambda c, r: ("inspect", r.path, "--text", "the dog", "--unit", "3.h.0", "--json")),
    (lambda c, r: r.load().inspect("the dog", patterns=["(unclosed"]),
     lambda c, r: ("inspect", r.path, "--text", "the dog", "--pattern", "(unclosed", "--json")),
    (lambda c, r: charrnn.compare(c, "lstm,lstm"), lambda c, r: ("compare", c, "--models",
                                                                   "lstm,lstm")),
], ids=["missing corpus", "bad device", "resume nowhere", "load nowhere", "unknown seed",
        "beam and top-k", "dynamic batch", "dynamic lr alone", "dynamic diverges",
        "unknown unit", "bad pattern", "model twice"])
def test_bad_input_raises_charrnn_error_with_the_command_lines_message(corpus, run, call, cli):
    with pytest.raises(CharrnnError) as raised:
        call(corpus, run)
    assert str(raised.value) in _cli_error(*cli(corpus, run))


@pytest.mark.parametrize("settings, message", [
    ({"hiden": 32}, "unknown setting 'hiden': did you mean hidden?"),
    ({"hidden": 0}, "hidden must be at least 1, not 0."),
    ({"hidden": "many"}, "hidden must be of type int, not 'many'."),
    ({"dropout": 1.0}, "dropout must be less than 1, not 1.0."),
    ({"time_budget": "soon"}, "'soon' is not a duration: write e.g. 90s, 5m or 1h30m."),
    ({"model": "transformer"}, "unknown model 'transformer': choose one of lstm, gru"),
    ({"tie_weights": True}, "tie_weights needs embed equal to hidden"),
])
def test_settings_are_checked_before_anything_is_read(tmp_path, settings, message):
    with pytest.raises(CharrnnError, match="^" + message.replace("(", r"\(").replace(
            ")", r"\)").replace("?", r"\?")):
        charrnn.train(tmp_path / "not read.txt", **{**TINY, **settings})


def test_without_mxnet_the_api_names_the_line_that_installs_it():
    hide_mxnet = ("import sys; sys.modules['mxnet'] = None; import charrnn\n"
                  "try:\n    charrnn.train\nexcept charrnn.CharrnnError as error:\n"
                  "    print(error)")
    result = subprocess.run([sys.executable, "-c", hide_mxnet], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "%pip install --no-deps mxnet==1.9.1" in result.stdout


def test_a_string_is_a_split_a_text_or_a_path_only_by_its_keyword(run, tmp_path):
    """evaluate("test") is the split; a text that reads "test" is text="test"; a file is
    path=, for evaluate and inspect alike."""
    model = run.load()
    assert model.evaluate("test").source.startswith("test split of")
    assert model.evaluate(text="test", batch_size=1).chars == len("test") - 1
    with pytest.raises(CharrnnError, match="split 'the lazy dog' is not one of train, val"):
        model.evaluate("the lazy dog")
    with pytest.raises(CharrnnError, match="give one of text and split"):
        model.evaluate("val", text="the lazy dog")
    page = tmp_path / "my.txt"
    page.write_text(PANGRAM, encoding="utf-8")
    assert model.evaluate(path=page).bpc == pytest.approx(model.evaluate(text=PANGRAM).bpc)
    read = model.inspect(path=page)
    assert read.figures["text_chars"] == len(PANGRAM) and str(page) in read.title
    assert model.inspect("my.txt").figures["text_chars"] == len("my.txt")  # the string itself
