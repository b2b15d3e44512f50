"""Statistics as small pure functions: scores in, (estimate, interval) out.

Intervals are Student-t intervals over seeds; comparisons are paired by seed (the differences
of matched runs), and a family of comparisons is corrected with Holm's step-down procedure.
Knows nothing of files, frames or plots.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats as st


@dataclass(frozen=True)
class Estimate:
    mean: float
    lo: float
    hi: float
    n: int
    level: float = 0.95
    p: float = float("nan")  # two-sided p-value against zero (paired differences only)

    @property
    def half_width(self) -> float:
        return (self.hi - self.lo) / 2

    def excludes_zero(self) -> bool:
        return self.n >= 2 and (self.lo > 0 or self.hi < 0)


def mean_ci(x, level: float = 0.95) -> Estimate:
    """Mean and Student-t confidence interval; NaNs (diverged runs) are left out."""
    a = np.asarray(x, dtype=float)
    a = a[np.isfinite(a)]
    n = a.size
    if n == 0:
        return Estimate(np.nan, np.nan, np.nan, 0, level)
    m = float(a.mean())
    if n == 1:
        return Estimate(m, np.nan, np.nan, 1, level)
    sem = float(a.std(ddof=1)) / np.sqrt(n)
    h = float(st.t.ppf(0.5 + level / 2, n - 1)) * sem
    p = float(2 * st.t.sf(abs(m) / sem, n - 1)) if sem > 0 else (0.0 if m != 0 else 1.0)
    return Estimate(m, m - h, m + h, n, level, p)


def paired_diff(a, b, level: float = 0.95) -> Estimate:
    """a - b over matched seeds (pairs with a NaN on either side are left out)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"paired samples need equal shapes, got {a.shape} and {b.shape}")
    return mean_ci(a - b, level)


def holm(pvalues, alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Holm's step-down procedure: which hypotheses are rejected, and the per-test
    significance level at each one's step (alpha / (m - rank)), for matching intervals."""
    p = np.asarray(pvalues, dtype=float)
    m = p.size
    order = np.argsort(np.where(np.isfinite(p), p, np.inf), kind="stable")
    reject = np.zeros(m, dtype=bool)
    levels = np.empty(m)
    still = True
    for rank, i in enumerate(order):
        levels[i] = alpha / (m - rank)
        still = still and np.isfinite(p[i]) and p[i] <= levels[i]
        reject[i] = still
    return reject, levels


def holm_adjusted(pvalues) -> np.ndarray:
    """Holm-adjusted p-values (monotone, capped at 1)."""
    p = np.asarray(pvalues, dtype=float)
    m = p.size
    order = np.argsort(p, kind="stable")
    adj = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        adj[i] = running
    return adj


def paired_family(pairs: dict[str, tuple], level: float = 0.95) -> dict[str, tuple[Estimate, bool]]:
    """Paired differences for a family of comparisons, Holm-corrected.

    Each interval is drawn at the level of its Holm step, so a claim (``True``) is made exactly
    when the procedure rejects, and then that interval excludes zero."""
    names = list(pairs)
    raw = [paired_diff(*pairs[k], level=level) for k in names]
    reject, alphas = holm([e.p for e in raw], 1 - level)
    out = {}
    for k, r, a in zip(names, reject, alphas, strict=True):
        adj = paired_diff(*pairs[k], level=1 - a)
        out[k] = (adj, bool(r and adj.excludes_zero()))
    return out
