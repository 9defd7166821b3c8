"""Run directories survive kills, full disks and read-only folders without losing anything."""
from __future__ import annotations

import errno
import os
import random
import subprocess
import sys
import textwrap
from pathlib import Path

import mxnet as mx
import pytest

from charrnn.atomic import remove_stale_temporaries
from charrnn.checkpoint import RunDir
from charrnn.errors import CharrnnError
from charrnn.runs import load_trained

from .conftest import invoke

KILLS = 30

WRITER = textwrap.dedent("""
    import sys
    import mxnet as mx
    from charrnn.atomic import arrays_writer, json_writer
    from charrnn.checkpoint import RunDir
    from charrnn.config import ModelConfig
    from charrnn.runs import initialized_model

    run = RunDir(sys.argv[1])
    net = initialized_model(ModelConfig(vocab_size=60, hidden=96), [mx.cpu()], 0)
    extra = arrays_writer({"moment": mx.nd.ones((300, 300))})
    print("ready", flush=True)
    step = 0
    while True:
        step += 1
        run.save({"model.params": net.save_parameters, "last.params": net.save_parameters,
                  "trainer.states": extra, "state.json": json_writer({"step": step})})
""")


def loadable(path: Path) -> bool:
    try:
        return len(mx.nd.load(str(path))) > 0
    except mx.base.MXNetError:
        return False


def test_checkpoints_killed_mid_write_always_load(tmp_path):
    """SIGKILL a process that writes checkpoints in a loop, at random moments, many times."""
    run = tmp_path / "run"
    run.mkdir()
    rng = random.Random(0)
    for _ in range(KILLS):
        child = subprocess.Popen([sys.executable, "-c", WRITER, str(run)],
                                 stdout=subprocess.PIPE, text=True,
                                 env={**os.environ, "OMP_NUM_THREADS": "1"})
        assert child.stdout.readline().strip() == "ready"
        child.stdout.close()
        try:
            child.wait(timeout=rng.uniform(0.0, 0.25))
        except subprocess.TimeoutExpired:
            child.kill()
        child.wait()
        assert child.returncode == -9
        for name in ("model.params", "last.params", "trainer.states"):
            assert not (run / name).exists() or loadable(run / name), name
    assert loadable(run / "model.params")
    remove_stale_temporaries(run)
    assert not list(run.glob(".*"))


@pytest.fixture
def small_filesystem(tmp_path):
    """A real 1 MiB tmpfs (needs root, as on CI); skipped where mounting is not allowed."""
    mount = tmp_path / "fs"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=True)


def copy_run(source: Path, target: Path) -> None:
    target.mkdir()
    for f in source.iterdir():
        (target / f.name).write_bytes(f.read_bytes())


def snapshot(run: Path) -> dict:
    return {f.name: f.read_bytes() for f in run.iterdir()}


def test_a_full_disk_keeps_the_previous_checkpoint(trained_run, small_filesystem):
    run = small_filesystem / "run"
    copy_run(trained_run, run)
    before = snapshot(run)
    free = os.statvfs(small_filesystem).f_bavail * os.statvfs(small_filesystem).f_frsize
    with open(small_filesystem / "filler", "wb") as filler:
        filler.write(b"\0" * (free - 4096))
    model, _, _ = load_trained(run)
    expected = r"could not write .*model.params: .*incomplete \(\d+ KiB free"
    with pytest.raises(CharrnnError, match=expected):
        RunDir(run).save_params(model, "model.params")
    assert snapshot(run) == before


def test_a_read_only_directory_keeps_the_previous_checkpoint(trained_run, small_filesystem):
    run = small_filesystem / "run"
    copy_run(trained_run, run)
    before = snapshot(run)
    if os.geteuid() == 0:  # root ignores permission bits: make the filesystem read-only
        subprocess.run(["mount", "-o", "remount,ro", str(small_filesystem)], check=True)
    else:
        run.chmod(0o555)
    result = invoke("train", "--resume", run, "--epochs", "4")
    assert result.exit_code == 1
    assert "could not write" in result.output and "Read-only file system" in result.output
    assert "Traceback" not in result.output
    assert snapshot(run) == before


def test_a_failing_write_call_leaves_old_files_and_no_temporaries(trained_run, monkeypatch):
    run = RunDir(trained_run)
    before = snapshot(trained_run)
    original = Path.write_bytes

    def half_then_fail(self, data):
        original(self, data[:len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", half_then_fail)
    with pytest.raises(CharrnnError, match=r"could not write .*metrics.jsonl: No space left"):
        run.append_metrics({"epoch": 99})
    monkeypatch.undo()
    assert snapshot(trained_run) == before
