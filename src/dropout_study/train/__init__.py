"""Train one job: a block of (condition, seed) models as one batched model.

Everything lives on the device: the data set, the stacked weights, the per-model
hyper-parameters. The inner loop makes no host-device copies; divergence is checked once per
epoch. Each model's init, minibatch order and noise come from its own streams (``rng``), so a
model's numbers do not depend on the rest of its batch.

That is also what lets a job that runs out of GPU memory train its models in two halves
(``train_pack``, recursively down to one model) and still write the tables one pack would. On
CUDA a job first claims a GPU of its own (``device.claimed``).
"""

from __future__ import annotations

from .job import apply_selection, run_job
from .packs import train_pack
from .tables import job_meta, mark_failed, write_job
from .trainer import (
    FAKE_OOM,
    DeviceData,
    Split,
    Trainer,
    TrainState,
    activation_stats,
    evaluate,
)

__all__ = ["FAKE_OOM", "DeviceData", "Split", "TrainState", "Trainer", "activation_stats",
           "apply_selection", "evaluate", "job_meta", "mark_failed", "run_job", "train_pack",
           "write_job"]
