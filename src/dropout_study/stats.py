"""Statistics as small pure functions: scores in, (estimate, interval) out.

Every interval comes from ``scipy.stats``: Student-t intervals over seeds (``ttest_1samp``),
exact Clopper–Pearson intervals for rates (``binomtest``), Newcombe's score interval for
a paired difference of rates, bootstrap intervals for robust
statistics (``bootstrap``), and the noncentral t for the smallest effect a design detects.
Comparisons are paired by seed; a family of comparisons is corrected with Holm's step-down
procedure. Knows nothing of files, frames or plots.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

NAN = float("nan")
# below any difference the study can resolve (a test set of 10 000 images resolves 1e-4): an
# interval end this close to zero touches it, float32 rounding aside (referee, full study,
# third read: a median's bootstrap interval ending at -1e-8 was read as excluding zero)
NOISE = 1e-6


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its interval, its n and (for tests against zero) its p-value."""

    value: float
    lo: float = NAN
    hi: float = NAN
    n: int = 0
    level: float = 0.95
    p: float = NAN  # two-sided p-value against zero (tests of a difference only)

    @property
    def has_interval(self) -> bool:
        return math.isfinite(self.lo) and math.isfinite(self.hi)

    def excludes_zero(self) -> bool:
        return self.has_interval and (self.lo > NOISE or self.hi < -NOISE)

    def contains(self, x: float) -> bool:
        return self.has_interval and self.lo <= x <= self.hi

    def clipped(self, lower: float = -math.inf, upper: float = math.inf) -> Estimate:
        """The same estimate with its interval kept inside the range of its quantity."""
        return replace(self, lo=min(max(self.lo, lower), upper),
                       hi=max(min(self.hi, upper), lower))

    def mapped(self, f: Callable[[float], float]) -> Estimate:
        """The estimate through a monotone increasing map (e.g. exp of a log-scale one)."""
        return replace(self, value=f(self.value), lo=f(self.lo), hi=f(self.hi))


def finite(x) -> np.ndarray:
    a = np.asarray(x, dtype=float).ravel()
    return a[np.isfinite(a)]


def mean_ci(x, level: float = 0.95, bounds: tuple[float, float] | None = None) -> Estimate:
    """Mean and Student-t interval; non-finite values (diverged runs) are left out.

    ``bounds`` is the range of the quantity (an accuracy in [0, 1]): the interval is cut
    there, never reported outside it."""
    a = finite(x)
    n = a.size
    if n == 0:
        return Estimate(NAN, n=0, level=level)
    m = float(a.mean())
    if n == 1:
        return Estimate(m, n=1, level=level)
    if np.all(a == a[0]):  # no spread: the interval is the point, the test is exact
        e = Estimate(m, m, m, n, level, 1.0 if m == 0 else 0.0)
    else:
        from scipy import stats as st
        test = st.ttest_1samp(a, 0.0)
        ci = test.confidence_interval(level)
        e = Estimate(m, float(ci.low), float(ci.high), n, level, float(test.pvalue))
    return e.clipped(*bounds) if bounds else e


def paired_values(a, b) -> tuple[np.ndarray, np.ndarray]:
    """The pairs (matched by position) where both sides are finite."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"paired samples need equal shapes, got {a.shape} and {b.shape}")
    keep = np.isfinite(a) & np.isfinite(b)
    return a[keep], b[keep]


def paired_diff(a, b, level: float = 0.95) -> Estimate:
    """a − b over matched seeds (pairs with a non-finite value on either side left out)."""
    a, b = paired_values(a, b)
    return mean_ci(a - b, level)


def log_ratio(a, b, level: float = 0.95) -> Estimate:
    """a / b for a positive quantity, paired: the geometric mean of the per-seed ratios with
    its t-interval on the log scale, mapped back (so the interval stays positive)."""
    a, b = paired_values(a, b)
    keep = (a > 0) & (b > 0)
    return mean_ci(np.log(a[keep] / b[keep]), level).mapped(math.exp)


def geometric_mean_ci(x, level: float = 0.95) -> Estimate:
    """Geometric mean of a positive quantity, its interval from the log scale (> 0)."""
    a = finite(x)
    return mean_ci(np.log(a[a > 0]), level).mapped(math.exp)


def clopper_pearson(k: int, n: int, level: float = 0.95) -> Estimate:
    """A rate k/n with its exact (Clopper–Pearson) interval."""
    if n == 0:
        return Estimate(NAN, n=0, level=level)
    from scipy import stats as st
    ci = st.binomtest(int(k), int(n)).proportion_ci(confidence_level=level, method="exact")
    return Estimate(k / n, float(ci.low), float(ci.high), n, level)


def wilson(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson's score interval for a rate k/n (the building block of Newcombe's)."""
    from scipy import stats as st
    ci = st.binomtest(int(k), int(n)).proportion_ci(confidence_level=level, method="wilson")
    return float(ci.low), float(ci.high)


def paired_rate_diff(x, y, level: float = 0.95) -> Estimate:
    """The difference of two rates measured on the same units, x − y, from 0/1 indicators
    matched by position (pairs with a missing side left out): Newcombe's (1998) hybrid score
    interval for paired proportions (his method 10), which stays honest at small n: at 3 of 3
    against 0 of 3 it is [+0.21, +1], never the degenerate [+1, +1]."""
    a, b = paired_values(x, y)
    n = a.size
    if n == 0:
        return Estimate(NAN, n=0, level=level)
    both = int(np.sum((a == 1) & (b == 1)))
    only_x = int(np.sum((a == 1) & (b == 0)))
    only_y = int(np.sum((a == 0) & (b == 1)))
    neither = n - both - only_x - only_y
    p1, p2 = (both + only_x) / n, (both + only_y) / n
    l1, u1 = wilson(both + only_x, n, level)
    l2, u2 = wilson(both + only_y, n, level)
    denom = (both + only_x) * (only_y + neither) * (both + only_y) * (only_x + neither)
    phi = (both * neither - only_x * only_y) / math.sqrt(denom) if denom else 0.0
    d = p1 - p2
    lower = d - math.sqrt(max((p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2)
                              + (u2 - p2) ** 2, 0.0))
    upper = d + math.sqrt(max((u1 - p1) ** 2 - 2 * phi * (u1 - p1) * (p2 - l2)
                              + (p2 - l2) ** 2, 0.0))
    return Estimate(d, max(lower, -1.0), min(upper, 1.0), n, level)


def median_ci(x, level: float = 0.95, seed: int = 0) -> Estimate:
    """Median with a bootstrap interval (BCa; the percentile method where BCa is undefined,
    e.g. with many ties). Deterministic: a fixed resampling seed."""
    a = finite(x)
    n = a.size
    if n == 0:
        return Estimate(NAN, n=0, level=level)
    m = float(np.median(a))
    if n < 2 or np.all(a == a[0]):
        return Estimate(m, m if n > 1 else NAN, m if n > 1 else NAN, n, level)
    ci = None
    for method in ("BCa", "percentile"):
        with warnings.catch_warnings():  # a degenerate BCa is caught below: NaN, then percentile
            warnings.simplefilter("ignore")
            from scipy import stats as st
            res = st.bootstrap((a,), np.median, confidence_level=level, method=method,
                               n_resamples=4999, random_state=np.random.default_rng(seed))
        ci = res.confidence_interval
        if np.isfinite(ci.low) and np.isfinite(ci.high):
            break
    return Estimate(m, float(ci.low), float(ci.high), n, level)


BOOTSTRAP_MIN = 5  # fewer values: a percentile bootstrap is their min–max span, and under-covers


def mean_bootstrap_ci(x, level: float = 0.95, seed: int = 0) -> Estimate:
    """Mean with a percentile bootstrap interval: for a quantity that is at least 0 and may be
    0 (a calibration error, a spread), where a log scale is undefined; the interval lies
    between the smallest and the largest value, so it never leaves the quantity's range.
    Under ``BOOTSTRAP_MIN`` values no interval (the resamples of 3 values cover little more
    than their range, far below the stated level). Deterministic: a fixed resampling seed."""
    a = finite(x)
    n = a.size
    if n == 0:
        return Estimate(NAN, n=0, level=level)
    m = float(a.mean())
    if n < 2:
        return Estimate(m, n=1, level=level)
    if np.all(a == a[0]):
        return Estimate(m, m, m, n, level)
    if n < BOOTSTRAP_MIN:  # the resampled means span little more than min–max: no interval
        return Estimate(m, n=n, level=level)
    from scipy import stats as st
    res = st.bootstrap((a,), np.mean, confidence_level=level, method="percentile",
                       n_resamples=4999, random_state=np.random.default_rng(seed))
    ci = res.confidence_interval
    return Estimate(m, float(ci.low), float(ci.high), n, level)


def prob_superiority(a, b) -> float:
    """P(a > b) over matched pairs, ties counting one half."""
    a, b = paired_values(a, b)
    if a.size == 0:
        return NAN
    return float(np.mean(a > b) + 0.5 * np.mean(a == b))


def min_detectable(sd: float, n: int, level: float = 0.95, power: float = 0.8) -> float:
    """The smallest true mean difference a two-sided paired t-test on n pairs detects with the
    given power, at the observed SD of the differences (the noncentral t)."""
    if n < 2 or not np.isfinite(sd):
        return NAN
    if sd == 0:
        return 0.0
    df = n - 1
    from scipy import optimize
    from scipy import stats as st
    t_crit = st.t.ppf(0.5 + level / 2, df)

    def shortfall(effect: float) -> float:
        nc = effect * math.sqrt(n) / sd
        # far in the tails scipy's noncentral t can return NaN: there the rejection
        # probability on the effect's side is ~1 and on the other side ~0
        right = float(np.nan_to_num(st.nct.sf(t_crit, df, nc), nan=float(nc > t_crit)))
        left = float(np.nan_to_num(st.nct.cdf(-t_crit, df, nc), nan=0.0))
        return right + left - power

    hi = sd
    while shortfall(hi) < 0:
        hi *= 2
    return float(optimize.brentq(shortfall, 0.0, hi, xtol=sd * 1e-6))


def holm(pvalues, alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Holm's step-down procedure: which hypotheses are rejected, and the per-test level at
    each one's step (alpha / (m − rank)), for matching intervals. Once a step is not
    rejected the procedure stops, and every hypothesis left keeps the level of that step
    (alpha / the number left), not the looser ones of later steps that never came (referee
    read 6: an interval at a later step's level was narrower than the correction allows). A
    NaN p-value is a test that was not made (too few pairs): it is not rejected, has no
    level and does not count in m."""
    p = np.asarray(pvalues, dtype=float)
    tested = np.flatnonzero(np.isfinite(p))
    m = tested.size
    reject = np.zeros(p.size, dtype=bool)
    levels = np.full(p.size, NAN)
    still, stopped = True, NAN
    for rank, i in enumerate(tested[np.argsort(p[tested], kind="stable")]):
        levels[i] = alpha / (m - rank) if still else stopped
        still = still and p[i] <= levels[i]
        if not still and stopped != stopped:  # the step where it stopped: its level holds on
            stopped = levels[i]
        reject[i] = still
    return reject, levels
