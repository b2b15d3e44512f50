"""What the exercises share beyond the contrast: per-condition summaries and their words."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from .. import stats, words
from ..contrast import Contrast, Sample
from ..instability import counts
from ..stats import Estimate


@dataclass(frozen=True)
class Column:
    """A per-run column summarised per condition: mean and interval over the stable runs."""

    key: str
    fmt: Callable[[Estimate], str]
    bounds: tuple[float, float] | None = None  # the quantity's range; intervals stay inside

    def summarize(self, values: pd.Series, level: float) -> Estimate:
        return stats.mean_ci(values, level, self.bounds)


def accuracy(key: str) -> Column:
    return Column(key, words.pct, (0.0, 1.0))


def points(key: str) -> Column:
    """A difference of accuracies (e.g. the train − test gap), in percentage points."""
    return Column(key, words.pp, (-1.0, 1.0))


def count(key: str) -> Column:
    """An epoch number or a count: one decimal, never negative."""
    return Column(key, lambda e: words.number(e, 1), (0.0, float("inf")))


def nonnegative(key: str, digits: int = 3) -> Column:
    return Column(key, lambda e: words.number(e, digits), (0.0, float("inf")))


@dataclass(frozen=True)
class PositiveColumn(Column):
    """A positive quantity (a loss, a calibration error, a spread) summarised as a geometric
    mean, its interval from the log scale: it never leaves (0, inf) and is never symmetric
    around a value near 0 (STUDY.md, "Positive quantities")."""

    def summarize(self, values: pd.Series, level: float) -> Estimate:
        e = stats.geometric_mean_ci(values, level)
        return e.clipped(*self.bounds) if self.bounds else e  # e.g. an ECE stays within 1


@dataclass(frozen=True)
class BootstrapColumn(Column):
    """A quantity at least 0 that may be 0 (a calibration error): its mean with a percentile
    bootstrap interval, which stays between its smallest and largest value, so above 0."""

    def summarize(self, values: pd.Series, level: float) -> Estimate:
        e = stats.mean_bootstrap_ci(values, level)
        return e.clipped(*self.bounds) if self.bounds else e


@dataclass(frozen=True)
class Censored(Estimate):
    """A test-loss rise over runs, with how many of them had none yet: their test loss is
    lowest at their last epoch, so the rise is 0 within the run and its minimum may lie beyond
    it (censored, not measured as zero)."""

    censored: int = 0


def rise_text(e: Estimate, digits: int = 3, unit: str = "") -> str:
    """A test-loss rise in words: where every run's test loss still falls to a new low in each
    epoch of the endpoint window (a rise of 0), that, not "0.000"; where some do, the value
    with how many."""
    k = getattr(e, "censored", 0)
    if e.n and k == e.n:
        runs = "its one run" if e.n == 1 else f"all {e.n} runs"
        return (f"no rise yet: the test loss still falls to a new low in every epoch of the "
                f"endpoint window in {runs}")
    text = words.number(e, digits) + (f" {unit}" if unit and words.missing(e) is None else "")
    return text + (f" ({k} of {e.n} runs still falling to a new low through the endpoint "
                   "window: no rise yet)" if k else "")


@dataclass(frozen=True)
class RiseColumn(Column):
    """The rise of the test loss above its minimum, its runs with no rise yet counted."""

    def summarize(self, values: pd.Series, level: float) -> Estimate:
        e = super().summarize(values, level)
        return Censored(e.value, e.lo, e.hi, e.n, e.level, e.p,
                        int((stats.finite(values) == 0).sum()))


def rise(key: str = "overfit", digits: int = 3) -> Column:
    return RiseColumn(key, lambda e: rise_text(e, digits), (0.0, float("inf")))


def log_sample(ends: pd.DataFrame, a: str, b: str, column: str) -> Sample:
    """Two conditions' values of a positive quantity matched by seed, on the log scale (NaN
    where a value is not positive): the sample of a ratio a / b."""
    s = Sample.of(ends, a, b, column)
    return replace(s, a=np.log(s.a.where(s.a > 0)), b=np.log(s.b.where(s.b > 0)))


def overfit_words(c: Contrast) -> tuple[str, str, str]:
    """A test-loss rise ratio's verdict words (a > b, a < b), and where a run compared
    collapsed and recovered, why they do not say "overfitting": its rise above its minimum may
    be the collapse's (referee, full study, third read: exercise 2's 4 no-dropout runs compared
    at lr 0.5 had all collapsed, and fit the training set worse, not better)."""
    k = c.compared_collapses_a + c.compared_collapses_b
    if not k:
        return "more overfitting", "less overfitting", ""
    return ("a larger test-loss rise", "a smaller test-loss rise",
            f"not read as overfitting: {k} of the {2 * c.pairs} runs compared collapsed and "
            "recovered, and a rise above the minimum may be the collapse's")


@dataclass(frozen=True)
class ConditionRow:
    condition: str
    runs: int
    unstable: int
    values: dict[str, Estimate]

    def n(self, key: str) -> int:
        return self.values[key].n


def summarize(ends: pd.DataFrame, order: list[str], columns: list[Column],
              level: float) -> list[ConditionRow]:
    """Per condition, each column's mean and interval over the runs stable in it."""
    rows = []
    for cond in order:
        g = ends[ends["condition"] == cond]
        ok = g[g["stable"]]
        rows.append(ConditionRow(cond, len(g), int((~g["stable"]).sum()),
                                 {c.key: c.summarize(ok[c.key], level) for c in columns}))
    return rows


def rows_words(rows: list[ConditionRow], columns: list[Column]) -> list[dict]:
    return [{"condition": r.condition, "runs": r.runs, "unstable": r.unstable,
             "n": r.values[columns[0].key].n,
             **{c.key: c.fmt(r.values[c.key]) for c in columns}} for r in rows]


def design(ends: pd.DataFrame, k: int) -> dict:
    """What was run: seeds, epochs, runs and failed runs (unstable at their endpoint, diverged
    or never trained) of an endpoints table, the counts by kind (those three, which never
    overlap, and the transient collapses of stable runs) and the number of last epochs the
    headline endpoint averages (k)."""
    c = counts(ends)
    return {"k": k, "seeds": int(ends["seed"].nunique()), "epochs": int(ends["epochs"].max()),
            "runs": len(ends), "unstable": int((~ends["stable"]).sum()),
            "collapses": c["collapses"], "endpoint_unstable": c["endpoint_unstable"],
            "diverged": c["diverged"], "never_trained": c["never_trained"]}


def bounded(contrasts: dict[str, Contrast], limit: float = 1.0) -> dict[str, Contrast]:
    """The primary intervals of accuracy differences kept inside [-limit, limit] (1: a
    difference of two accuracies; the verdicts are unchanged: clipping never moves an interval
    across zero)."""
    return {k: bounded_one(c, limit) for k, c in contrasts.items()}


def bounded_one(c: Contrast, limit: float = 1.0) -> Contrast:
    """One contrast's primary interval kept inside [-limit, limit] (see ``bounded``)."""
    return replace(c, primary=c.primary.clipped(-limit, limit))


def unstable_lr(failed: int, runs: int, off: str, lr: float, epochs: float) -> tuple[str, str]:
    """The protocol's caveat ("Both editions") where a learning rate makes the no-dropout
    baseline unstable: ``failed`` of its ``runs`` fail by the rule. The section's sentence and
    the summary row's, in that order; both "" where every no-dropout run is stable."""
    if not failed:
        return "", ""
    section = (f"{failed} of the {runs} no-dropout runs ({off}) at lr {lr:g} "
               f"{'is' if failed == 1 else 'are'} unstable by the rule (listed in this "
               "section), so this answer is one about an unstable learning rate, not the "
               f"exercise itself: where lr {lr:g} makes the no-dropout baseline unstable, the "
               "protocol reads an answer there as what happens at an unstable learning rate.")
    row = (f"Read at lr {lr:g}, where {failed} of the {runs} no-dropout runs fail within their "
           f"{epochs:g} epochs: an answer about an unstable learning rate.")
    return section, row


def baseline_caveat(ends: pd.DataFrame, epochs: float, label: str | None = None
                    ) -> tuple[str, str]:
    """``unstable_lr`` from an experiment's endpoints: its no-dropout runs (both rates 0, no
    weight decay) that fail by the rule, at their learning rate; ``label`` names them where
    they are several conditions (default: the one condition's name)."""
    off = ends[(ends["rate1"] == 0) & (ends["rate2"] == 0)]
    if "weight_decay" in off:
        off = off[off["weight_decay"].fillna(0) == 0]
    if off.empty:
        return "", ""
    names = sorted(off["condition"].unique())
    failed = int((~off["stable"].astype(bool)).sum())
    return unstable_lr(failed, len(off), label or ", ".join(names), float(off["lr"].iloc[0]),
                       epochs)
