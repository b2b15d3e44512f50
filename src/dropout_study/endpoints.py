"""The per-run endpoints every exercise starts from, from the tidy tables of its runs (below the
loaded ``Results``, which need the plan, so that what ranks runs by them needs neither)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .instability import instability

RUN_KEYS = ["experiment", "condition", "seed"]


def endpoints(metrics: pd.DataFrame, runs: pd.DataFrame, k: int) -> pd.DataFrame:
    """One row per run: the headline endpoint (test accuracy averaged over the last k epochs) and
    the numbers beside it; the test loss's rise above its minimum likewise over the last k
    epochs (at each, above its lowest value up to there: 0 while it still falls). A diverged
    run keeps NaN where it has no value (never a stand-in number) and is counted, not dropped.
    ``stable`` says whether it may enter a primary comparison: neither diverged nor unstable at
    its endpoint by the rule of ``instability`` (its epoch and reason are in ``unstable_epoch``
    and ``unstable_reason``; a transient collapse, which keeps the run in, in ``collapse``)."""
    if metrics.empty:
        return pd.DataFrame()
    m = metrics.sort_values(RUN_KEYS + ["epoch"], kind="stable").reset_index(drop=True)
    m = m.assign(gap=m["train_eval_acc"] - m["test_acc"])
    # the test loss above its lowest value so far, per epoch: 0 while it still falls (referee,
    # full study: the rise was read at the last epoch alone, not over the endpoint window)
    m["above_min"] = m["test_loss"] - m.groupby(RUN_KEYS, sort=False)["test_loss"].cummin()
    g = m.groupby(RUN_KEYS, sort=False)

    def strict_mean(frame: pd.DataFrame, col: str) -> pd.Series:
        """The mean per run, NaN if any of its values is NaN (a run that did not finish)."""
        by = frame.groupby(RUN_KEYS, sort=False)[col]
        return by.mean().where(~frame[col].isna().groupby(
            [frame[c] for c in RUN_KEYS], sort=False).any())

    tail = g.tail(k)
    last = g.tail(1).set_index(RUN_KEYS)
    out = pd.DataFrame({
        "endpoint": strict_mean(tail, "test_acc"),
        "last": last["test_acc"],
        "val_endpoint": strict_mean(tail, "val_acc"),
        "gap": strict_mean(tail, "gap"),
    })
    with_val = m.dropna(subset=["val_acc"])
    best = with_val.loc[with_val.groupby(RUN_KEYS, sort=False)["val_acc"].idxmax()]
    best = best.set_index(RUN_KEYS)
    out["best_epoch"] = best["epoch"].astype(float)
    out["at_best_val"] = best["test_acc"]
    out["best_val"] = best["val_acc"]  # the run's best validation accuracy, at any epoch
    complete = ~m["test_loss"].isna().groupby([m[c] for c in RUN_KEYS], sort=False).any()
    loss_min = g["test_loss"].min().where(complete)
    at_min = m.loc[m.dropna(subset=["test_loss"]).groupby(RUN_KEYS, sort=False)["test_loss"]
                   .idxmin()].set_index(RUN_KEYS)["epoch"].astype(float)
    out["test_loss_min"] = loss_min
    out["test_loss_min_epoch"] = at_min.where(complete)
    # the rise over the endpoint window (the headline), and at the last epoch beside it
    out["overfit"] = strict_mean(tail, "above_min").where(complete)
    out["overfit_last"] = last["test_loss"] - loss_min
    out["diverged"] = g["diverged"].any().astype(bool)
    out = out.reset_index().merge(instability(metrics, k), on=RUN_KEYS)
    out["stable"] = ~out["unstable"].astype(bool)
    return out.merge(runs.drop(columns=["diverged"]), on=RUN_KEYS)


def by_seed(ends: pd.DataFrame, condition: str, column: str = "endpoint") -> pd.Series:
    """One condition's values of ``column``, indexed by seed."""
    g = ends[ends["condition"] == condition]
    return g.set_index("seed")[column].sort_index()


def repeats(metrics: pd.DataFrame) -> dict:
    """Runs that repeat another one bit for bit: the same training-loss and validation
    trajectory to the last digit (a condition that several experiments need, trained for each
    with the same seed and streams). ``runs`` in all, ``distinct`` trajectories, ``repeated``
    runs beyond the first of their kind, and ``sets``: the conditions whose runs coincide,
    "experiment condition" joined by " = ", with the number of seeds at which they do, the
    largest first."""
    if metrics.empty:
        return {"runs": 0, "distinct": 0, "repeated": 0, "sets": []}
    trace = _traces(metrics)
    seeds: dict[str, int] = {}
    for idx in trace.groupby(trace).groups.values():
        if len(idx) > 1:
            same = " = ".join(sorted({f"{e} {c}" for e, c, _ in idx}))
            seeds[same] = seeds.get(same, 0) + 1
    sets = [{"members": k, "seeds": n} for k, n in
            sorted(seeds.items(), key=lambda kv: (-kv[0].count(" = "), kv[0]))]
    return {"runs": len(trace), "distinct": trace.nunique(),
            "repeated": len(trace) - trace.nunique(), "sets": sets}


def distinct(metrics: pd.DataFrame) -> pd.DataFrame:
    """``metrics`` with one run of each group of runs that repeat another bit for bit
    (``repeats``): the first in experiment, condition and seed order. Counts over runs count
    a run once however many experiments trained it (referee read 6)."""
    if metrics.empty:
        return metrics
    trace = _traces(metrics)
    keep = trace[~trace.duplicated()].index
    return metrics.set_index(RUN_KEYS).loc[keep].reset_index()


def _traces(metrics: pd.DataFrame) -> pd.Series:
    """Per run (``RUN_KEYS``, in order), its training-loss and validation trajectory: runs
    whose trajectories are equal repeat one another."""
    m = metrics.sort_values(RUN_KEYS + ["epoch"], kind="stable")

    def trace(g: pd.DataFrame) -> tuple:
        t = tuple(g["train_loss"].round(12)) + tuple(g["val_acc"].round(12))
        # a trajectory with a missing value (a diverged run's NaN) repeats nothing: its own run
        # keeps it apart (referee, full study: 12 diverged runs counted as 11 repeats)
        return t if np.isfinite(np.asarray(t, dtype=float)).all() else t + (g.name,)

    return m.groupby(RUN_KEYS, sort=False).apply(trace, include_groups=False)
