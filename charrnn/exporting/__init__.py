"""Taking a model out of MXNet (`charrnn export`, `Model.export`): an ONNX step graph
(onnx_graph.py), PyTorch's layout in a safetensors file (layout.py) and one web page that
generates offline (page.py), written together into one folder: a temporary folder beside it,
renamed into place, so an export is whole or absent.

May import: charrnn.errors, models, runs, and inside's report (the page's look).
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Sequence

from charrnn.errors import CharrnnError, UsageError
from charrnn.exporting.layout import torch_weights
from charrnn.exporting.onnx_graph import onnx_model
from charrnn.exporting.page import page_html
from charrnn.runs.rundir import CONFIG

__all__ = ["FILES", "FORMATS", "export"]

FORMATS = ("onnx", "safetensors", "html")
FILES = {"onnx": "model.onnx", "safetensors": "model.safetensors", "html": "model.html"}


def export(model, out: Path, formats: Sequence[str] = FORMATS,
           overwrite: bool = False) -> list[Path]:
    """Write `model` (a charrnn.Model) into the folder `out` in each of `formats`, with
    vocab.json and config.json beside them; the files written."""
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise UsageError(f"unknown format {', '.join(unknown) or 'none'}: choose from "
                         f"{', '.join(FORMATS)}.")
    out = Path(out)
    if out.exists() and not overwrite:
        raise UsageError(f"{out} already exists: choose another folder, or pass --overwrite "
                         "(overwrite=True) to replace it.")
    settings = model.run.read_json(CONFIG)
    config, vocab = settings["model"], list(model.vocab.chars)
    weights = torch_weights(model.network)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        (staging / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False) + "\n",
                                            encoding="utf-8")
        (staging / CONFIG).write_text(json.dumps(settings, indent=1) + "\n",
                                             encoding="utf-8")
        if "onnx" in formats:
            _require("onnx")
            graph = onnx_model(weights, config, vocab, config["layers"])
            (staging / FILES["onnx"]).write_bytes(graph.SerializeToString())
        if "safetensors" in formats:
            _require("safetensors")
            from safetensors.numpy import save_file

            save_file(weights, str(staging / FILES["safetensors"]),
                      metadata={"charrnn_config": json.dumps(config),
                                "vocab": json.dumps(vocab, ensure_ascii=False),
                                "format": "pt"})
        if "html" in formats:
            (staging / FILES["html"]).write_text(
                page_html(weights, config, vocab, f"charrnn: {model.name}"), encoding="utf-8")
        for path in staging.iterdir():
            with open(path, "rb") as f:
                os.fsync(f.fileno())
        _replace(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return sorted(out.iterdir())


def _replace(staging: Path, out: Path) -> None:
    """`staging` becomes `out`; an old `out` is moved aside first and removed after."""
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        out.rename(old)
    staging.rename(out)
    if old is not None:
        shutil.rmtree(old)


def _require(module: str) -> None:
    try:
        __import__(module)
    except ImportError:
        raise CharrnnError(f"exporting needs the export extra ({module} is missing): pip "
                           "install 'charrnn[export]'.") from None
