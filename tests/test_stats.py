import math

import numpy as np
import pytest
from scipy import stats as st

from dropout_study.stats import (
    Estimate,
    clopper_pearson,
    geometric_mean_ci,
    holm,
    log_ratio,
    mean_bootstrap_ci,
    mean_ci,
    median_ci,
    min_detectable,
    paired_diff,
    prob_superiority,
)

X = np.array([0.851, 0.862, 0.843, 0.870, 0.855, 0.849, 0.866, 0.858, 0.861, 0.847])
D = np.array([0.004, 0.010, -0.002, 0.007, 0.003, 0.006, 0.001, 0.009, 0.002, 0.005])
Y = X - D


def test_mean_ci_is_the_student_t_interval():
    e = mean_ci(X)
    lo, hi = st.t.interval(0.95, len(X) - 1, loc=X.mean(), scale=st.sem(X))
    assert e.value == pytest.approx(X.mean())
    assert (e.lo, e.hi) == pytest.approx((lo, hi))
    assert e.n == 10 and e.level == 0.95
    assert e.p == pytest.approx(st.ttest_1samp(X, 0).pvalue)


def test_mean_ci_at_another_level_is_wider():
    assert mean_ci(X, 0.99).hi - mean_ci(X, 0.99).lo > mean_ci(X).hi - mean_ci(X).lo


def test_mean_ci_leaves_out_non_finite_runs():
    e = mean_ci(np.append(X, [np.nan, np.inf]))
    assert e.n == 10 and e.value == pytest.approx(X.mean())


def test_mean_ci_with_one_or_no_value_has_no_interval():
    one, none = mean_ci([0.8]), mean_ci([np.nan])
    assert one.value == 0.8 and one.n == 1 and not one.has_interval
    assert none.n == 0 and math.isnan(none.value) and not none.has_interval


def test_mean_ci_of_constant_values_is_the_point():
    e = mean_ci([0.5, 0.5, 0.5])
    assert (e.value, e.lo, e.hi, e.p) == (0.5, 0.5, 0.5, 0.0)
    assert mean_ci([0.0, 0.0]).p == 1.0


def test_bounds_keep_an_interval_inside_the_range_of_its_quantity():
    e = mean_ci([0.99, 0.5, 0.995], bounds=(0.0, 1.0))
    assert e.hi == 1.0 and e.lo > 0
    assert mean_ci([0.99, 0.5, 0.995]).hi > 1.0  # unbounded, the t interval leaves [0, 1]
    low = mean_ci([0.01, 0.3, 0.0], bounds=(0.0, 1.0))
    assert low.lo == 0.0


def test_paired_difference_is_the_paired_t_test_a_minus_b():
    e = paired_diff(X, Y)
    t = st.ttest_rel(X, Y)
    assert e.value == pytest.approx(D.mean()) and e.value > 0
    assert e.p == pytest.approx(t.pvalue)
    lo, hi = st.t.interval(0.95, 9, loc=D.mean(), scale=st.sem(D))
    assert (e.lo, e.hi) == pytest.approx((lo, hi))
    assert paired_diff(Y, X).value == pytest.approx(-D.mean())


def test_paired_difference_drops_pairs_with_a_missing_side():
    a, b = X.copy(), Y.copy()
    a[2], b[5] = np.nan, np.nan
    e = paired_diff(a, b)
    assert e.n == 8
    assert e.value == pytest.approx(np.delete(D, [2, 5]).mean())


def test_paired_diff_refuses_unmatched_samples():
    with pytest.raises(ValueError, match="equal shapes"):
        paired_diff(X, Y[:5])


def test_log_ratio_is_the_geometric_mean_ratio_with_a_positive_interval():
    a = np.array([2.0, 4.0, 3.0, 5.0])
    b = np.array([1.0, 2.0, 1.0, 2.0])
    e = log_ratio(a, b)
    logs = np.log(a / b)
    assert e.value == pytest.approx(math.exp(logs.mean()))
    lo, hi = st.t.interval(0.95, 3, loc=logs.mean(), scale=st.sem(logs))
    assert (e.lo, e.hi) == pytest.approx((math.exp(lo), math.exp(hi)))
    assert e.lo > 0 and e.lo < e.value < e.hi
    assert log_ratio(b, a).value == pytest.approx(1 / e.value)


def test_geometric_mean_interval_stays_positive():
    e = geometric_mean_ci([0.001, 10.0, 0.01])
    assert e.lo > 0
    assert e.value == pytest.approx((0.001 * 10 * 0.01) ** (1 / 3))


def test_clopper_pearson_is_the_exact_binomial_interval():
    e = clopper_pearson(3, 20)
    assert e.value == pytest.approx(0.15) and e.n == 20
    assert e.lo == pytest.approx(st.beta.ppf(0.025, 3, 18))
    assert e.hi == pytest.approx(st.beta.ppf(0.975, 4, 17))
    zero = clopper_pearson(0, 10)
    assert zero.lo == 0.0 and zero.hi == pytest.approx(1 - 0.025 ** (1 / 10))
    assert clopper_pearson(0, 0).n == 0


def test_median_interval_is_a_deterministic_bootstrap_that_covers_the_median():
    d = np.array([0.3, -0.1, 0.5, 0.2, 0.4, 0.1, 0.6, 0.2, 0.3, 5.0])
    e = median_ci(d)
    assert e.value == pytest.approx(np.median(d))
    assert e.lo <= e.value <= e.hi and e.hi < 5.0  # robust to the outlier
    assert median_ci(d) == e
    assert median_ci([1.0, 1.0, 1.0]).lo == 1.0


def test_probability_of_superiority_counts_ties_as_half():
    assert prob_superiority([1, 2, 3, 4], [0, 2, 5, 1]) == pytest.approx((2 + 0.5) / 4)
    assert prob_superiority([1, np.nan], [0, 0]) == 1.0
    assert math.isnan(prob_superiority([np.nan], [0]))


def test_smallest_detectable_effect_has_the_stated_power():
    sd, n = 0.01, 10
    mde = min_detectable(sd, n)
    df, tc = n - 1, st.t.ppf(0.975, n - 1)
    nc = mde * math.sqrt(n) / sd
    power = st.nct.sf(tc, df, nc) + st.nct.cdf(-tc, df, nc)
    assert power == pytest.approx(0.8, abs=1e-4)
    assert 2.5 * sd / math.sqrt(n) < mde < 4 * sd / math.sqrt(n)
    assert min_detectable(sd, 40) < mde  # more seeds resolve smaller effects
    assert min_detectable(0.0, 5) == 0.0 and math.isnan(min_detectable(sd, 1))


def test_holm_hand_worked_example():
    p = [0.01, 0.04, 0.03, 0.005]
    reject, levels = holm(p, 0.05)
    assert reject.tolist() == [True, False, False, True]
    # 0.03 at α/2 is not rejected: Holm stops there, and 0.04 keeps that step's level (α/2),
    # not the α/1 of a step never reached (referee read 6)
    assert levels.tolist() == pytest.approx([0.05 / 3, 0.05 / 2, 0.05 / 2, 0.05 / 4])


def test_holm_stops_at_the_first_non_rejection():
    reject, levels = holm([0.001, 0.03, 0.026], 0.05)  # 0.026 > 0.025 stops before 0.03
    assert reject.tolist() == [True, False, False]
    assert levels.tolist() == pytest.approx([0.05 / 3, 0.05 / 2, 0.05 / 2])
    none, levels = holm([0.2, 0.5, 0.9], 0.05)  # nothing rejected: all at the first level
    assert not none.any() and levels.tolist() == pytest.approx([0.05 / 3] * 3)


def test_holm_leaves_untested_hypotheses_out_of_the_family():
    reject, levels = holm([0.02, np.nan, 0.03], 0.05)
    assert reject.tolist() == [True, False, True]
    assert levels[0] == pytest.approx(0.025) and levels[2] == pytest.approx(0.05)
    assert math.isnan(levels[1])


def test_estimate_helpers():
    e = Estimate(0.5, 0.2, 0.9, 5)
    assert e.contains(0.2) and e.contains(0.9) and not e.contains(0.1)
    assert e.excludes_zero() and not Estimate(0.1, -0.1, 0.3, 5).excludes_zero()
    assert Estimate(-0.2, -0.3, -0.1, 5).excludes_zero()
    assert not Estimate(0.5, n=1).excludes_zero()
    c = Estimate(0.5, -0.2, 1.4, 5).clipped(0.0, 1.0)
    assert (c.lo, c.hi) == (0.0, 1.0)
    m = Estimate(0.0, -1.0, 1.0, 3).mapped(math.exp)
    assert (m.value, m.lo, m.hi) == pytest.approx((1.0, math.exp(-1), math.e))


def test_median_interval_is_scipys_bca_bootstrap_at_the_given_level_and_seed():
    d = np.array([0.3, -0.1, 0.5, 0.2, 0.4, 0.1, 0.6, 0.2, 0.3, 0.9])
    for level, seed in ((0.95, 0), (0.9, 3)):
        ref = st.bootstrap((d,), np.median, confidence_level=level, method="BCa",
                           n_resamples=4999, random_state=np.random.default_rng(seed))
        e = median_ci(d, level, seed)
        assert (e.lo, e.hi) == pytest.approx((ref.confidence_interval.low,
                                              ref.confidence_interval.high))
        assert e.n == 10 and e.level == level


def test_median_interval_falls_back_to_percentiles_where_bca_is_undefined():
    d = np.array([0.0] * 9 + [1.0])  # BCa degenerates with so many ties
    e = median_ci(d)
    ref = st.bootstrap((d,), np.median, confidence_level=0.95, method="percentile",
                       n_resamples=4999, random_state=np.random.default_rng(0))
    assert (e.lo, e.hi) == pytest.approx((ref.confidence_interval.low,
                                          ref.confidence_interval.high))
    assert np.isfinite(e.lo) and np.isfinite(e.hi)
    assert median_ci([2.0]).n == 1 and not median_ci([2.0]).has_interval
    assert median_ci([]).n == 0


def test_the_bootstrap_mean_interval_stays_within_the_values_and_above_zero():
    """Issue 31 (referee, 16): a quantity that may be 0 (an ECE) gets an interval that
    respects its range, not a symmetric t-interval cut at 0."""
    x = [0.0, 0.0, 0.001, 0.05, 0.0]
    e = mean_bootstrap_ci(x)
    assert e.value == pytest.approx(np.mean(x)) and e.n == 5
    assert 0.0 <= e.lo < e.value < e.hi <= 0.05
    assert mean_ci(x).lo < 0  # what the t-interval would say
    assert mean_bootstrap_ci(x) == e  # deterministic
    assert not mean_bootstrap_ci([0.2]).has_interval
    same = mean_bootstrap_ci([0.1, 0.1])
    assert same.lo == same.hi == pytest.approx(0.1)
