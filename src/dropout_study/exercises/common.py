"""What the exercises share beyond the contrast: per-condition summaries and their words."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from .. import stats, words
from ..contrast import MIN_PAIRS, Contrast, Quantity, Sample
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


def one_way(sample: Sample, label: str, quantity: Quantity, minimum: int = MIN_PAIRS,
            tail: bool = True) -> str | None:
    """What a contrast with too few stable pairs for a verdict shows, without a claim: where
    every seed pair stable in both arms points the same way, e.g. "on every one of the 2 seed
    pairs stable in both arms a − b is below zero (−7.00 to −3.10 pp); too few for a verdict
    (at least 3)" (``tail``: with that last clause). None where there is a verdict to make, no
    pair, or the pairs disagree."""
    df = sample.aligned()
    both = df[df["both"]]
    d = (both["a"] - both["b"]).to_numpy(dtype=float)
    d = d[np.isfinite(d)]
    if d.size == 0 or d.size >= minimum or not (np.all(d > 0) or np.all(d < 0)):
        return None
    side = "above" if d[0] > 0 else "below"
    lo, hi = (quantity.text(Estimate(x, n=2)) for x in (d.min(), d.max()))
    span = lo if d.size == 1 else f"{lo} to {hi}"
    which = ("on the only seed pair stable in both arms" if d.size == 1 else
             f"on every one of the {d.size} seed pairs stable in both arms")
    text = f"{which} {label} is {side} zero ({span})"
    return text + (f"; too few pairs for a verdict (at least {minimum})" if tail else "")
