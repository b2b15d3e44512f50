"""Exercise 6: dropout on the individual weights (DropConnect) instead of the activations.

Trains the reference MLP with activation dropout, DropConnect with a fresh Bernoulli mask on
the weights for every example (exact, Wan et al. 2013), the Gaussian approximation of it (Wang &
Manning 2013; a scheme of its own) and DropConnect with one mask per minibatch, each over a sweep
of drop rates (the same rate on both hidden layers; a method may have its own rates). Reports
each method at its rate picked on the validation split against activation dropout at its own (a
Holm family), each method against activation dropout at equal rate (a second Holm family), the
fidelity of the approximation (exact − approximation at one rate, paired by seed), the settings
that fail to train (a rule on the endpoint, stated in the report), and each method's training
time per model-epoch as a ratio to activation dropout (intervals on the log scale,
Holm-corrected).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .. import stats, words
from ..contrast import Contrast, Sample, compare, compare_one
from ..errors import ConfigError
from ..experiments import base_condition
from ..instability import NEAR_CHANCE, TRAINED_LOSS
from ..selection import validation_ranking
from ..stats import Estimate
from .base import Exercise, GlanceWords
from .common import ConditionRow, accuracy, bounded, design, rows_words, summarize

if TYPE_CHECKING:  # annotations only: Results.load reads the plan, which reads the registry
    from ..results import Results

EXPERIMENT = "weight_dropout"
REFERENCE = "dropout"  # the method the others are compared with
EXACT, APPROX = "dropconnect", "dropconnect_gaussian"  # the fidelity row: EXACT − APPROX
METHOD_NAMES = {"dropout": "activation dropout", "dropconnect": "DropConnect, mask per example",
                "dropconnect_gaussian": "Gaussian approximation of per-example DropConnect",
                "dropconnect_batch": "DropConnect, mask per minibatch"}
SHORT = {"dropconnect": ("per-example DropConnect", "per-example DropConnect's"),  # (it, its)
         "dropconnect_gaussian": ("its Gaussian approximation",
                                  "the Gaussian approximation's"),
         "dropconnect_batch": ("the per-minibatch variant", "the per-minibatch variant's")}
WHY = {"dropconnect": " (every example draws its own mask on the weights)"}
TICK = {"dropout": "activation\ndropout", "dropconnect": "DropConnect,\nper example",
        "dropconnect_gaussian": "Gaussian approximation\nof per-example DropConnect",
        "dropconnect_batch": "DropConnect,\nper minibatch"}  # short axis labels
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
            out.append(Failure(cond, *cells[cond], int(fail.sum()), len(g),
                               float(low.min()) if low.size else math.nan,
                               float(low.max()) if low.size else math.nan,
                               int(never.sum()), int((dead & ~never).sum())))
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
    out = []
    for m in methods:
        g = mine[m].drop_duplicates("job")
        ratio = None if m == REFERENCE else _measured(
            ratio_of_means(secs[m], secs[REFERENCE], lvl))
        other = None if m == REFERENCE else _measured(
            ratio_of_means(whole[m], whole[REFERENCE], lvl))
        out.append(Timing(m, _measured(stats.geometric_mean_ci(secs[m], lvl)), ratio,
                          int(g["job"].nunique()), int(g["models"].sum()), other))
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
        sweep=sorted(float(p) for p in res.cfg["experiments"][EXPERIMENT]["rates"]))


def seconds_text(e: Estimate) -> str:
    """Seconds with at least two significant digits."""
    if (gone := words.missing(e)) is not None:
        return gone
    return words.number(e, max(3, 1 - math.floor(math.log10(e.value))), unit="s")


def at_rate(r: Result, m: str) -> str:
    """Where a method stands in its comparison: the one rate run, or its best on validation."""
    p = f"p = {r.cells[r.selected[m]][1]:g}"
    return (f"at the one rate run, {p}" if len(r.method_rates.get(m, [])) == 1 else
            f"at its best rate on validation, {p}")


def each_at(r: Result) -> str:
    """"each at its best rate on validation", saying which methods ran at one rate only."""
    single = [m for m in r.selected if len(r.method_rates.get(m, [])) == 1]
    if not single:
        return "each at its best rate on validation"
    if len(single) == len(r.selected):
        return "each at the one rate run"
    return (f"each at its best rate on validation ({words.join([method_name(m) for m in single])}"
            f" at the one rate run)")


def departure(r: Result) -> str:
    """Where this study runs a method at fewer rates than the sweep the protocol asks for (a
    preset's ``method_rates``), said where it applies: its comparisons stand at the rates run,
    not at a best rate chosen on validation; "" where every method is swept."""
    short = {m: ps for m, ps in r.method_rates.items() if len(ps) == 1 and len(r.sweep) > 1}
    if not short:
        return ""
    said = words.join([f"{method_name(m)} at p = {ps[0]:g} only" for m, ps in short.items()])
    sweep = ", ".join(f"{p:g}" for p in r.sweep)
    who = "that method stands" if len(short) == 1 else "those methods stand"
    return (f"This study departs from the protocol's rate sweep here: it runs {said}, not over "
            f"the sweep ({sweep}) that the other methods run; {who} at the rate run in every "
            "comparison, not at a best rate chosen on validation.")


def star_offsets(points: list[tuple[str, float]], step: float) -> list[float]:
    """Horizontal offsets for markers drawn at the same rate, so that none hides another
    (in order, centred on the rate, ``step`` apart); 0 for a marker alone at its rate."""
    out = []
    for i, (_, p) in enumerate(points):
        same = [j for j, (_, q) in enumerate(points) if q == p]
        out.append((same.index(i) - (len(same) - 1) / 2) * step)
    return out


def _verdicts(r: Result) -> str:
    better, worse = r.better, r.worse
    untested = [m for m, c in r.at_best.items() if not c.tested]
    names = lambda ms: words.join([method_name(m) for m in ms])  # noqa: E731
    beat = "beats" if len(better) == 1 else "beat"
    if not r.at_best:
        text = ("here nothing could be compared (activation dropout or every weight-level "
                "method lacks a stable run)")
    elif better and worse:  # one of each: there are two weight-level methods
        text = (f"here {names(better)} beats dropping units and {names(worse)} does worse, "
                f"{each_at(r)}")
    elif better:
        text = (f"here it pays off in accuracy ({names(better)} {beat} dropping units, "
                f"{each_at(r)})")
    elif worse:
        text = f"here it does worse than dropping units ({names(worse)}, {each_at(r)})"
    elif len(untested) == len(r.at_best):
        text = "here too few seeds are stable for a verdict"
    else:
        text = f"here it cannot be told apart from dropping units, {each_at(r)}"
    if 0 < len(untested) < len(r.at_best):
        text += f" (no verdict on {names(untested)}: too few stable seed pairs)"
    return text


def jobs_text(t: Timing) -> str:
    return ("one job" if t.jobs == 1 else f"{t.jobs} jobs") + \
        f" of {t.models} model{'s' if t.models != 1 else ''}"


def _cost(t: Timing, ref: Timing | None) -> str:
    who, whose = SHORT[t.method]
    if words.missing(t.ratio) is not None or ref is None:
        return f"{whose} cost cannot be compared: activation dropout or it has no timings"
    return (f"{who} took {words.measured(t.ratio)} the time of activation dropout per "
            f"model-epoch in the training loop{_whole(t)}{WHY.get(t.method, '')}, as measured "
            f"on {jobs_text(t)} against {jobs_text(ref)}")


def _whole(t: Timing) -> str:
    """The ratio on the other timer, the whole epoch with its evaluation, where it is
    measured: how far the choice of timer moves the number."""
    if t.whole is None or words.missing(t.whole) is not None:
        return ""
    return f" and {words.measured(t.whole)} on the whole epoch, its evaluation included"


def cost_note(r: Result) -> str:
    """Why the cost is a measurement and not a verdict."""
    one = all(t.jobs == 1 for t in r.timing)
    return (("one job per method" if one else
             "a few jobs per method")
            + ": their epochs are not independent replicates, so each ratio is a measurement, "
            "with no interval and no verdict, to two significant digits (the timer read and the "
            "number of models a job trains together move it)")


FIDELITY_BETTER = "exact masks reach higher accuracy than the approximation"
FIDELITY_WORSE = "exact masks reach lower accuracy than the approximation"


def fidelity_text(r: Result) -> str:
    """The fidelity row in one sentence: exact − approximation, its verdict and n."""
    c = r.fidelity
    if c is None:
        return ""
    text = f"Fidelity of the approximation: {c.difference()}, "
    if c.claim:
        verdict = FIDELITY_BETTER if c.direction > 0 else FIDELITY_WORSE
        return text + f"{verdict}: the approximation does not stand in for the real masks here."
    return text + (c.verdict(FIDELITY_BETTER, FIDELITY_WORSE)
                   + ("" if not c.tested else " (not a proof that the two are equivalent)")
                   + ".")


def _span(f: Failure) -> str:
    if not np.isfinite(f.lo):
        return "every failed run diverged"
    span = f"{100 * f.lo:.1f}%" if f.lo == f.hi else f"{100 * f.lo:.1f}–{100 * f.hi:.1f}%"
    return f"test accuracy {span}"


def failure_rule() -> str:
    return (f"A run fails to train when the instability rule (under Methods) says it never "
            f"trained (its training loss never fell below {TRAINED_LOSS:.2f}, 0.8 · ln 10, or "
            f"its best validation accuracy never rose above {100 * NEAR_CHANCE:g}%) or "
            "diverged; the rule reads the training loss and the validation accuracy only, and "
            "the test accuracy of a failed run's endpoint is reported, not used to decide. A "
            "failed run counts in its setting's unstable runs and is left out of the table's "
            "means and of the primary contrasts.")


def _kinds(f: Failure) -> str:
    parts = [f"{f.never} never trained" if f.never else "",
             f"{f.diverged} diverged" if f.diverged else ""]
    return words.join(parts)


def failure_text(f: Failure) -> str:
    runs = (("both runs" if f.runs == 2 else f"all {f.runs} runs") if f.all
            else f"{f.failed} of {f.runs} runs")
    return (f"{method_name(f.method)} at p = {f.p:g} fails to train in {runs} ({_kinds(f)}; "
            f"{_span(f)})")


def _failures(r: Result) -> str:
    fl = r.failures
    if not fl.settings:
        return "every setting trains (no run never trained or diverged)"
    return words.join([failure_text(f) for f in fl.settings])


def _takeaway(r: Result) -> str:
    ref = next((t for t in r.timing if t.ratio is None), None)
    costs = "; ".join(_cost(t, ref) for t in r.timing if t.method != REFERENCE)
    costs += f" ({cost_note(r)})" if costs else ""
    fails = _failures(r) if r.failures.settings else ""
    return ("Dropping individual weights is a finer-grained noise than dropping whole units: "
            + _verdicts(r) + (f"; {fails}" if fails else "") + (f"; {costs}" if costs else "")
            + ". At test time every method uses the mean weights (the deterministic network).")


def _row(c: Contrast) -> dict:
    return c.row("better than activation dropout", "worse than activation dropout")


def context(r: Result) -> dict:
    diffs = [f"{c.difference()} ({_row(c)['verdict']})" for c in r.at_best.values()]
    ref = next((t for t in r.timing if t.ratio is None), None)
    spent = [f"{method_name(t.method)} took {words.measured(t.ratio)} as long"
             for t in r.timing if t.ratio is not None]
    cost = "" if ref is None else (
        f"; training took {method_name(REFERENCE)} {seconds_text(ref.seconds)} per "
        f"model-epoch" + (f", and {words.join(spent)}" if spent else "")
        + f" ({cost_note(r)})")
    single = [f"{method_name(m)} at p = {ps[0]:g} only" for m, ps in r.method_rates.items()
              if len(ps) == 1 and len(r.rates) > 1]
    answer = ("At each method's validation-selected rate, or the one rate it was run at"
              if single else "At each method's validation-selected rate")
    answer += ((f" (run at one rate: {words.join(single)})" if single else "") + ", "
              + ("; ".join(diffs) if diffs else "no comparison (activation dropout or every "
                 "weight-level method lacks a stable run)") + cost + ".")
    selected = set(r.selected.values())
    table = rows_words(r.table, COLUMNS)
    for row in table:
        method, p = r.cells[row["condition"]]
        row.update(method=method_name(method), p=f"{p:g}",
                   selected="selected" if row["condition"] in selected else "")
    timing = [{"method": method_name(t.method), "seconds": seconds_text(t.seconds),
               "n": t.seconds.n, "jobs": t.jobs, "models": t.models,
               "relative": "reference" if t.ratio is None else words.measured(t.ratio),
               "whole": ("reference" if t.ratio is None else
                         "not timed" if not _whole(t) else words.measured(t.whole))}
              for t in r.timing]
    for row in table:  # a setting with an unstable run: the mean over all its runs
        bad = next(x for x in r.table if x.condition == row["condition"])
        if bad.unstable:
            row["val_endpoint"] += f" (all {bad.runs} runs, {bad.unstable} unstable)"
    return {**r.design, "methods": [method_name(m) for m in r.methods], "rates": r.rates,
            "table": table,
            "selected": [{"method": method_name(m), "p": f"{r.cells[c][1]:g}",
                          "val": f"{100 * r.selected_val[m]:.1f}%"}
                         for m, c in r.selected.items()],
            "diffs": [_row(c) for c in r.at_best.values()],
            "equal_rate": [_row(c) for c in r.equal_rate.values()],
            "timing": timing, "answer": answer, "takeaway": _takeaway(r),
            "departure": departure(r), "each_at": each_at(r),
            "cost_note": cost_note(r), "glance_words": glance_words(r),
            "method_rates": [{"method": method_name(m), "rates": ", ".join(f"{p:g}" for p in ps)}
                             for m, ps in r.method_rates.items()],
            "fidelity": None if r.fidelity is None else
            _fidelity_row(r.fidelity) | {"p": f"{r.fidelity_rate:g}",
                                         "sentence": fidelity_text(r)},
            "failure_rule": failure_rule(), "fails_text": _failures(r),
            "fail_rows": [{"method": method_name(f.method), "p": f"{f.p:g}",
                           "runs": f"{f.failed} of {f.runs}", "kinds": _kinds(f),
                           "span": _span(f), "all": f.all} for f in r.failures.settings]}


def glance_words(r: Result) -> dict | None:
    """The summary row's answer for the headline (per-example DropConnect − activation
    dropout), naming the rate each arm stands at: the one run, or the best on validation."""
    c = r.at_best.get(EXACT)
    if c is None or not c.tested:
        return None
    pe, ref = at_rate(r, EXACT), at_rate(r, REFERENCE)
    text = {1: f"Dropping weights (DropConnect, a fresh mask per example, {pe}) beats dropping "
               f"activations ({ref}).",
            -1: f"Dropping activations ({ref}) beats dropping weights (DropConnect, a fresh "
                f"mask per example, {pe}).",
            0: f"Dropping weights (DropConnect, a fresh mask per example, {pe}) and dropping "
               f"activations ({ref}) cannot be told apart."}[c.direction]
    return {"answer": text}


def _fidelity_row(c: Contrast) -> dict:
    return c.row(FIDELITY_BETTER, FIDELITY_WORSE)


def draw(res: Results, r: Result, out: Path) -> dict[str, Path]:  # pragma: no mutate block
    from matplotlib.ticker import FuncFormatter, NullFormatter

    from ..plots import PALETTE, lines_with_bands, panels, save

    ends = res.ends(EXPERIMENT)
    fig, axes = panels(2, figsize=(13, 4.4), gridspec_kw={"width_ratios": [3, 2], "wspace": 0.3})
    labels = {m: method_name(m) for m in r.methods}
    shown = sorted(ends.loc[ends["stable"], "factor_method"].unique())  # as lines_with_bands
    colour = {m: PALETTE[i % len(PALETTE)] for i, m in enumerate(shown)}
    lines_with_bands(axes[0], ends, "factor_p", "factor_method", "endpoint", res.level,
                     "drop probability p (both layers)", "test accuracy (%)", 100, labels,
                     bounds=(0.0, 1.0))
    rows = {row.condition: row for row in r.table}
    picked = [(m, r.cells[cond][1]) for m, cond in r.selected.items()]
    gap = 0.02 * (max(r.rates) - min(r.rates) or 1.0)
    shapes = {m: s for m, s in zip(r.methods, "*DsP^v", strict=False)}
    for (m, p), dx in zip(picked, star_offsets(picked, gap), strict=True):
        e = rows[r.selected[m]].values["endpoint"]  # one marker per method, none hidden
        axes[0].plot(p + dx, 100 * e.value, shapes.get(m, "*"), ms=12 if shapes.get(m) == "*"
                     else 8, color=colour.get(m, "k"), markeredgecolor="black", zorder=4)
    axes[0].set_title("test accuracy (markers: each\nmethod's rate)", loc="left")
    for i, t in enumerate(r.timing):
        axes[1].plot([i], [t.seconds.value], "o", color=colour.get(t.method, "k"))
    axes[1].set_yscale("log")  # a time is positive: its interval comes from the log scale
    plain = FuncFormatter(lambda v, _: f"{v:g}")
    axes[1].yaxis.set_major_formatter(plain)
    axes[1].yaxis.set_minor_formatter(plain)
    axes[1].set_xticks(np.arange(len(r.timing)),
                       [TICK.get(t.method, t.method) for t in r.timing], fontsize=8,
                       rotation=30, ha="right", rotation_mode="anchor")
    low, high = axes[1].get_ylim()
    if high > 10 * low:  # over a decade: the minor ticks' labels would overlap
        axes[1].yaxis.set_minor_formatter(NullFormatter())
    axes[1].set_xlim(-0.5, len(r.timing) - 0.5)
    axes[1].set_ylabel("training seconds per model-epoch (log scale)")
    axes[1].set_title("cost, measured (one job each)"  # short: it sits beside the other title
                      if all(t.jobs == 1 for t in r.timing) else "cost, measured")
    return {"sweep": save(fig, out / "ex6_sweep.png")}


EXERCISE = Exercise(
    number=6, key=EXPERIMENT, block=EXPERIMENT, reads=(EXPERIMENT,),
    title="Dropout on the weights instead of the activations",
    analyze=analyze, context=context, draw=draw, trains={EXPERIMENT: conditions}, check=check,
    headline=lambda r: r.at_best.get("dropconnect"),  # DropConnect proper, each at its best
    glance=GlanceWords(
        question="Drop weights instead of activations?",
        better="{a} is better", worse="{b} is better",
        answer_better="Dropping weights (DropConnect, a fresh mask per example) beats dropping "
                      "activations, each at its best rate on validation among those run.",
        answer_worse="Dropping activations beats dropping weights (DropConnect, a fresh mask "
                     "per example), each at its best rate on validation among those run.",
        answer_none="Dropping weights (DropConnect, a fresh mask per example) and dropping "
                    "activations, each at its best rate on validation among those run, cannot "
                    "be told apart.",
        absent="DropConnect (per example) was not trained in this study"))
