"""Exercise 4: why dropout is not used at test time (evaluation only: trains nothing).

Reads the evaluation tables ``test_time`` (per model × T: the Monte-Carlo average of T
stochastic passes) and ``test_time_models`` (per model: eval mode, single stochastic passes,
flip rate, timings) that ``testtime.py`` writes for the trained exercise-1 models of one
condition. Reports, per prediction method, accuracy, NLL and ECE with intervals kept in range
(accuracy and ECE in [0, 1], NLL >= 0); every T that was run is shown and none is selected
(picking the "best T" on the test set would use the test set for selection, so there is no
such row); and the differences against eval mode, paired by seed through the shared contrast
(a Holm family; every model is an evaluation row, stable by construction — a diverged model
is not evaluated at all, and is counted from the exercise-1 runs where they are loaded).

Cost. ``testtime.compare_test_time`` times eval mode as ONE pass over the test set, after a
warm-up on 256 images in eval mode only, while a stochastic pass is the MEAN of T_max timed
passes whose first one runs cold (the mask path was never warmed up). The two numbers are not
measured the same way, so their ratio is not a cost (the old "one pass 0.2×" divided them) and
no such ratio is printed: the report says so in words and shows each time on its own, as a
positive quantity (geometric mean with a log-scale interval over independent measurements).
Seeds are not independent timings — the models of one job are timed together and share one
measurement — so the unit of a timing is the job (its distinct pair of times). The cost of the
Monte-Carlo average is stated as what is like for like: T stochastic passes per prediction
against one pass in eval mode.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .. import stats, words
from ..contrast import ACCURACY, Contrast, Ratio, Sample, compare
from ..contrast_words import holm_family
from ..errors import ConfigError
from ..stats import Estimate
from .base import Exercise, GlanceWords
from .common import BootstrapColumn, Column, ConditionRow, PositiveColumn, rows_words, summarize

if TYPE_CHECKING:  # annotations only: Results.load reads the plan, which reads the registry
    from ..results import Results

KEY = "test_time"
EVAL, ONE = "eval mode (deterministic)", "dropout on, one pass"
INF = float("inf")
# positive quantities (STUDY.md; issue 31, referee 16): the NLL as a geometric mean with its
# interval from the log scale; the ECE, which may be 0, as a mean with a percentile bootstrap
# interval (inside its values' range); both compared with eval mode as ratios a / b
COLUMNS = [Column("acc", lambda e: words.pct(e, 2), (0.0, 1.0)),
           PositiveColumn("nll", lambda e: words.number(e, 4), (0.0, INF)),
           BootstrapColumn("ece", lambda e: _no_interval(words.pct(e, 2), e), (0.0, 1.0))]
NLL = Ratio("test NLL", 1.0, "", 4)
ECE = Ratio("ECE", 1.0, "", 2)
RATIOS = ("NLL", "ECE")  # the contrasts of a positive quantity: a ratio, on the log scale


def _no_interval(text: str, e: Estimate) -> str:
    """A mean over too few values for a bootstrap interval says so, with its n."""
    if e.n > 1 and not e.has_interval and not words.missing(e):
        return f"{text} (n = {e.n}: no interval)"
    return text


def mc_name(t: int) -> str:
    return f"Monte-Carlo average, T = {t}"


@dataclass(frozen=True)
class Timing:
    """Wall time per model of one pass over the test set, in seconds (not comparable)."""

    eval: Estimate
    stochastic: Estimate

    @property
    def measurements(self) -> int:
        return self.eval.n


@dataclass(frozen=True)
class Result:
    condition: str
    models: int
    trained: int | None  # runs of the condition in exercise 1 (None: not loaded)
    diverged: int | None  # of those, diverged: not evaluated
    passes: list[int]
    t_max: int
    table: list[ConditionRow]  # eval mode, one pass, then every T > 1 (none selected)
    flip: Estimate  # fraction of test images whose class changes between consecutive passes
    spread: Estimate  # SD of one pass's accuracy from pass to pass
    against_eval: dict[str, Contrast]  # method − eval mode, a Holm family
    timing: Timing
    level: float = 0.95  # the study's (a Holm step moves an interval's level from it)

    @property
    def one_pass(self) -> Contrast:
        return self.against_eval["accuracy: one pass − eval mode"]

    def mc(self, what: str) -> Contrast:
        sep = " / " if what in RATIOS else " − "
        return self.against_eval[f"{what}: T = {self.t_max}{sep}eval mode"]


def _per_seed(df: pd.DataFrame, column: str) -> pd.Series:
    return df.set_index("seed")[column].sort_index()


def _sample(a: pd.Series, b: pd.Series) -> Sample:
    """Evaluation rows: every model is stable (a diverged one has no row)."""
    return Sample(a, b, pd.Series(True, index=a.index), pd.Series(True, index=b.index))


def analyze(res: Results) -> Result:
    lvl = res.level
    mc, models = res.extra["test_time"], res.extra["test_time_models"].sort_values("seed")
    passes = sorted(int(t) for t in mc["passes"].unique())
    t_max = passes[-1]
    at = {t: mc[mc["passes"] == t].sort_values("seed") for t in passes}
    first = at.get(1, pd.DataFrame(columns=["seed", "acc", "nll", "ece"]))
    rows = [pd.DataFrame({"condition": EVAL, "seed": models["seed"],
                          **{k: models[f"eval_{k}"] for k in ("acc", "nll", "ece")}}),
            pd.DataFrame({"condition": ONE, "seed": models["seed"],
                          "acc": models["single_acc_mean"]})
            .merge(first[["seed", "nll", "ece"]], on="seed", how="left")]
    rows += [at[t].assign(condition=mc_name(t))[["condition", "seed", "acc", "nll", "ece"]]
             for t in passes if t > 1]
    long = pd.concat(rows, ignore_index=True).assign(stable=True)
    order = [EVAL, ONE] + [mc_name(t) for t in passes if t > 1]
    full = at[t_max]
    ev = {k: _per_seed(models, f"eval_{k}") for k in ("acc", "nll", "ece")}
    def log(x: pd.Series) -> pd.Series:
        return np.log(x.where(x > 0))

    family = {
        "accuracy: one pass − eval mode": _sample(_per_seed(models, "single_acc_mean"),
                                                  ev["acc"]),
        f"accuracy: T = {t_max} − eval mode": _sample(_per_seed(full, "acc"), ev["acc"]),
        **{f"{k}: T = {t_max} / eval mode": _sample(log(_per_seed(full, c)), log(ev[c]))
           for k, c in (("NLL", "nll"), ("ECE", "ece"))},
    }
    quantity = {"accuracy": ACCURACY, "NLL": NLL, "ECE": ECE}
    against = {k: replace(c, quantity=quantity[k.split(":")[0]])
               for k, c in compare(family, lvl).items()}
    trained = diverged = None
    cond = str(models["condition"].iloc[0])
    if res.has("layer_rates"):
        runs = res.ends("layer_rates")
        runs = runs[runs["condition"] == cond]
        trained, diverged = len(runs), int((~runs["stable"]).sum())
    jobs = models[["eval_pass_seconds", "stochastic_pass_seconds"]].drop_duplicates()
    return Result(
        condition=cond, models=len(models), trained=trained, diverged=diverged,
        passes=passes, t_max=t_max, table=summarize(long, order, COLUMNS, lvl),
        flip=stats.mean_ci(models["flip_rate"], lvl, (0.0, 1.0)),
        spread=stats.mean_bootstrap_ci(models["single_acc_sd"], lvl),  # an SD, maybe 0
        against_eval=against,
        timing=Timing(stats.geometric_mean_ci(jobs["eval_pass_seconds"], lvl),
                      stats.geometric_mean_ci(jobs["stochastic_pass_seconds"], lvl)), level=lvl)


def calibration(r: Result) -> list[tuple[str, Contrast]]:
    """The calibration contrasts of the average of T passes against eval mode that claim a
    difference, by quantity ("NLL", "ECE"): the row, the takeaway and the forest plot say them."""
    return [(k, c) for k in RATIOS if (c := r.mc(k)).claim]


def glance_words(r: Result) -> dict | None:
    """The summary row where one pass with dropout on differs from eval mode, or the average of
    T passes is detectably better or worse calibrated (claims of the headline's Holm family,
    the section's reasons): said beside the headline, as the section says them (referee read
    5, 10; full study, second read: the row left out a lower NLL and ECE). None otherwise: the
    headline alone is the row."""
    acc, one = r.mc("accuracy"), r.one_pass
    cal = calibration(r)
    if not one.claim and not cal:
        return None
    g = EXERCISE.glance
    said = {1: g.answer_better, -1: g.answer_worse, 0: g.answer_none}[acc.direction]
    effect, verdict, answer = [acc.summary(r.level)], [acc.short_verdict(g.better, g.worse)], said
    if one.claim:
        effect.append(f"{one.label}: {one.summary(r.level)}")
        verdict.append(f"one pass {one.short_verdict('better', 'worse')} than eval mode")
        answer += (f" One pass with dropout left on is {'more' if one.direction > 0 else 'less'}"
                   " accurate than eval mode (Holm-corrected with the average).")
    if cal:
        effect += [f"{c.label}: {c.summary(r.level)}" for _, c in cal]
        lower = words.join([f"{'lower' if c.direction < 0 else 'higher'} {k}" for k, c in cal])
        verdict.append(f"the average: {lower}")
        answer += (f" The average of T = {r.t_max} passes has {lower} than eval mode "
                   "(Holm-corrected with the accuracy).")
    return {"label": acc.label, "effect": "; ".join(effect), "verdict": "; ".join(verdict),
            "claim": True, "answer": answer}


# -- words -----------------------------------------------------------------------------------
def costs(passes: list[int]) -> dict[str, str]:
    """Forward passes per prediction, per row: the only like-for-like cost these tables give."""
    return {EVAL: "1 pass", ONE: "1 pass + masks",
            **{mc_name(t): f"{t} passes + masks" for t in passes if t > 1}}


def seconds(e: Estimate) -> str:
    """A time per model as milliseconds; one measurement has no interval, and says so."""
    if (missing := words.missing(e)) is not None:
        return missing
    if e.n == 1:
        return f"{1000 * e.value:.1f} ms (one timing, no interval)"
    return (f"{words.number(e, 1, 1000.0, 'ms')} (geometric mean of {e.n} measurements)")


def timing_words(r: Result) -> str:
    t = r.timing
    return (f"Measured wall time per model for one pass over the test set: eval mode "
            f"{seconds(t.eval)}, dropout on {seconds(t.stochastic)}. The two were not measured "
            f"the same way (eval mode: one timed pass after a warm-up in eval mode only; "
            f"dropout on: the mean of {r.t_max} timed passes, the first one cold), so their "
            "ratio is not a cost and is not given; the Monte-Carlo average of T passes costs "
            "T stochastic passes, each the eval pass's matrix products plus the masks.")


def _pct(e: Estimate, why: str) -> str:
    return why if words.missing(e) else words.pct(e, 2)


def _spread(e: Estimate) -> str:
    return ("none measured (one pass only)" if words.missing(e) else
            _no_interval(words.number(e, 2, 100.0, "pp"), e))


def _over(c) -> str:
    """A difference with its interval and n (STUDY.md, "Words")."""
    return f"{c.quantity.text(c.primary)} over {words.seeds(c.pairs)}"


def _claim(c) -> str:
    """A claimed difference with its label, n and corrected level (referee read 9)."""
    return (f"{c.difference()} over {words.seeds(c.pairs)}; a {c.level_text} interval, "
            "Holm-corrected within its family")


def _said(c, better: str, worse: str) -> str:
    """The verdict, with the corrected level beside a claim."""
    v = c.verdict(better, worse)
    return (f"{v}; a {c.level_text} interval, Holm-corrected within its family" if c.claim
            else v)


def _calibrated(r: Result) -> str:
    """Where the average of T passes is detectably better or worse calibrated than eval mode
    (NLL, ECE): the other side of the answer (referee, full study: the takeaway left out a
    lower NLL and ECE the answer gave)."""
    said = [f"{'lower' if c.direction < 0 else 'higher'} {k} ({_claim(c)})"
            for k, c in calibration(r)]
    return f"; in calibration it has {words.join(said)}" if said else ""


def _takeaway(r: Result) -> str:
    one, acc, t = r.one_pass, r.mc("accuracy"), r.t_max
    if not acc.tested:
        return f"No takeaway on the Monte-Carlo average: {acc.verdict('', '')}."
    if acc.direction > 0:
        lead = ("A single noisy pass is worse and not repeatable" if one.direction < 0 else
                "A single noisy pass is not repeatable")
        return (f"{lead}, but the Monte-Carlo average of T = {t} passes beats eval mode here "
                f"({_claim(acc)}), at {t} forward passes per prediction instead of one: "
                "dropout is off at test time for cost and determinism, and MC dropout is the "
                "option when the extra accuracy or uncertainty is worth it.")
    if one.direction < 0:
        back = (f"the average of T = {t} passes is not detectably different from eval mode in "
                f"accuracy ({acc.difference()}; {acc.verdict('', '')})" if acc.direction == 0
                else
                f"even the average of T = {t} passes stays below eval mode "
                f"({_claim(acc)})")
        # eval mode matches the average's accuracy to the design's resolution (a null, no
        # equivalence), not its calibration where that differs (referee, full study, second
        # read: "approximates their average" rested on the accuracy's null alone)
        eval_ = ("is not detectably less accurate than the average of T passes" if
                 acc.direction == 0 else "is more accurate than the average of T passes")
        return (f"Leaving dropout on makes predictions random and worse ({_claim(one)}); "
                f"{back}{_calibrated(r)}, and each of the T passes costs eval mode's one pass "
                f"plus the masks, while eval mode, with inverted dropout's 1/(1 − p) scaling, "
                f"{eval_}, in one pass: that is why dropout is switched off at test time.")
    if acc.direction < 0:
        return (f"Eval mode beats the Monte-Carlo average of T = {t} passes "
                f"({_claim(acc)}) with one pass instead of {t}: the deterministic pass "
                "is both the better and the cheaper choice.")
    return (f"Eval mode and the Monte-Carlo average of T = {t} passes cannot be told apart "
            f"at these seeds ({acc.verdict('', '')}), with one pass instead of {t}, while "
            "single noisy passes are not even repeatable: the deterministic pass is the "
            "efficient choice.")


def context(r: Result) -> dict:
    one, acc, nll = r.one_pass, r.mc("accuracy"), r.mc("NLL")
    flip = _pct(r.flip, "none measured (one pass only)")
    answer = (f"One pass with dropout left on (its expected accuracy, the mean over the "
              f"{r.t_max} single passes drawn) changes test accuracy by "
              f"{_over(one)} against eval mode "
              f"({_said(one, 'better', 'worse')}) and gives a different class for {flip} of "
              f"test images from one pass to the next; averaging T = {r.t_max} passes changes "
              f"accuracy by {_over(acc)} "
              f"({_said(acc, 'better', 'worse')}) and multiplies NLL by "
              f"{_over(nll)} ({_said(nll, 'higher', 'lower')}) at "
              f"{r.t_max} forward passes per prediction instead of one.")
    table, cost = rows_words(r.table, COLUMNS), costs(r.passes)
    for row in table:
        row["cost"] = cost[row["condition"]]
        if row["condition"] == ONE and 1 not in r.passes:
            row["nll"] = row["ece"] = "not measured (T = 1 not among the passes)"
    diffs = [c.row("higher", "lower") for c in r.against_eval.values()]
    excluded = ("" if r.trained is None or not r.diverged else
                f": {r.trained} trained, {r.diverged} diverged and not evaluated")
    return {"condition": r.condition, "seeds": r.models, "excluded": excluded,
            "passes": r.passes, "table": table, "diffs": diffs, "t_max": r.t_max,
            "one_pass": ONE, "first_pass": 1 in r.passes,
            "holm": holm_family(r.against_eval),
            "flip": flip, "spread": _spread(r.spread),
            "bootstrap_min": stats.BOOTSTRAP_MIN, "timing": timing_words(r),
            "answer": answer, "takeaway": _takeaway(r), "glance_words": glance_words(r)}


def draw(res: Results, r: Result, out: Path) -> dict[str, Path]:  # pragma: no mutate block
    from ..plots import band, panels, per_x, save

    mc = res.extra["test_time"]
    ev = next(row for row in r.table if row.condition == EVAL)
    fig, axes = panels(3, figsize=(14, 4))
    for ax, col in zip(axes, COLUMNS, strict=True):
        s = per_x(mc, "passes", col.key, res.level, col.bounds,
                  log=isinstance(col, PositiveColumn),  # the NLL: from the log scale
                  summarize=col.summarize if isinstance(col, BootstrapColumn) else None)
        band(ax, s["passes"], s["mean"], s["lo"], s["hi"], "average of T passes")
        e = ev.values[col.key]
        ax.axhline(e.value, color="black", lw=1, label="eval mode")
        if e.has_interval:
            ax.axhspan(e.lo, e.hi, color="black", alpha=0.1, lw=0)
        # eval mode inside the axis, its band too (its ECE line sat on the edge: referee read 4)
        ys = [e.lo, e.hi] if e.has_interval else [e.value]
        ax.update_datalim([(float(s["passes"].min()), y) for y in ys])
        ax.autoscale_view()
        if col.key in ("nll", "ece"):  # from 0: a zoomed axis drew a null as a steep climb
            ax.set_ylim(bottom=0)
        ax.set_xscale("log")
        ax.set_xlabel("passes T")
        ax.set_ylabel({"acc": "accuracy", "nll": "NLL (nats)", "ece": "ECE (15 bins)"}[col.key])
    axes[0].legend(fontsize=8)  # once: the three panels draw the same two things
    fig.suptitle("Dropout left on at test time, averaged over T passes")
    return {"passes": save(fig, out / "ex4_passes.png")}


def check(cfg: dict) -> None:
    """The models evaluated must be a condition that exercise 1 trains (and saves)."""
    ex = cfg["experiments"]
    lr, tt = ex.get("layer_rates", {}), ex[KEY]
    grid = {(float(a), float(b)) for a in lr.get("p1", []) for b in lr.get("p2", [])}
    if lr.get("swap"):
        a, b = (float(x) for x in lr["swap"])
        grid |= {(a, b), (b, a)}
    pair = tuple(float(x) for x in tt.get("rates", ()))
    if not lr.get("enabled") or pair not in grid:
        raise ConfigError(f"config key 'experiments.test_time.rates': {list(pair)} must be a "
                          "condition trained by experiments.layer_rates (enabled, in its "
                          "p1 x p2 grid), whose saved weights exercise 4 evaluates")


EXERCISE = Exercise(
    number=4, key=KEY, block=KEY, reads=("test_time", "test_time_models"),
    title="Why dropout is not used at test time",
    analyze=analyze, context=context, draw=draw, check=check,
    apart="two evaluations of the same trained models: no training noise between its arms",
    headline=lambda r: r.mc("accuracy"),  # the Monte-Carlo average of T_max passes − eval mode
    # drawn with it, as the row names them (referee, full study, third read: the calibration)
    beside=lambda r: ([r.one_pass] if r.one_pass.claim else []) + [c for _, c in calibration(r)],
    glance=GlanceWords(
        question="Why is dropout off at test time?",
        better="Monte-Carlo average better", worse="eval mode better",
        answer_better="Averaging many noisy passes beats the one deterministic pass, at many "
                      "times its cost; eval mode is the cheap, repeatable default.",
        answer_worse="One deterministic pass (eval mode) beats even the average of many noisy "
                     "passes, at a fraction of their cost.",
        answer_none="The average of many noisy passes is not detectably more accurate than "
                    "one deterministic pass (eval mode), which costs one pass instead of many: "
                    "dropout is switched off."))
