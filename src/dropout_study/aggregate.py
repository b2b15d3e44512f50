"""Gather every job's tidy tables into the study's tables under ``results/``, and the
environment and machine the jobs recorded into ``environment.lock`` and ``machine.json``."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from . import environment
from .io import atomic_write


def aggregate(job_dirs: list[str | Path], out_dir: str | Path) -> dict[str, int]:
    out_dir = Path(out_dir)
    tables: dict[str, list[pd.DataFrame]] = {"metrics": [], "runs": [], "activations": []}
    jobs, failed = [], []
    for d in map(Path, job_dirs):
        meta = json.loads((d / "job.json").read_text()) | {"dir": str(d)}
        if meta.get("failed"):  # failed its last attempt and marked (on_failure: mark)
            failed.append(meta["failed"] | {"dir": str(d)})
            continue
        jobs.append(meta)
        for name in tables:
            df = pd.read_parquet(d / f"{name}.parquet")
            if not df.empty:
                tables[name].append(df)
    counts = {}
    for name, frames in tables.items():
        df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
        if not df.empty:
            keys = [k for k in ("experiment", "condition", "seed", "epoch", "step", "layer")
                    if k in df.columns]
            df = df.sort_values(keys, kind="stable").reset_index(drop=True)
        atomic_write(out_dir / f"{name}.parquet",
                     lambda tmp, df=df: df.to_parquet(tmp, index=False))
        counts[name] = len(df)
    jobs = environment.write(jobs, out_dir)  # each job's record: its number in those files
    atomic_write(out_dir / "jobs.json",
                 lambda tmp: Path(tmp).write_text(json.dumps(jobs, indent=1)))
    atomic_write(out_dir / "failed_jobs.json",
                 lambda tmp: Path(tmp).write_text(json.dumps(failed, indent=1)))
    counts["failed_jobs"] = len(failed)
    return counts
