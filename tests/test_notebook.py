"""charrnn in a real Jupyter kernel: the quickstart notebook runs top to bottom, and the
kernel's interrupt stops a training cell with its checkpoint written, so that the next cell
resumes it to the weights of a run never interrupted.

nbclient runs the notebook: it is the execution engine under nbconvert, papermill and nbmake,
and it hands us the kernel's client, which the interrupt test needs (papermill would add
parameters we do not use; nbmake runs notebooks as tests but hides the kernel)."""
from __future__ import annotations

import html
import json
import time
from pathlib import Path

import nbformat
import numpy as np
from jupyter_client.manager import start_new_kernel

from .conftest import PANGRAM, REPO, last_weights

QUICKSTART = REPO / "docs" / "quickstart.ipynb"


def test_the_committed_quickstart_shows_a_real_runs_outputs_and_stays_small():
    """What a reader sees on a repository page: every cell after the install cell has the
    outputs of a run (scripts/run-notebook stores them; tests/test_install.py runs it)."""
    notebook = nbformat.read(QUICKSTART, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert "%pip install" in code[0].source and not code[0].outputs
    assert all(cell.outputs for cell in code[1:]), [c.source for c in code[1:] if not c.outputs]
    outputs = [o for cell in code for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert sum("image/png" in o.get("data", {}) for o in outputs) >= 2  # inside view, plot
    assert QUICKSTART.stat().st_size < 1_000_000


def run_cell(client, code: str, interrupt_after=None, timeout: float = 300) -> dict:
    """Execute `code`; its reply's status and its text output. `interrupt_after(text)` is
    asked at each message until it has pressed the kernel's interrupt button (True)."""
    message_id = client.execute(code)
    text, interrupted, deadline = [], False, time.time() + timeout
    while True:
        message = client.get_iopub_msg(timeout=max(deadline - time.time(), 1))
        if message["parent_header"].get("msg_id") != message_id:
            continue
        kind, content = message["msg_type"], message["content"]
        if kind == "stream":
            text.append(content["text"])
        elif kind == "error":
            text.append("\n".join(content["traceback"]))
        elif kind == "status" and content["execution_state"] == "idle":
            break
        if interrupt_after and not interrupted:
            interrupted = interrupt_after("".join(text))
    reply = client.get_shell_msg(timeout=30)
    return {"status": reply["content"]["status"], "text": "".join(text)}


SETTINGS = {"hidden": 32, "embed": 16, "batch_size": 4, "seq_len": 20, "max_steps": 400,
            "sample_length": 0}
KEYWORDS = ", ".join(f"{name}={value!r}" for name, value in SETTINGS.items())


def test_the_kernels_interrupt_stops_training_and_the_next_cell_resumes_it(tmp_path):
    corpus = tmp_path / "tiny.txt"
    corpus.write_text(PANGRAM * 200, encoding="utf-8")
    manager, client = start_new_kernel(kernel_name="python3", cwd=str(tmp_path))
    try:
        started = run_cell(client, "import charrnn")
        assert started["status"] == "ok", started["text"]

        def pressed(text: str) -> bool:  # once training has started, some steps in
            if "training " not in text:
                return False
            time.sleep(0.5)
            manager.interrupt_kernel()
            return True

        cell = run_cell(client, f"run = charrnn.train({str(corpus)!r}, 'run', {KEYWORDS})\n"
                                "print('interrupted:', run.interrupted, run.signal)",
                        interrupt_after=pressed)
        assert cell["status"] == "ok", cell["text"]  # no KeyboardInterrupt, no SystemExit
        assert "interrupted: True 2" in cell["text"] and "checkpoint saved" in cell["text"]
        assert "charrnn.train(resume='run')" in cell["text"]
        stopped_at = json.loads((tmp_path / "run" / "state.json").read_text())["step"]
        assert 1 <= stopped_at < 400

        resumed = run_cell(client, "run = charrnn.train(resume=run.path, verbose=False)\n"
                                   "print(run.stop_reason)")
        assert resumed["status"] == "ok" and "reached --max-steps 400" in resumed["text"]
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)

    import charrnn  # the uninterrupted run, once the kernel's MXNet is gone

    whole = charrnn.train(corpus, tmp_path / "whole", verbose=False, **SETTINGS)
    expected, got = last_weights(whole.path), last_weights(tmp_path / "run")
    for name in expected:
        np.testing.assert_allclose(got[name], expected[name], atol=1e-5, rtol=0)
    assert Path(tmp_path / "run" / "model.params").is_file()


def test_an_inspection_shown_inline_works_offline_in_a_sandboxed_output_frame(tmp_path,
                                                                             browser):
    """The notebook's output, as Colab-like sandboxes show one (in an iframe of its own):
    the report renders and answers in Chromium, with no request and no error."""
    import charrnn

    from .test_inspect import _hover_and_pick

    corpus = tmp_path / "tiny.txt"
    corpus.write_text(PANGRAM * 200, encoding="utf-8")
    run = charrnn.train(corpus, tmp_path / "run", verbose=False,
                        **{**SETTINGS, "max_steps": 60})
    output = run.load().inspect(PANGRAM * 12)._repr_html_()
    page = tmp_path / "notebook.html"
    page.write_text('<!doctype html><meta charset="utf-8"><iframe id="cell" '
                    f'sandbox="allow-scripts" srcdoc="{html.escape(output)}" '
                    'style="width: 100%; height: 1100px"></iframe>', encoding="utf-8")
    browser.get(page.as_uri())
    browser.switch_to.frame("cell")
    browser.switch_to.frame(0)
    _hover_and_pick(browser, "inside")
    requested = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)")
    assert requested == []
    browser.switch_to.default_content()
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []
