import math

from dropout_study import words
from dropout_study.stats import Estimate


def test_a_missing_value_is_said_in_words_never_nan():
    for text in (words.pct(Estimate(math.nan, n=0)), words.pp(Estimate(math.nan)),
                 words.ratio(Estimate(math.nan)), words.number(Estimate(math.nan, n=3))):
        assert text == "no value (no stable run to compute it from)"
        assert "nan" not in text and "n/a" not in text


def test_one_seed_has_a_value_and_says_it_has_no_interval():
    assert words.pct(Estimate(0.8123, n=1)) == "81.2% (one seed, no interval)"


def test_formats():
    e = Estimate(0.8181, 0.7989, 0.8373, 3)
    assert words.pct(e) == "81.8% [79.9, 83.7]"
    assert words.pp(Estimate(-0.0129, -0.0319, 0.0061, 3)) == "-1.29 pp [-3.19, +0.61]"
    assert words.ratio(Estimate(1.27, 1.25, 1.3, 3)) == "x1.27 [1.25, 1.30]"
    assert words.number(Estimate(0.4971, 0.3, 0.6, 3)) == "0.497 [0.300, 0.600]"


def test_a_difference_that_rounds_to_zero_has_no_sign():
    assert words.pp(Estimate(-0.00001, -0.003, 0.003, 3)) == "0.00 pp [-0.30, +0.30]"


def test_rates_seeds_and_lists():
    assert words.rate(3, 20, Estimate(0.15, 0.032, 0.379, 20)) == "3 of 20 (15% [3, 38])"
    assert words.rate(0, 0, Estimate(math.nan)) == "no runs"
    # an observed event's exact lower end is above 0, a missed one's upper end below 100:
    # neither prints as the bound (referee, full study: "1 of 10 (10% [0, 45])")
    assert words.rate(1, 10, Estimate(0.1, 0.00253, 0.44502, 10)) == "1 of 10 (10% [0.3, 45])"
    assert words.rate(1, 1000, Estimate(0.001, 0.0000253, 0.0056, 1000)) == \
        "1 of 1000 (0.1% [<0.1, 1])"
    assert words.rate(9, 10, Estimate(0.9, 0.55498, 0.99747, 10)) == "9 of 10 (90% [55, 99.7])"
    assert words.rate(0, 10, Estimate(0.0, 0.0, 0.308, 10)) == "0 of 10 (0% [0, 31])"
    assert words.rate(10, 10, Estimate(1.0, 0.692, 1.0, 10)) == "10 of 10 (100% [69, 100])"
    assert words.seeds(1) == "1 seed" and words.seeds(3) == "3 seeds"
    assert words.join(["a"]) == "a" and words.join(["a", "b", "c"]) == "a, b and c"
    assert words.join(["a", "", "b"]) == "a and b"


def test_which_seeds_are_said_as_runs_of_consecutive_ones():
    assert words.seed_span([102, 100, 101]) == "seeds 100–102"
    assert words.seed_span([5]) == "seed 5" and words.seed_span([]) == "no seeds"
    assert words.seed_span([0, 1, 1, 2, 20, 21, 7]) == "seeds 0–2, 7 and 20–21"


def test_an_interval_without_spread_is_said_in_words_not_printed_as_a_point():
    """Issue 31, finding 6: "77.3% [77.3, 77.3]" from two runs whose 3-epoch means coincide."""
    assert words.pct(Estimate(0.773, 0.773, 0.773, 2)) == "77.3% (no spread: all 2 values equal)"
    assert words.pp(Estimate(0.02, 0.02, 0.02, 9)) == "+2.00 pp (no spread: all 9 values equal)"
    assert words.ratio(Estimate(1.0, 1.0, 1.0, 10), 4) == "x1.0000 (no spread: all 10 values equal)"


def test_an_interval_whose_ends_round_alike_gets_the_decimals_that_tell_them_apart():
    """Issue 31, finding 6: "x0.996 [0.996, 0.996]" (rounding)."""
    assert words.ratio(Estimate(0.99612, 0.99581, 0.99644, 3), 3) == "x0.9961 [0.9958, 0.9964]"
    assert words.pct(Estimate(0.7731, 0.77305, 0.77318, 2)) == "77.31% [77.31, 77.32]"
    tiny = Estimate(0.5, 0.5 - 1e-12, 0.5 + 1e-12, 4)
    assert words.number(tiny, 2) == "0.50000 (its interval narrower than the last decimal)"
    # its absence: ends that differ at the asked precision keep it
    assert words.ratio(Estimate(1.27, 1.25, 1.3, 3)) == "x1.27 [1.25, 1.30]"


def test_a_measured_ratio_has_two_significant_digits():
    """Issue 31, finding 6: exercise 6's cost "x48.79" to four digits, where the choice of
    timer alone moves it to x28.3."""
    assert words.measured(Estimate(48.79, n=12)) == "x49"
    assert words.measured(Estimate(1.274, n=12)) == "x1.3"
    assert words.measured(Estimate(0.8612, n=12)) == "x0.86"
    assert words.measured(Estimate(9.96, n=12)) == "x10"
    assert words.measured(Estimate(math.nan, n=0)) == "no value (no stable run to compute it from)"


def test_an_end_that_excludes_the_null_never_prints_as_it():
    """Referee (full study): "-0.21 pp [-0.43, 0.00]" and "x0.95 [0.90, 1.00]" beside claims,
    where the true ends are -0.004 and 0.9991: one more decimal tells them from the null."""
    diff = Estimate(-0.00215, -0.00425, -0.00004, 10)
    assert words.pp(diff) == "-0.215 pp [-0.425, -0.004]"
    assert words.ratio(Estimate(0.95, 0.90, 0.9991, 10)) == "x0.950 [0.900, 0.999]"
    # its absence: an interval that contains the null, or whose ends print apart from it,
    # keeps its two decimals
    assert words.pp(Estimate(-0.00215, -0.00425, 0.00004, 10)) == "-0.21 pp [-0.43, 0.00]"
    assert words.ratio(Estimate(0.95, 0.90, 0.98, 10)) == "x0.95 [0.90, 0.98]"
