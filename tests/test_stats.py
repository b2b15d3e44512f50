import numpy as np
import pytest
from scipy import stats as st

from dropout_study.stats import holm, holm_adjusted, mean_ci, paired_diff, paired_family

X = np.array([0.851, 0.862, 0.843, 0.870, 0.855, 0.849, 0.866, 0.858, 0.861, 0.847])
Y = X - np.array([0.004, 0.010, -0.002, 0.007, 0.003, 0.006, 0.001, 0.009, 0.002, 0.005])


def test_mean_ci_matches_scipy_t_interval():
    e = mean_ci(X)
    lo, hi = st.t.interval(0.95, len(X) - 1, loc=X.mean(), scale=st.sem(X))
    assert e.mean == pytest.approx(X.mean())
    assert (e.lo, e.hi) == pytest.approx((lo, hi))
    assert e.n == 10


def test_mean_ci_leaves_out_diverged_runs():
    e = mean_ci(np.append(X, np.nan))
    assert e.n == 10 and e.mean == pytest.approx(X.mean())


def test_paired_difference_matches_scipy_paired_t_test():
    e = paired_diff(X, Y)
    t = st.ttest_rel(X, Y)
    assert e.p == pytest.approx(t.pvalue)
    lo, hi = st.t.interval(0.95, 9, loc=(X - Y).mean(), scale=st.sem(X - Y))
    assert (e.lo, e.hi) == pytest.approx((lo, hi))
    assert e.excludes_zero() == (t.pvalue < 0.05)


def test_holm_hand_worked_example():
    p = [0.01, 0.04, 0.03, 0.005]
    reject, levels = holm(p, 0.05)
    assert reject.tolist() == [True, False, False, True]
    assert levels.tolist() == pytest.approx([0.05 / 3, 0.05 / 1, 0.05 / 2, 0.05 / 4])
    assert holm_adjusted(p).tolist() == pytest.approx([0.03, 0.06, 0.06, 0.02])


def test_holm_stops_at_the_first_non_rejection():
    reject, _ = holm([0.001, 0.03, 0.026], 0.05)  # 0.026 > 0.025 stops before 0.03 < 0.05
    assert reject.tolist() == [True, False, False]


def test_paired_family_claims_agree_with_their_intervals():
    rng = np.random.default_rng(0)
    a = rng.normal(0.85, 0.01, 10)
    pairs = {"big": (a + 0.02 + rng.normal(0, 0.002, 10), a),
             "none": (a + rng.normal(0, 0.002, 10), a)}
    fam = paired_family(pairs)
    est, claim = fam["big"]
    assert claim and est.excludes_zero() and est.level > 0.95
    assert fam["none"][1] is False


def test_paired_diff_refuses_unmatched_samples():
    with pytest.raises(ValueError):
        paired_diff(X, Y[:5])
