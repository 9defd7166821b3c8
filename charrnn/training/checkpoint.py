"""The resumable checkpoint: latest weights, optimizer state, carried hidden state, progress;
saved and restored here (the training loop calls `save` and `restore`).

Its array files go into a fresh folder, checkpoints/<step>-<tag>/, and are fsynced; then
state.json, which holds the progress and names each file with its sha256, replaces the old
one in a single rename. That rename is the commit: a kill at any instant leaves state.json
naming either the whole old set or the whole new set, and loading verifies every file against
it. The set before the latest is kept as well, so a reader that has just read state.json
still finds its files.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import uuid
from pathlib import Path
from typing import Any, Callable, Dict

import mxnet as mx
from mxnet import gluon

from charrnn.errors import CharrnnError, reason
from charrnn.machine.atomic import Writer, arrays_writer, json_writer
from charrnn.machine.distributed import Workers
from charrnn.models import State
from charrnn.runs.rundir import CHECKPOINTS, STATE, RunDir
from charrnn.training.progress import Progress
from charrnn.training.trainer_state import TrainerState

WEIGHTS = "last.params"
OPTIMIZER = "trainer.states"
HIDDEN = "hidden.params"


def save(run: RunDir, progress: Progress, model: gluon.Block, trainer: TrainerState,
         hidden: list[State], contexts: list[mx.Context], workers: Workers) -> None:
    """Commit the latest weights, the optimizer state, every worker's carried state and the
    progress as one set. Every worker calls this together; worker 0 writes it."""
    carried = workers.gather_columns(gather_hidden(hidden))
    if not workers.chief:
        return
    commit(run, progress, {"optimizer_counts": trainer.counts(),
                           "devices": len(contexts) * workers.count},
           {WEIGHTS: model.save_parameters, OPTIMIZER: arrays_writer(trainer.arrays()),
            HIDDEN: arrays_writer(hidden_arrays(carried))})


def restore(run: RunDir, model: gluon.Block, trainer: TrainerState, fresh: list[State],
            contexts: list[mx.Context], workers: Workers,
            note: Callable[[str], None]) -> list[State]:
    """Load the committed weights and optimizer state; return this worker's carried state
    (`fresh`: a zero state of the right shapes, to check the saved one against)."""
    _, state, folder = load(run)
    devices = len(contexts) * workers.count
    if workers.chief and state.get("devices", devices) != devices:
        note(f"the run was trained on {state['devices']} device(s) and now continues on "
             f"{devices}: dropout masks are drawn per device, so it goes on well but not bit "
             "for bit as it would have.")
    run.load_params(model, folder / WEIGHTS, contexts)
    arrays = load_arrays(folder / OPTIMIZER)
    trainer.check(arrays, folder / OPTIMIZER)
    trainer.restore(arrays, state.get("optimizer_counts", {}), contexts)
    carried = hidden_list(load_arrays(folder / HIDDEN))
    expected = [(*a.shape[:1], a.shape[1] * workers.count, *a.shape[2:])
                for a in gather_hidden(fresh)]
    if [a.shape for a in carried] != expected:
        raise CharrnnError(f"{folder / HIDDEN} holds states of shapes "
                           f"{[a.shape for a in carried]}, not {expected}: the checkpoint does "
                           "not belong to this run.")
    return scatter_hidden(workers.own_columns(carried), contexts)


def commit(run: RunDir, progress: Progress, extra: dict[str, Any],
           files: Dict[str, Writer]) -> None:
    """Write `files` as a new checkpoint folder, then switch state.json to it."""
    folder = Path(CHECKPOINTS) / f"{progress.step:09d}-{uuid.uuid4().hex[:8]}"
    (run.path / folder).mkdir(parents=True)
    checksums = {}
    try:
        for name, write in files.items():
            path = run.path / folder / name
            write(str(path))
            with open(path, "rb+") as f:
                os.fsync(f.fileno())
            checksums[name] = _sha256(path)
        _fsync_directory(run.path / folder)
        _fsync_directory(run.path / CHECKPOINTS)
    except (OSError, mx.base.MXNetError) as error:
        shutil.rmtree(run.path / folder, ignore_errors=True)
        raise CharrnnError(f"could not write the checkpoint in {run.path / folder}: "
                           f"{reason(error)}. The previous checkpoint is untouched; free some "
                           "space or choose another --out.") from None
    previous = _committed_folder(run)
    run.save({STATE: json_writer({**progress.as_dict(), **extra, "checkpoint": {
        "folder": folder.as_posix(), "files": checksums}})})
    keep = {folder.name, previous}
    for old in (run.path / CHECKPOINTS).iterdir():
        if old.name not in keep:
            shutil.rmtree(old, ignore_errors=True)


def load(run: RunDir) -> tuple[Progress, dict[str, Any], Path]:
    """The committed progress, the rest of state.json, and the verified checkpoint folder."""
    state = run.read_json(STATE)
    source = str(run.file(STATE))
    progress = Progress.from_dict(state, source)
    entry = state.get("checkpoint")
    if not isinstance(entry, dict) or not isinstance(entry.get("files"), dict):
        raise CharrnnError(f"{source} names no checkpoint: the run directory was written by an "
                           "older charrnn or is damaged; start a new run.")
    folder = (run.path / str(entry.get("folder", ""))).resolve()
    if run.path.resolve() / CHECKPOINTS not in folder.parents:
        raise CharrnnError(f"{source} points outside {run.path / CHECKPOINTS}.")
    for name in (WEIGHTS, OPTIMIZER, HIDDEN):
        path = folder / name
        if not path.is_file():
            raise CharrnnError(f"{path} is missing: the checkpoint is damaged.")
        if _sha256(path) != entry["files"].get(name):
            raise CharrnnError(f"{path} is damaged: its checksum differs from the one "
                               f"{STATE} recorded when it was written.")
    return progress, state, folder


def _committed_folder(run: RunDir) -> str | None:
    try:
        return Path(run.read_json(STATE)["checkpoint"]["folder"]).name
    except (CharrnnError, KeyError, TypeError):
        return None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fsync_directory(path: Path) -> None:
    handle = os.open(path, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


def load_arrays(path: Path) -> dict[str, mx.nd.NDArray]:
    try:
        arrays = mx.nd.load(str(path))
    except (OSError, mx.base.MXNetError, ValueError) as error:
        raise CharrnnError(f"{path} is corrupt or truncated ({reason(error)}).") from None
    if arrays == []:  # what mx.nd.save writes for no arrays reads back as a list
        arrays = {}
    if not isinstance(arrays, dict):
        raise CharrnnError(f"{path} does not hold named arrays.")
    return arrays


# -- the carried hidden state ---------------------------------------------------------------

def gather_hidden(hidden: list[State]) -> list[mx.nd.NDArray]:
    """The carried state of all devices, joined along the batch axis (axis 1 for every model)."""
    return [mx.nd.concat(*[h[k].as_in_context(mx.cpu()) for h in hidden], dim=1)
            for k in range(len(hidden[0]))]


def scatter_hidden(arrays: list[mx.nd.NDArray], contexts: list[mx.Context]) -> list[State]:
    parts = [gluon.utils.split_and_load(array, contexts, batch_axis=1) for array in arrays]
    return [[part[d] for part in parts] for d in range(len(contexts))]


def hidden_arrays(arrays: list[mx.nd.NDArray]) -> dict[str, mx.nd.NDArray]:
    return {str(k): array for k, array in enumerate(arrays)}


def hidden_list(arrays: dict[str, mx.nd.NDArray]) -> list[mx.nd.NDArray]:
    return [arrays[str(k)] for k in range(len(arrays))]
