"""The study's tidy tables, loaded once, and the per-run endpoints every exercise starts from."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

RUN_KEYS = ["experiment", "condition", "seed"]


@dataclass
class Results:
    metrics: pd.DataFrame
    runs: pd.DataFrame
    activations: pd.DataFrame
    jobs: list[dict]
    cfg: dict
    extra: dict[str, pd.DataFrame] = field(default_factory=dict)  # evaluation-only tables
    failed: list[dict] = field(default_factory=list)  # jobs marked failed (--keep-going)
    endpoints: pd.DataFrame = field(init=False)

    def __post_init__(self) -> None:
        self.endpoints = endpoints(self.metrics, self.runs, self.k)
        # A diverged model is parked at zero and has no activation statistics from its
        # divergence on (NaN rows, dropped here); its rows before that are kept.
        if not self.activations.empty:
            self.activations = self.activations.dropna(subset=["var_pre", "var_eval"])

    @property
    def k(self) -> int:
        return self.cfg["analysis"].get("endpoint_epochs", 3)

    @property
    def level(self) -> float:
        return self.cfg["analysis"].get("confidence", 0.95)

    @classmethod
    def load(cls, results_dir: Path, cfg: dict) -> Results:
        def read(name: str) -> pd.DataFrame:
            return pd.read_parquet(results_dir / f"{name}.parquet")

        jobs = json.loads((results_dir / "jobs.json").read_text())
        extra = {name: read(name) for name in ("test_time", "test_time_models")
                 if (results_dir / f"{name}.parquet").exists()}
        failed_path = results_dir / "failed_jobs.json"
        failed = json.loads(failed_path.read_text()) if failed_path.exists() else []
        return cls(read("metrics"), read("runs"), read("activations"), jobs, cfg, extra, failed)

    def has(self, experiment: str) -> bool:
        if experiment in self.extra:
            return not self.extra[experiment].empty
        return not self.runs.empty and (self.runs["experiment"] == experiment).any()

    def ends(self, experiment: str) -> pd.DataFrame:
        return self.endpoints[self.endpoints["experiment"] == experiment]


def endpoints(metrics: pd.DataFrame, runs: pd.DataFrame, k: int) -> pd.DataFrame:
    """One row per run: the headline endpoint (test accuracy averaged over the last k epochs)
    and the numbers beside it. A diverged run keeps NaN where it has no value (never a
    placeholder number) and is counted, not dropped; ``stable`` says whether it may enter a
    primary comparison."""
    if metrics.empty:
        return pd.DataFrame()
    rows = []
    for (exp, cond, seed), g in metrics.groupby(RUN_KEYS, sort=False):
        g = g.sort_values("epoch")
        last = g.tail(k)
        has_val = g["val_acc"].notna().any()
        best = g.loc[g["val_acc"].idxmax()] if has_val else None
        losses_ok = g["test_loss"].notna().all()
        rows.append({
            "experiment": exp, "condition": cond, "seed": seed,
            "endpoint": last["test_acc"].mean(skipna=False),
            "last": g["test_acc"].iloc[-1],
            "val_endpoint": last["val_acc"].mean(skipna=False),
            "gap": (last["train_eval_acc"] - last["test_acc"]).mean(skipna=False),
            "best_epoch": float(best["epoch"]) if best is not None else np.nan,
            "at_best_val": float(best["test_acc"]) if best is not None else np.nan,
            "test_loss_min": g["test_loss"].min(skipna=False),
            "test_loss_min_epoch": float(g.loc[g["test_loss"].idxmin(), "epoch"])
            if losses_ok else np.nan,
            "overfit": g["test_loss"].iloc[-1] - g["test_loss"].min(skipna=False),
            "diverged": bool(g["diverged"].any()),
        })
    out = pd.DataFrame(rows)
    out["stable"] = ~out["diverged"]
    return out.merge(runs.drop(columns=["diverged"]), on=RUN_KEYS)


def by_seed(ends: pd.DataFrame, condition: str, column: str = "endpoint") -> pd.Series:
    """One condition's values of ``column``, indexed by seed."""
    g = ends[ends["condition"] == condition]
    return g.set_index("seed")[column].sort_index()
