"""Shared fixtures: small real corpora and run directories in temporary folders."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

# Two threads at most, as on CI; keeps timings of the suite comparable on any machine.
os.environ.setdefault("OMP_NUM_THREADS", "2")

from click.testing import CliRunner

from charrnn.cli.commands import cli

REPO = Path(__file__).resolve().parent.parent
PANGRAM = "the quick brown fox jumps over the lazy dog. "


@pytest.fixture
def tiny_corpus(tmp_path: Path) -> Path:
    """A repetitive text a small model learns within a few hundred steps."""
    path = tmp_path / "tiny.txt"
    path.write_text(PANGRAM * 200, encoding="utf-8")
    return path


@pytest.fixture
def nietzsche_excerpt(tmp_path: Path) -> Path:
    path = tmp_path / "excerpt.txt"
    path.write_bytes((REPO / "data" / "nietzsche.txt").read_bytes()[:30000])
    return path


def invoke(*args: str):
    """Run the real CLI in-process; returns click's Result."""
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


TINY_MODEL = ("--hidden", "32", "--embed", "16", "--batch-size", "4", "--seq-len", "20",
              "--sample-length", "0")


@pytest.fixture(scope="session")
def trained_once(tmp_path_factory) -> Path:
    """The run `trained_run` copies: trained once, not once for each of its ~70 tests."""
    folder = tmp_path_factory.mktemp("trained")
    corpus, run = folder / "tiny.txt", folder / "run"
    corpus.write_text(PANGRAM * 200, encoding="utf-8")
    result = invoke("train", corpus, "--out", run, "--epochs", "2", "--dropout", "0",
                    *TINY_MODEL)
    assert result.exit_code == 0, result.output
    return run


@pytest.fixture
def trained_run(trained_once: Path, tiny_corpus: Path, tmp_path: Path) -> Path:
    """A run trained for 2 epochs on `tiny_corpus`, the test's own to change: a copy of
    `trained_once` whose recorded corpus is this test's (the same text)."""
    run = tmp_path / "run"
    shutil.copytree(trained_once, run)
    config = json.loads((run / "config.json").read_text())
    config["corpus"]["path"] = str(tiny_corpus)
    (run / "config.json").write_text(json.dumps(config, indent=1))
    return run


def checkpoint_file(run: Path, name: str = "last.params") -> Path:
    """A file of the run's committed checkpoint (state.json names its folder)."""
    state = json.loads((run / "state.json").read_text())
    return run / state["checkpoint"]["folder"] / name


def last_weights(run: Path) -> dict:
    import mxnet as mx

    return {k: v.asnumpy() for k, v in mx.nd.load(str(checkpoint_file(run))).items()}


# -- a real browser ---------------------------------------------------------------------------

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")


@pytest.fixture
def browser(tmp_path):
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        missing = ("Debian's chromium and chromium-driver are not installed "
                   "(apt-get install chromium chromium-driver)")
        if os.environ.get("CI"):  # .ci/run installs them: there, their absence is a failure
            pytest.fail(missing)
        pytest.skip(missing)
    webdriver = pytest.importorskip("selenium.webdriver")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--window-size=1000,1300",
                 f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=webdriver.ChromeService(str(CHROMEDRIVER)),
                              options=options)
    yield driver
    driver.quit()
