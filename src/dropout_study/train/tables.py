"""What a job writes: its tables (and weights) from the trainers of its models, its
``job.json``, or, for a job that failed its last attempt, empty tables that say so."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import torch

from ..device import device_name, versions
from ..environment import code_version
from ..io import atomic_write
from ..model import FORMAT as MODEL_FORMAT
from ..spec import JobSpec

if TYPE_CHECKING:
    from .trainer import Trainer


def write_job(spec: JobSpec, trainers: list[Trainer], out_dir: Path) -> None:
    """A job's tables (and weights, where it keeps them) from the trainers of its models: one
    trainer, or the parts of a pack that was halved (in order, covering every model once).
    Parts write what one pack would: their rows are put back in the pack's order (epoch, then
    model; probe step, then model, then layer)."""
    parts = [t.part for t in trainers]
    if [i for p in parts for i in p] != list(range(len(spec.models))):
        raise ValueError(f"job {spec.job}: parts {parts} do not cover its models in order")
    index = {(c.name, s): m for m, (c, s) in enumerate(spec.models)}
    runs = [r for t in trainers for r in t.run_rows()]
    rows = [r for t in trainers for r in t.state.rows]
    act_rows = [r for t in trainers for r in t.state.act_rows]
    if len(trainers) > 1:
        rows.sort(key=lambda r: (r["epoch"], index[(r["condition"], r["seed"])]))
        act_rows.sort(key=lambda r: (r["step"], index[(r["condition"], r["seed"])], r["layer"]))
    device = trainers[0].device
    meta = job_meta(spec, device_name(device), sum(t.state.train_seconds for t in trainers),
                    len(spec.models))
    runs_df = pd.DataFrame(runs)
    keys = runs_df[["condition", "seed", "experiment", "job"]]
    metrics = pd.DataFrame(rows).merge(keys, on=["condition", "seed"])
    if spec.conditions[0].save_weights:
        states = [t.model.state_dict() for t in trainers]
        state = {k: torch.cat([s[k] for s in states]) for k in states[0]}
        atomic_write(out_dir / "weights.pt", lambda tmp: torch.save(
            {"state": state, "format": MODEL_FORMAT, "models": runs,
             "noise": spec.conditions[0].noise, "hidden": spec.conditions[0].hidden}, tmp))
    acts = (pd.DataFrame(act_rows).merge(keys, on=["condition", "seed"])
            if act_rows else pd.DataFrame())  # only exercise 3's jobs take probes
    atomic_write(out_dir / "activations.parquet",
                 lambda tmp: acts.to_parquet(tmp, index=False))
    atomic_write(out_dir / "runs.parquet", lambda tmp: runs_df.to_parquet(tmp, index=False))
    atomic_write(out_dir / "job.json",
                 lambda tmp: Path(tmp).write_text(json.dumps(meta, indent=1)))
    # metrics last: its presence means the job is complete
    atomic_write(out_dir / "metrics.parquet", lambda tmp: metrics.to_parquet(tmp, index=False))


def job_meta(spec: JobSpec, device: str | None, train_seconds: float, models: int,
             failed: dict | None = None) -> dict:
    """A job's ``job.json``: where and with what it ran (the key versions, and the whole
    environment and machine: ``environment.record``), and what failed if it was marked."""
    from ..environment import record

    return {"device": device, "versions": versions(), "code_version": code_version(),
            "train_seconds": train_seconds, "models": models,
            "spec": json.loads(spec.to_json()), "failed": failed} | record()


def mark_failed(spec: JobSpec, out_dir: Path, exc: BaseException, attempt: int = 1) -> None:
    """Record a job that failed its last attempt: ``job.json`` says what failed and why, and
    empty tables (and an empty weights file where the job keeps weights) stand in for its
    results, so that the study's report is built and names the job instead of stopping."""
    import traceback

    out_dir = Path(out_dir)
    failed = {"experiment": spec.experiment, "job": spec.job,
              "conditions": [c.name for c in spec.conditions], "seeds": spec.seeds,
              "error": f"{type(exc).__name__}: {exc}", "attempt": attempt,
              "traceback": traceback.format_exception(exc)[-6:]}
    meta = job_meta(spec, None, 0.0, 0, failed)
    empty = pd.DataFrame()
    for name in ("runs", "activations", "metrics"):
        atomic_write(out_dir / f"{name}.parquet",
                     lambda tmp: empty.to_parquet(tmp, index=False))
    if spec.conditions[0].save_weights:
        atomic_write(out_dir / "weights.pt", lambda tmp: torch.save(
            {"state": {}, "format": MODEL_FORMAT, "models": [], "failed": True}, tmp))
    atomic_write(out_dir / "job.json", lambda tmp: Path(tmp).write_text(json.dumps(meta, indent=1)))
