"""A worker of a test job: trains through charrnn's own loop, then saves what it ended with.

Run by tests/test_distributed.py through `charrnn launch`; argv: corpus, output folder,
batch size per worker, steps, and optionally a JSON object of further TrainConfig settings.
"""
import json
import os
import sys
from pathlib import Path

# isort: off
import charrnn  # noqa: F401  (before MXNet: its threads, and the NumPy names it reads)
import mxnet as mx
# isort: on

from charrnn.config import ModelConfig, TrainConfig
from charrnn.machine.distributed import Workers, create_kvstore
from charrnn.training.lifecycle import start_run
from charrnn.training.loop import TrainingLoop

corpus, out, batch, steps = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
settings = {"lr": 0.01, **json.loads(sys.argv[5] if len(sys.argv) > 5 else "{}")}
workers = Workers(create_kvstore("dist_sync"))
(out / f"worker-{workers.rank}.pid").write_text(str(os.getpid()))
config = TrainConfig(batch_size=batch, seq_len=20, max_steps=steps, log_interval=5, **settings)
run, data, model, progress = start_run(corpus, ModelConfig(hidden=32, embed=16, dropout=0.0),
                                       config, out / "run", False, "utf-8", [mx.cpu()],
                                       create=workers.chief)
TrainingLoop(model, data, config, [mx.cpu()], run, progress, workers=workers).run()
model.save_parameters(str(out / f"worker-{workers.rank}.params"))
(out / f"worker-{workers.rank}.json").write_text(json.dumps(progress.as_dict()))
