"""Exercise 7, between the stages: each scheme's strength, chosen on the validation split."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from .io import atomic_write_text
from .results import endpoints


def select_strengths(metrics: pd.DataFrame, runs: pd.DataFrame, k: int) -> dict:
    """Per method, the strength with the best mean validation accuracy (last k epochs) over
    the tuning seeds. A setting where any tuning run is unstable (diverged or collapsed, by
    the rule of ``instability``) ranks below every stable one."""
    ends = endpoints(metrics, runs, k)
    chosen = {}
    for method, g in ends.groupby("factor_method"):
        score = g.groupby("factor_strength").agg(val=("val_endpoint", "mean"),
                                                 stable=("stable", "all"))
        best = score.sort_values(["stable", "val"], ascending=False).index[0]
        chosen[method] = {"rates": [float(best), float(best)], "strength": float(best),
                          "validation_accuracy": float(score.loc[best, "val"]),
                          "tried": {f"{s:g}": float(v) for s, v in score["val"].items()}}
    return chosen


def run(job_dirs: list[str], out: Path, k: int) -> None:
    metrics = pd.concat([pd.read_parquet(Path(d) / "metrics.parquet") for d in job_dirs])
    runs = pd.concat([pd.read_parquet(Path(d) / "runs.parquet") for d in job_dirs])
    atomic_write_text(out, json.dumps(select_strengths(metrics, runs, k), indent=1))
