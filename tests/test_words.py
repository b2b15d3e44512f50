import math

from dropout_study import words
from dropout_study.stats import Estimate


def test_a_missing_value_is_said_in_words_never_nan():
    for text in (words.pct(Estimate(math.nan, n=0)), words.pp(Estimate(math.nan)),
                 words.ratio(Estimate(math.nan)), words.number(Estimate(math.nan, n=3))):
        assert text == "no value (no seed is stable in every arm)"
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
    assert words.seeds(1) == "1 seed" and words.seeds(3) == "3 seeds"
    assert words.join(["a"]) == "a" and words.join(["a", "b", "c"]) == "a, b and c"
    assert words.join(["a", "", "b"]) == "a and b"


def test_which_seeds_are_said_as_runs_of_consecutive_ones():
    assert words.seed_span([102, 100, 101]) == "seeds 100–102"
    assert words.seed_span([5]) == "seed 5" and words.seed_span([]) == "no seeds"
    assert words.seed_span([0, 1, 1, 2, 20, 21, 7]) == "seeds 0–2, 7 and 20–21"
