"""Selection on the validation split: the ranking every exercise that picks a setting uses,
exercise 7's choice of each scheme's strength between its stages, and where a choice lies at
an end of the values tried."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from .endpoints import endpoints
from .io import atomic_write_text


def validation_ranking(ends: pd.DataFrame, by: str = "condition") -> pd.DataFrame:
    """Every setting (``by``) ranked for selection, best first, on the validation split only
    (STUDY.md, "Selection"): a setting with a run unstable at its endpoint or diverged ranks
    below every stable one, and its score is the mean validation endpoint over all its runs
    that have one (a diverged run has none), never over its stable survivors alone. Columns
    ``val``, ``stable`` (all its runs stable), ``runs``."""
    score = ends.groupby(by).agg(val=("val_endpoint", "mean"), stable=("stable", "all"),
                                 runs=("seed", "size"))
    return score.sort_values(["stable", "val"], ascending=[False, False], kind="stable")


def grid_end(tried, chosen: float) -> str:
    """ "largest" or "smallest" where ``chosen`` is an end of the values ``tried`` (at least
    two; numbers or their "%g" strings), "" inside them: a better value beyond those tried is
    then not excluded, which a report says beside the choice."""
    grid = sorted(float(x) for x in tried)
    if len(grid) < 2:
        return ""
    return "largest" if chosen == grid[-1] else "smallest" if chosen == grid[0] else ""


def select_strengths(metrics: pd.DataFrame, runs: pd.DataFrame, k: int) -> dict:
    """Per method, the strength ranked first by ``validation_ranking`` over the tuning
    seeds (the last k epochs' validation accuracy)."""
    ends = endpoints(metrics, runs, k)
    chosen = {}
    for method, g in ends.groupby("factor_method"):
        score = validation_ranking(g, "factor_strength")
        best = score.index[0]
        chosen[method] = {"rates": [float(best), float(best)], "strength": float(best),
                          "validation_accuracy": float(score.loc[best, "val"]),
                          "tried": {f"{s:g}": float(v)
                                    for s, v in score["val"].sort_index().items()}}
    return chosen


def run(job_dirs: list[str], out: Path, k: int) -> None:
    metrics = pd.concat([pd.read_parquet(Path(d) / "metrics.parquet") for d in job_dirs])
    runs = pd.concat([pd.read_parquet(Path(d) / "runs.parquet") for d in job_dirs])
    atomic_write_text(out, json.dumps(select_strengths(metrics, runs, k), indent=1))
