"""A pack of a job's models trained at once, halved (recursively, down to one model) where it
runs out of GPU memory: each model's numbers come from its own streams, so the halves train
what the pack would."""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from ..spec import JobSpec
from .trainer import DeviceData, Trainer

log = logging.getLogger(__name__)


def train_pack(spec: JobSpec, data: DeviceData, device: torch.device, out_dir: Path,
               progress: bool = False, part: range | None = None) -> list[Trainer]:
    """Train ``part`` of a job's models (default: all) as one pack; a pack that runs out of
    GPU memory is trained in two halves instead, each halved again if it must, down to one
    model (which then fails as it would alone). Returns the trainers, in model order.

    Each model's numbers come from its own seed's streams, so the halves train what the pack
    would have: bit for bit on a CPU; on a GPU up to the rounding of GEMMs of another batch
    count (cuBLAS may pick another kernel)."""
    part = range(len(spec.models)) if part is None else part
    trainer = None
    try:
        trainer = Trainer(spec, data, device, part)
        trainer.fit(out_dir, progress)
        return [trainer]
    except torch.cuda.OutOfMemoryError as exc:
        if len(part) < 2:
            raise
        reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else "no details"
    trainer = None  # free the pack (and the exception's frames, gone with it) before halving
    import gc

    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
    half = (len(part) + 1) // 2
    first, second = part[:half], part[half:]
    log.warning("%s/%s: out of GPU memory training %d models at once (%s); halved: models "
                "%d-%d, then %d-%d", spec.experiment, spec.job, len(part), reason,
                first.start, first.stop - 1, second.start, second.stop - 1)
    return (train_pack(spec, data, device, out_dir, progress, first)
            + train_pack(spec, data, device, out_dir, progress, second))
