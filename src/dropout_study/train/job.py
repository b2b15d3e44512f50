"""One job from its spec: the strengths an earlier stage selected, a GPU of its own (the
device's lock: ``device.claimed``), its pack trained and its tables written."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

from ..data import FashionMNIST
from ..device import claimed, resolve_device, set_determinism
from ..spec import JobSpec
from .packs import train_pack
from .tables import write_job
from .trainer import DeviceData

log = logging.getLogger(__name__)


def apply_selection(spec: JobSpec) -> JobSpec:
    """Give the conditions the rates an earlier (validation) stage selected for them."""
    import dataclasses

    if not spec.rates_from:
        return spec
    chosen = json.loads(Path(spec.rates_from).read_text())
    unknown = [c.name for c in spec.conditions if c.name not in chosen]
    if unknown:  # e.g. its tuning job failed: training with a default strength would mislead
        raise RuntimeError(f"{spec.rates_from} selects no strength for {', '.join(unknown)}")
    spec.conditions = [dataclasses.replace(c, rates=tuple(chosen[c.name]["rates"]),
                                           factors=_chosen_factors(c.factors, chosen[c.name]))
                       for c in spec.conditions]
    return spec


def _chosen_factors(factors: tuple, chosen: dict) -> tuple:
    """A condition's labels with the selected strength in place of the config's placeholder
    (the runs table's ``factor_strength`` is then the strength the runs trained with)."""
    return tuple((k, chosen["strength"]) if k == "strength" and "strength" in chosen else (k, v)
                 for k, v in factors)


def run_job(spec: JobSpec, out_dir: str | Path, progress: bool | None = None) -> None:
    """Train a job and write its tables: on CUDA on a GPU it claims for itself, in halves if
    its pack does not fit (``train_pack``)."""
    spec = apply_selection(spec)
    set_determinism(spec.deterministic)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if progress is None:
        progress = sys.stderr.isatty()
    with claimed(resolve_device(spec.device), log=log.info) as device:
        data = DeviceData.from_dataset(FashionMNIST.load(spec.data_path), device)
        trainers = train_pack(spec, data, device, out_dir, progress)
        write_job(spec, trainers, out_dir)
    for ckpt in out_dir.glob("checkpoint*.pt"):  # the pack's, and any part's
        ckpt.unlink(missing_ok=True)
