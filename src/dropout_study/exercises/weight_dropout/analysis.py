"""Exercise 6's analysis: the conditions it trains, its config check, and the tidy tables ->
a typed ``Result`` (each method at its best rate and at equal rate against activation dropout,
the fidelity row, the settings that fail to train, the measured cost)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ... import presets, stats
from ...contrast import Contrast, Sample, compare, compare_one
from ...errors import ConfigError
from ...experiments import base_condition
from ...selection import validation_ranking
from ...stats import Estimate
from ..common import ConditionRow, accuracy, bounded, design, summarize

if TYPE_CHECKING:  # annotations only: Results.load reads the plan, which reads the registry
    from ...results import Results

EXPERIMENT = "weight_dropout"
REFERENCE = "dropout"  # the method the others are compared with
EXACT, APPROX = "dropconnect", "dropconnect_gaussian"  # the fidelity row: EXACT − APPROX
METHOD_NAMES = {"dropout": "activation dropout", "dropconnect": "DropConnect, mask per example",
                "dropconnect_gaussian": "Gaussian approximation of per-example DropConnect",
                "dropconnect_batch": "DropConnect, mask per minibatch"}
COLUMNS = [accuracy("endpoint"), accuracy("last"), accuracy("val_endpoint")]


def method_name(method: str) -> str:
    return METHOD_NAMES.get(method, method)


def condition_name(method: str, p: float) -> str:
    return f"{method},p={p:g}"


def method_rates(cfg: dict, method: str) -> list[float]:
    """The rates a method is trained at: its own (``method_rates``) or the sweep's."""
    e = cfg["experiments"][EXPERIMENT]
    return [float(p) for p in (e.get("method_rates") or {}).get(method, e["rates"])]


def conditions(cfg: dict):
    """Activation dropout vs DropConnect (per example, exact and approximated; per minibatch),
    the same rate on both layers, over each method's rates."""
    return [base_condition(cfg, EXPERIMENT, name=condition_name(method, p), noise=method,
                           rates=(p, p), factors={"method": method, "p": p})
            for method in cfg["experiments"][EXPERIMENT]["methods"]
            for p in method_rates(cfg, method)]


def check(cfg: dict) -> None:
    e = cfg["experiments"][EXPERIMENT]
    key = f"config key 'experiments.{EXPERIMENT}"
    methods = e.get("methods", [])
    if REFERENCE not in methods or len(methods) < 2:
        raise ConfigError(f"{key}.methods': must include {REFERENCE} and at least one "
                          f"weight-level method (activation dropout is what the others are "
                          f"compared with)")
    if extra := sorted(set(e.get("method_rates") or {}) - set(methods)):
        raise ConfigError(f"{key}.method_rates': {', '.join(extra)} not in its methods")
    p = e.get("fidelity_rate")
    if EXACT in methods and APPROX in methods and p is not None:
        lacking = [m for m in (EXACT, APPROX) if float(p) not in method_rates(cfg, m)]
        if lacking:
            raise ConfigError(f"{key}.fidelity_rate': {p:g} is not among the rates of "
                              f"{' and '.join(lacking)} (the fidelity row compares both "
                              f"at that rate)")


@dataclass(frozen=True)
class Timing:
    """A measurement, not a tested difference: each method's timings come from its own job(s)
    of its own size, so their epochs are not replicates and carry no interval or verdict."""

    method: str
    seconds: Estimate  # geometric mean of the seconds per model-epoch (no interval)
    ratio: Estimate | None  # method / activation dropout, measured (None: the reference)
    jobs: int  # the jobs timed
    models: int  # the models those jobs train together (in all)
    whole: Estimate | None = None  # the same ratio on the whole epoch, its evaluation included
    versions: tuple[str, ...] = ()  # the code versions its jobs ran at
    machines: tuple[int, ...] = ()  # and the machines (machine.json's numbers)


@dataclass(frozen=True)
class Failure:
    condition: str
    method: str
    p: float
    failed: int  # runs that fail to train: never trained or diverged (the instability rule)
    runs: int
    lo: float  # lowest and highest endpoint of the failed runs that have one (NaN: none)
    hi: float
    never: int = 0  # of the failed runs, those that never trained
    diverged: int = 0  # ... and those that diverged
    best_val: tuple[float, float] = (math.nan, math.nan)  # their best validation accuracy, range

    @property
    def all(self) -> bool:
        return self.failed == self.runs


@dataclass(frozen=True)
class Failures:
    """The settings with at least one run that fails to train, in table order: a run fails
    when the instability rule says it never trained or diverged (read from the training loss
    and the validation accuracy only; the test accuracy of its endpoint is reported, never
    used to decide)."""

    settings: list[Failure]


def failures(ends: pd.DataFrame, cells: dict[str, tuple[str, float]],
             order: list[str]) -> Failures:
    out = []
    for cond in order:
        g = ends[ends["condition"] == cond]
        never, dead = g["never_trained"].astype(bool), g["diverged_run"].astype(bool)
        fail = never | dead
        if fail.any():
            e = g.loc[fail, "endpoint"].to_numpy(dtype=float)
            low = e[np.isfinite(e)]
            v = g.loc[fail, "best_val"].to_numpy(dtype=float)
            v = v[np.isfinite(v)]
            out.append(Failure(cond, *cells[cond], int(fail.sum()), len(g),
                               float(low.min()) if low.size else math.nan,
                               float(low.max()) if low.size else math.nan,
                               int(never.sum()), int((dead & ~never).sum()),
                               (float(v.min()), float(v.max())) if v.size
                               else (math.nan, math.nan)))
    return Failures(out)


@dataclass(frozen=True)
class Result:
    design: dict
    methods: list[str]  # the reference first
    rates: list[float]
    table: list[ConditionRow]
    cells: dict[str, tuple[str, float]]  # condition -> (method, rate)
    selected: dict[str, str]  # method -> its condition picked on the validation split
    selected_val: dict[str, float]
    at_best: dict[str, Contrast]  # method -> it at its best − dropout at its best (Holm)
    equal_rate: dict[str, Contrast]  # method at p − dropout at p, a Holm family
    timing: list[Timing]
    fidelity: Contrast | None  # EXACT − APPROX at the fidelity rate (None: not both run)
    fidelity_rate: float | None
    failures: Failures
    method_rates: dict[str, list[float]]  # the rates each method was run at
    sweep: list[float] = field(default_factory=list)  # the config's sweep (``rates``)
    preset_departure: str = ""  # where this study's sweep is shorter than the full study's

    def _methods(self, sign: int) -> list[str]:
        return [m for m, c in self.at_best.items() if c.direction == sign]

    @property
    def better(self) -> list[str]:
        return self._methods(1)

    @property
    def worse(self) -> list[str]:
        return self._methods(-1)


def ratio_of_means(a, b, level: float = 0.95) -> Estimate:
    """a / b for two independent samples of a positive quantity (timings of different jobs):
    the ratio of their geometric means, with Welch's t-interval on the log scale mapped back,
    so the interval stays positive. ``n`` counts the values of both samples."""
    la, lb = (np.log(x[x > 0]) for x in (stats.finite(a), stats.finite(b)))
    n = la.size + lb.size
    if la.size == 0 or lb.size == 0:
        return Estimate(math.nan, n=0, level=level)
    d = float(la.mean() - lb.mean())
    if la.size < 2 or lb.size < 2:
        return Estimate(math.exp(d), n=n, level=level)
    if np.ptp(la) == 0 and np.ptp(lb) == 0:  # no spread: the ratio is exact
        return Estimate(math.exp(d), math.exp(d), math.exp(d), n, level, 1.0 if d == 0 else 0.0)
    from scipy import stats as st

    test = st.ttest_ind(la, lb, equal_var=False)
    ci = test.confidence_interval(level)
    return Estimate(d, float(ci.low), float(ci.high), n, level,
                    float(test.pvalue)).mapped(math.exp)


def timings(res: Results, ends: pd.DataFrame) -> pd.DataFrame:
    """Seconds of training per model-epoch: each job's training time of an epoch over the
    models it trains together (one row per job and epoch), with the job's method."""
    m = res.metrics[res.metrics["experiment"] == EXPERIMENT]
    per = m.drop_duplicates(["job", "epoch"])
    method_of = ends.drop_duplicates("job").set_index("job")["factor_method"]
    whole = per["epoch_seconds"] if "epoch_seconds" in per.columns else np.nan
    return pd.DataFrame({"method": per["job"].map(method_of).to_numpy(), "job": per["job"],
                         "models": per["models_in_job"].to_numpy(),
                         "seconds": (per["train_seconds"] / per["models_in_job"]).to_numpy(),
                         "whole": (whole / per["models_in_job"]).to_numpy()})


def _measured(e: Estimate) -> Estimate:
    """The point value of an estimate, its interval dropped (epochs are not replicates)."""
    return Estimate(e.value, n=e.n, level=e.level)


def _timing(res: Results, ends: pd.DataFrame, methods: list[str]) -> list[Timing]:
    per, lvl = timings(res, ends), res.level
    mine = {m: per[per["method"] == m] for m in {REFERENCE, *methods}}
    secs = {m: stats.finite(g["seconds"]) for m, g in mine.items()}
    whole = {m: stats.finite(g["whole"]) for m, g in mine.items()}
    out, where = [], {j.get("dir", "").rstrip("/").rsplit("/", 1)[-1]: j for j in res.jobs}
    for m in methods:
        g = mine[m].drop_duplicates("job")
        ran = [where[job] for job in g["job"] if job in where]
        ratio = None if m == REFERENCE else _measured(
            ratio_of_means(secs[m], secs[REFERENCE], lvl))
        other = None if m == REFERENCE else _measured(
            ratio_of_means(whole[m], whole[REFERENCE], lvl))
        out.append(Timing(m, _measured(stats.geometric_mean_ci(secs[m], lvl)), ratio,
                          int(g["job"].nunique()), int(g["models"].sum()), other,
                          tuple(sorted({str(j.get("code_version")) for j in ran})),
                          tuple(sorted({int(j.get("machine") or 0) for j in ran}))))
    return out


def analyze(res: Results) -> Result:
    lvl = res.level
    ends = res.ends(EXPERIMENT)
    configured = res.cfg["experiments"][EXPERIMENT]["methods"]
    present = set(ends["factor_method"])
    methods = [m for m in dict.fromkeys([REFERENCE, *configured]) if m in present]
    rates = sorted(float(p) for p in ends["factor_p"].unique())
    cells = {str(r.condition): (str(r.factor_method), float(r.factor_p))
             for r in ends.drop_duplicates("condition").itertuples()}
    order = sorted(cells, key=lambda c: (methods.index(cells[c][0]), cells[c][1]))
    ranking = validation_ranking(ends)  # unstable settings last, scored over all their runs
    selected, selected_val = {}, {}
    for m in methods:  # the best rate of each method, on the validation split only
        mine = ranking[[cells[str(c)][0] == m for c in ranking.index]]
        mine = mine[np.isfinite(mine["val"].to_numpy(dtype=float))]
        if not mine.empty:
            selected[m], selected_val[m] = str(mine.index[0]), float(mine["val"].iloc[0])
    labels = {}  # method -> the label of its contrast at the best rates
    if REFERENCE in selected:
        ref = selected[REFERENCE]
        for m in methods:
            if m != REFERENCE and m in selected:
                labels[m] = (f"{method_name(m)} (p={cells[selected[m]][1]:g}) − "
                             f"{method_name(REFERENCE)} (p={cells[ref][1]:g})")
    at_best = bounded(compare({labels[m]: Sample.of(ends, selected[m], selected[REFERENCE])
                               for m in labels}, lvl))
    equal = {f"{condition_name(m, p)} − {condition_name(REFERENCE, p)}":
             Sample.of(ends, condition_name(m, p), condition_name(REFERENCE, p))
             for m in methods if m != REFERENCE for p in rates
             if set(cells).issuperset({condition_name(m, p), condition_name(REFERENCE, p)})}
    fidelity, fid_p = None, res.cfg["experiments"][EXPERIMENT].get("fidelity_rate")
    if fid_p is not None and set(cells).issuperset({condition_name(EXACT, fid_p),
                                                    condition_name(APPROX, fid_p)}):
        label = f"{method_name(EXACT)} (p={fid_p:g}) − {method_name(APPROX)} (p={fid_p:g})"
        fidelity = bounded({label: compare_one(label, Sample.of(
            ends, condition_name(EXACT, fid_p), condition_name(APPROX, fid_p)), lvl)})[label]
    table = [row if not row.unstable else replace(row, values=row.values | {
        "val_endpoint": COLUMNS[2].summarize(ends.loc[ends["condition"] == row.condition,
                                                      "val_endpoint"], lvl)})
             for row in summarize(ends, order, COLUMNS, lvl)]  # as selection scores it
    return Result(
        design=design(ends, res.k), methods=methods, rates=rates,
        table=table, cells=cells, selected=selected,
        selected_val=selected_val, at_best={m: at_best[labels[m]] for m in labels},
        equal_rate=bounded(compare(equal, lvl)), timing=_timing(res, ends, methods),
        fidelity=fidelity, fidelity_rate=None if fidelity is None else float(fid_p),
        failures=failures(ends, cells, order),
        method_rates={m: sorted(p for c, (mm, p) in cells.items() if mm == m)
                      for m in methods},
        sweep=sorted(float(p) for p in res.cfg["experiments"][EXPERIMENT]["rates"]),
        preset_departure=" ".join(x for x in (presets.departure(res.cfg, EXPERIMENT, {"rates": (
            "the rate sweep", "each method's rate is picked on validation from fewer rates")}),
            presets.selection_departure(res.cfg)) if x))
