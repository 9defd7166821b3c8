"""Run directories survive full disks, read-only folders and failing writes without losing
anything (kills: see test_exact_resume.py)."""
from __future__ import annotations

import errno
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from charrnn.errors import CharrnnError
from charrnn.runs.loading import load_trained
from charrnn.runs.rundir import RunDir

from .conftest import invoke


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
    shutil.copytree(source, target)


def snapshot(run: Path) -> dict:
    return {str(f.relative_to(run)): f.read_bytes() for f in run.rglob("*") if f.is_file()}


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
