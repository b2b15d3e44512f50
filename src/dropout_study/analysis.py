"""Per exercise, the numbers the report states: tables with CIs and the sentences they support.

Each ``exercise_K(results)`` returns a plain dict for its template; nothing here draws or
writes files. Run-level endpoints come from ``endpoints``; intervals from ``stats``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from . import stats
from .stats import Estimate


@dataclass
class Results:
    metrics: pd.DataFrame
    runs: pd.DataFrame
    activations: pd.DataFrame
    jobs: list[dict]
    cfg: dict
    endpoints: pd.DataFrame = field(init=False)

    def __post_init__(self) -> None:
        self.endpoints = endpoints(self.metrics, self.runs, self.k)

    @property
    def k(self) -> int:
        return self.cfg["analysis"].get("endpoint_epochs", 3)

    @property
    def level(self) -> float:
        return self.cfg["analysis"].get("confidence", 0.95)

    @classmethod
    def load(cls, results_dir: Path, cfg: dict) -> Results:
        read = lambda n: pd.read_parquet(results_dir / f"{n}.parquet")  # noqa: E731
        jobs = json.loads((results_dir / "jobs.json").read_text())
        return cls(read("metrics"), read("runs"), read("activations"), jobs, cfg)

    def has(self, experiment: str) -> bool:
        return not self.runs.empty and (self.runs["experiment"] == experiment).any()

    def ends(self, experiment: str) -> pd.DataFrame:
        return self.endpoints[self.endpoints["experiment"] == experiment]


def endpoints(metrics: pd.DataFrame, runs: pd.DataFrame, k: int) -> pd.DataFrame:
    """One row per run: the headline endpoint (test accuracy averaged over the last k epochs)
    and the numbers beside it. Diverged runs keep NaN endpoints and are counted, not dropped."""
    if metrics.empty:
        return pd.DataFrame()
    rows = []
    for (exp, cond, seed), g in metrics.groupby(["experiment", "condition", "seed"], sort=False):
        g = g.sort_values("epoch")
        last = g.tail(k)
        best = g.loc[g["val_acc"].idxmax()] if g["val_acc"].notna().any() else None
        rows.append({
            "experiment": exp, "condition": cond, "seed": seed,
            "endpoint": last["test_acc"].mean(skipna=False),
            "last": g["test_acc"].iloc[-1],
            "val_endpoint": last["val_acc"].mean(skipna=False),
            "gap": (last["train_eval_acc"] - last["test_acc"]).mean(skipna=False),
            "best_epoch": int(best["epoch"]) if best is not None else -1,
            "at_best_val": best["test_acc"] if best is not None else math.nan,
            "test_loss_min": g["test_loss"].min(skipna=False),
            "test_loss_min_epoch": int(g.loc[g["test_loss"].idxmin(), "epoch"])
            if g["test_loss"].notna().all() else -1,
            "overfit": g["test_loss"].iloc[-1] - g["test_loss"].min(skipna=False),
            "diverged": bool(g["diverged"].any()),
        })
    out = pd.DataFrame(rows)
    return out.merge(runs.drop(columns=["diverged"]), on=["experiment", "condition", "seed"])


# -- formatting (numbers -> words) -----------------------------------------------------------
def pct(x: float, digits: int = 1) -> str:
    return "n/a" if not np.isfinite(x) else f"{100 * x:.{digits}f}%"


def ci_pct(e: Estimate, digits: int = 1) -> str:
    if not np.isfinite(e.lo):
        return pct(e.mean, digits)
    return f"{100 * e.mean:.{digits}f}% [{100 * e.lo:.{digits}f}, {100 * e.hi:.{digits}f}]"


def ci_pp(e: Estimate, digits: int = 2) -> str:
    if not np.isfinite(e.mean):
        return "n/a"
    if not np.isfinite(e.lo):
        return f"{100 * e.mean:+.{digits}f} pp"
    return f"{100 * e.mean:+.{digits}f} pp [{100 * e.lo:+.{digits}f}, {100 * e.hi:+.{digits}f}]"


def ci_num(e: Estimate, digits: int = 3) -> str:
    if not np.isfinite(e.lo):
        return f"{e.mean:.{digits}f}"
    return f"{e.mean:.{digits}f} [{e.lo:.{digits}f}, {e.hi:.{digits}f}]"


def verdict(e: Estimate, claim: bool, better: str, worse: str) -> str:
    """A claim only when the (corrected) interval excludes zero."""
    if claim and e.mean > 0:
        return better
    if claim and e.mean < 0:
        return worse
    return f"no detectable difference at {e.n} seeds"


def paired(ends: pd.DataFrame, a: str, b: str, column: str = "endpoint") -> tuple:
    """The matched (by seed) values of ``column`` for conditions a and b."""
    wide = ends.pivot_table(index="seed", columns="condition", values=column, dropna=False)
    return wide[a].to_numpy(), wide[b].to_numpy()


def condition_table(ends: pd.DataFrame, order: list[str], level: float,
                    columns: dict[str, str]) -> list[dict]:
    rows = []
    for cond in order:
        g = ends[ends["condition"] == cond]
        row = {"condition": cond, "n": int(g["endpoint"].notna().sum()),
               "diverged": int(g["diverged"].sum())}
        for col, fmt in columns.items():
            e = stats.mean_ci(g[col], level)
            row[col] = {"pct": ci_pct, "pp": ci_pp, "num": ci_num,
                        "int": lambda e: ci_num(e, 1)}[fmt](e)
            row[f"{col}_est"] = e
        rows.append(row)
    return rows


# -- exercise 1 ------------------------------------------------------------------------------
def exercise_1(res: Results) -> dict:
    from .experiments import rates_name

    e = res.cfg["experiments"]["layer_rates"]
    ends = res.ends("layer_rates")
    lvl = res.level
    cells = (ends.groupby(["factor_p1", "factor_p2"])
             .agg(endpoint=("endpoint", "mean"), gap=("gap", "mean"),
                  val=("val_endpoint", "mean"), diverged=("diverged", "sum"),
                  condition=("condition", "first"))
             .reset_index())
    order = list(cells.sort_values(["factor_p1", "factor_p2"])["condition"])
    table = condition_table(ends, order, lvl, {"endpoint": "pct", "last": "pct", "gap": "pp"})
    best = cells.loc[cells["val"].idxmax()]
    none = rates_name(0.0, 0.0)
    family = {}
    if none in order:
        family = {c: paired(ends, c, none) for c in order if c != none}
    fam = stats.paired_family(family, lvl) if family else {}
    better = [c for c, (est, claim) in fam.items() if claim and est.mean > 0]
    worse = [c for c, (est, claim) in fam.items() if claim and est.mean < 0]
    a, b = (float(x) for x in e["swap"])
    ab, ba = rates_name(a, b), rates_name(b, a)
    swap = stats.paired_diff(*paired(ends, ab, ba), level=lvl)
    swap_last = stats.paired_diff(*paired(ends, ab, ba, "last"), level=lvl)
    swap_claim = swap.excludes_zero()
    n = swap.n
    answer = (f"Swapping the rates from ({a:g}, {b:g}) to ({b:g}, {a:g}) changes the test "
              f"accuracy (mean of the last {res.k} epochs) by {ci_pp(_neg(swap))} over {n} "
              f"paired seeds: " + verdict(swap, swap_claim,
                                          f"({a:g}, {b:g}) is better", f"({b:g}, {a:g}) is better")
              + ".")
    best_est = stats.mean_ci(ends.loc[ends["condition"] == best["condition"], "endpoint"], lvl)
    top = max(float(x) for x in e["p1"])
    first_heavy, second_heavy = rates_name(top, 0.0), rates_name(0.0, top)
    heavy = None
    if top > 0 and first_heavy in order and second_heavy in order:
        heavy = (top, stats.paired_diff(*paired(ends, first_heavy, second_heavy), level=lvl))
    takeaway = _takeaway_1(fam, better, worse, swap, swap_claim, a, b, heavy)
    return {"table": table, "best_condition": best["condition"], "best_test": ci_pct(best_est),
            "best_val": pct(best["val"]), "n_cells": len(order), "n_better": len(better),
            "n_worse": len(worse), "family": [
                {"condition": c, "diff": ci_pp(est), "level": f"{100 * est.level:.2f}%",
                 "claim": verdict(est, claim, "better than none", "worse than none")}
                for c, (est, claim) in fam.items()],
            "swap": {"a": ab, "b": ba, "endpoint": ci_pp(swap), "last": ci_pp(swap_last),
                     "claim": swap_claim, "n": n},
            "answer": answer, "takeaway": takeaway, "seeds": int(ends["seed"].nunique()),
            "epochs": int(ends["epochs"].max()), "p1": e["p1"], "p2": e["p2"],
            "diverged": int(ends["diverged"].sum()), "runs": len(ends)}


def _neg(e: Estimate) -> Estimate:
    """(b, a) - (a, b), for the sentence that reads "swapping changes it by"."""
    return Estimate(-e.mean, -e.hi, -e.lo, e.n, e.level, e.p)


def _takeaway_1(fam, better, worse, swap, swap_claim, a, b, heavy) -> str:
    parts = []
    if fam:
        parts.append(f"Of {len(fam)} dropout settings, {len(better)} beat no dropout and "
                     f"{len(worse)} do worse, after Holm correction")
    if heavy is not None:
        top, d = heavy
        where = (f"p = {top:g} on layer 1 only vs on layer 2 only: {ci_pp(d)}")
        if d.excludes_zero():
            parts.append(f"heavy dropout is {'cheaper' if d.mean > 0 else 'costlier'} on the "
                         f"first layer than on the second ({where})")
        else:
            parts.append(f"heavy dropout costs the same on either layer as far as {d.n} seeds "
                         f"can tell ({where})")
    if swap_claim:
        winner = f"({a:g}, {b:g})" if swap.mean > 0 else f"({b:g}, {a:g})"
        parts.append(f"the order of the rates matters: {winner} wins")
    else:
        parts.append("the order of the two rates makes no detectable difference at this "
                     "number of seeds")
    return "; ".join(parts) + "."


# -- exercise 2 ------------------------------------------------------------------------------
def curves(metrics: pd.DataFrame, experiment: str, columns: list[str], level: float) -> pd.DataFrame:
    """Mean and t-interval over seeds of each column, per condition and epoch (for bands)."""
    m = metrics[metrics["experiment"] == experiment]
    rows = []
    for (cond, epoch), g in m.groupby(["condition", "epoch"]):
        for col in columns:
            est = stats.mean_ci(g[col], level)
            rows.append({"condition": cond, "epoch": epoch, "metric": col, "mean": est.mean,
                         "lo": est.lo, "hi": est.hi, "n": est.n})
    return pd.DataFrame(rows)


def exercise_2(res: Results) -> dict:
    ends = res.ends("long_training")
    lvl = res.level
    conds = list(ends.sort_values("rate1")["condition"].unique())
    off = next(c for c in conds if ends.loc[ends["condition"] == c, "rate1"].iloc[0] == 0
               and ends.loc[ends["condition"] == c, "rate2"].iloc[0] == 0)
    on = next(c for c in conds if c != off)
    table = condition_table(ends, [off, on], lvl, {
        "endpoint": "pct", "last": "pct", "at_best_val": "pct", "best_epoch": "int",
        "test_loss_min_epoch": "int", "overfit": "num", "gap": "pp"})
    diffs = {col: stats.paired_diff(*paired(ends, on, off, col), level=lvl)
             for col in ("endpoint", "last", "at_best_val", "overfit", "gap")}
    fam = stats.paired_family({c: paired(ends, on, off, c)
                               for c in ("endpoint", "overfit")}, lvl)
    acc, acc_claim = fam["endpoint"]
    ovf, ovf_claim = fam["overfit"]
    epochs = int(ends["epochs"].max())
    answer = (f"After {epochs} epochs, dropout {on} changes the test accuracy (mean of the last "
              f"{res.k} epochs) by {ci_pp(acc)} against no dropout "
              f"({verdict(acc, acc_claim, 'better', 'worse')}), and the rise of the test loss "
              f"above its minimum by {ci_num(ovf)} nats "
              f"({verdict(ovf, ovf_claim, 'more overfitting', 'less overfitting')}).")
    t_off = next(r for r in table if r["condition"] == off)
    t_on = next(r for r in table if r["condition"] == on)
    takeaway = (
        f"Without dropout the test loss bottoms out around epoch "
        f"{t_off['test_loss_min_epoch_est'].mean:.0f} and then climbs while the training fit "
        f"keeps improving (train-test gap {t_off['gap']}); with dropout the minimum comes at "
        f"epoch {t_on['test_loss_min_epoch_est'].mean:.0f} and the gap is {t_on['gap']}. "
        + ("Dropout's benefit shows up mainly as less overfitting in the loss"
           if ovf_claim and ovf.mean < 0 and not (acc_claim and acc.mean > 0) else
           "Dropout keeps its advantage when training runs long" if acc_claim and acc.mean > 0
           else "At this horizon and number of seeds the accuracy difference is not resolved")
        + ".")
    return {"table": table, "on": on, "off": off, "epochs": epochs,
            "seeds": int(ends["seed"].nunique()),
            "diffs": {k: ci_pp(v) if k != "overfit" else ci_num(v) for k, v in diffs.items()},
            "answer": answer, "takeaway": takeaway,
            "diverged": int(ends["diverged"].sum()), "runs": len(ends),
            "family_levels": {k: f"{100 * v[0].level:.2f}%" for k, v in fam.items()}}


# -- exercise 3 ------------------------------------------------------------------------------
def closed_form(var_pre, mean_pre, p):
    """Var[h'] for h' = h m / (1-p), m ~ Bernoulli(1-p) independent of h."""
    return (var_pre + p * mean_pre ** 2) / (1 - p)


def exercise_3(res: Results) -> dict:
    acts = res.activations
    acts = acts[acts["experiment"] == "long_training"].copy()
    lvl = res.level
    acts["predicted"] = closed_form(acts["var_pre"], acts["mean_pre"], acts["rate"])
    acts["ratio"] = acts["var_post"] / acts["predicted"]
    drop = acts[acts["rate"] > 0]
    check = []
    for layer, g in drop.groupby("layer"):
        per_seed = g.groupby("seed")["ratio"].mean()
        e = stats.mean_ci(per_seed, lvl)
        check.append({"layer": int(layer), "ratio": ci_num(e, 4), "est": e,
                      "points": len(g), "max_dev": float((g["ratio"] - 1).abs().max())})
    last_epoch = acts["epoch"].max()
    final = acts[acts["epoch"] == last_epoch]
    rows, sentences = [], []
    conds = sorted(final["condition"].unique(), key=lambda c: final.loc[
        final["condition"] == c, "rate"].max())
    off, on = conds[0], conds[-1]
    for layer, g in final.groupby("layer"):
        w = lambda col: g.pivot_table(index="seed", columns="condition", values=col)  # noqa: E731
        train_ratio = stats.mean_ci(np.log(w("var_post")[on] / w("var_post")[off]), lvl)
        eval_ratio = stats.mean_ci(np.log(w("var_eval")[on] / w("var_eval")[off]), lvl)
        row = {"layer": int(layer)}
        for cond, tag in ((off, "off"), (on, "on")):
            for col in ("var_pre", "var_post", "var_eval"):
                row[f"{tag}_{col}"] = ci_num(stats.mean_ci(w(col)[cond], lvl), 3)
        row["train_ratio"] = _ratio_text(train_ratio)
        row["eval_ratio"] = _ratio_text(eval_ratio)
        rows.append(row)
        sentences.append(f"layer {int(layer)}: {_ratio_text(train_ratio)} in training, "
                         f"{_ratio_text(eval_ratio)} in eval mode")
    ok = all(abs(c["est"].mean - 1) < 0.02 for c in check)
    answer = (f"At the end of training ({last_epoch:g} epochs), the train-time activation "
              f"variance of the dropout model relative to the no-dropout model is "
              + "; ".join(sentences) + ".")
    first = acts[acts["step"] == acts["step"].min()]
    takeaway = (
        "The mask multiplies the variance exactly as the closed form says "
        f"(measured/predicted ratio {', '.join('layer %d: %s' % (c['layer'], c['ratio']) for c in check)})"
        + ("" if ok else " — a deviation beyond 2% that needs investigating")
        + ". The trained networks differ too: the eval-mode variance of each model's layers "
        "reflects how dropout reshapes the weights, not just the noise."
    )
    return {"table": rows, "check": [{k: v for k, v in c.items() if k != "est"} for c in check],
            "answer": answer, "takeaway": takeaway, "on": on, "off": off,
            "probe_points": int(acts["step"].nunique()), "probe_size": res.cfg["data"]["probe_size"],
            "seeds": int(acts["seed"].nunique()), "init_points": len(first)}


def _ratio_text(log_est: Estimate) -> str:
    if not np.isfinite(log_est.lo):
        return f"x{math.exp(log_est.mean):.2f}"
    return (f"x{math.exp(log_est.mean):.2f} [{math.exp(log_est.lo):.2f}, "
            f"{math.exp(log_est.hi):.2f}]")
