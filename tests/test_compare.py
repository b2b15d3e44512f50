"""``dropout-study compare A B`` on synthetic results folders with planted differences.

Each folder holds exercise 2's tables (its headline: test accuracy, dropout − none, a
difference in pp) and exercise 3's probe table (its headline: the eval-mode variance,
dropout / none, a ratio); the other exercises have no results in either folder.
"""

import json
import math

import numpy as np
import pytest
from scipy import stats as st

from dropout_study import cli
from dropout_study.compare import (
    AGREE,
    DIFFER,
    NOT_COMPARABLE,
    Row,
    Spread,
    cells,
    difference,
    load,
)
from dropout_study.compare import compare as compare_results
from dropout_study.config import deep_merge
from dropout_study.contrast import Quantity
from dropout_study.errors import UserError
from dropout_study.stats import Estimate, mean_ci
from tests import synthetic as syn
from tests.exercises import test_activation_variance as ex3
from tests.exercises import test_long_training as ex2

CFG = syn.config(experiments={"long_training": ex2.BLOCK}, data={"probe_size": 256})
T95_9 = st.t.ppf(0.975, 9)  # 10 seed pairs: 9 degrees of freedom


def study(folder, effect=0.01, ratio=1.3, cfg=CFG, seeds=ex2.SEEDS):
    """A results folder: dropout − none is ``effect`` in test accuracy, and dropout's
    eval-mode variance in layer 1 is ``ratio`` times no dropout's."""
    res = ex2.tables(effect=effect, seeds=seeds)
    return syn.write_results(folder, cfg, {
        "metrics": res.metrics, "runs": res.runs,
        "activations": ex3.activations(seeds, eval_ratio={1: ratio, 2: 1.0})})


def rows(a, b):
    """The compared rows by exercise key, and the lines of what neither folder answers."""
    found, neither = compare_results(load(a), load(b))
    return {r.exercise: r for r in found}, neither


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("studies")
    return {"a": study(root / "a"), "same": study(root / "same"),
            "shifted": study(root / "shifted", effect=0.04),
            "ratio": study(root / "ratio", ratio=1.5)}


def test_identical_studies_agree_on_every_row_with_no_difference(folders):
    found, neither = rows(folders["a"], folders["same"])
    assert set(found) == {"long_training", "activation_variance"}
    for r in found.values():
        assert r.verdict == AGREE and r.why == ""
        assert r.diff.value == 0.0 and r.diff.lo < 0 < r.diff.hi
        assert r.a == r.b and r.a.n == 10
    acc = found["long_training"]
    assert acc.setting == "older" and acc.headline == f"{ex2.ON} − {ex2.OFF}" and not acc.ratio
    assert acc.a.value == pytest.approx(0.01, abs=1e-12)
    assert found["activation_variance"].setting == ""
    # the exercises neither folder has results for are listed, not rows and not an error
    assert "10 sanity: no results for sanity in both" in neither
    assert "2 long_training (newer): no results for long_training in both" in neither


def test_a_planted_shift_in_one_exercise_differs_and_the_other_agrees(folders):
    found, _ = rows(folders["a"], folders["shifted"])
    acc, var = found["long_training"], found["activation_variance"]
    assert acc.verdict == DIFFER and acc.diff.lo > 0
    assert acc.diff.value == pytest.approx(0.03, abs=1e-12)  # B − A: +3 points
    assert acc.b.value == pytest.approx(0.04, abs=1e-12)
    # Welch: equal standard errors on 9 df each give sqrt(2)·se on 18 df
    se = (acc.a.hi - acc.a.lo) / 2 / T95_9
    assert acc.df == pytest.approx(18.0)
    assert (acc.diff.hi - acc.diff.lo) / 2 == pytest.approx(st.t.ppf(0.975, 18) * math.sqrt(2)
                                                            * se)
    assert var.verdict == AGREE and var.diff.value == 0.0


def test_the_difference_is_b_minus_a_and_swapping_the_folders_flips_it(folders):
    ab = rows(folders["a"], folders["shifted"])[0]["long_training"]
    ba = rows(folders["shifted"], folders["a"])[0]["long_training"]
    assert ba.diff.value == pytest.approx(-ab.diff.value, abs=1e-12) and ba.diff.value < 0
    assert (ba.diff.lo, ba.diff.hi) == pytest.approx((-ab.diff.hi, -ab.diff.lo))
    assert ba.verdict == DIFFER and (ba.a, ba.b) == (ab.b, ab.a)


def test_a_ratio_headline_is_compared_as_a_factor(folders, capsys):
    r = rows(folders["a"], folders["ratio"])[0]["activation_variance"]
    assert r.ratio and r.headline == f"{ex3.ON} / {ex3.OFF} (layer 1, epoch 10)"
    assert math.exp(r.a.value) == pytest.approx(1.3) and math.exp(r.b.value) == pytest.approx(1.5)
    assert math.exp(r.diff.value) == pytest.approx(1.5 / 1.3)  # the factor B / A
    assert r.verdict == DIFFER and math.exp(r.diff.lo) > 1
    assert cli.main(["compare", str(folders["a"]), str(folders["ratio"])]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines()
                if x.startswith("3 activation_variance"))
    assert "x1.30 [" in line and "x1.50 [" in line and "(n=10)" in line
    assert f"x{1.5 / 1.3:.2f} [" in line and line.rstrip().endswith(DIFFER)


def test_an_exercise_missing_in_one_folder_is_not_comparable(folders, tmp_path):
    off = deep_merge(CFG, {"experiments": {"long_training": {"enabled": False}}})
    found, _ = rows(folders["a"], study(tmp_path / "b", cfg=off))
    for r in found.values():  # exercises 2 and 3 both read the long-training runs
        assert r.verdict == NOT_COMPARABLE and r.diff is None and r.b is None
        assert r.why == "B: disabled (experiments.long_training.enabled is false)"
        assert r.a.n == 10


def test_a_side_without_an_interval_is_not_comparable_and_shows_its_value(folders, tmp_path):
    found, _ = rows(folders["a"], study(tmp_path / "b", seeds=[0]))
    acc = found["long_training"]
    assert acc.verdict == NOT_COMPARABLE and acc.diff is None
    assert acc.why == "no interval in B (1 seed stable in both arms)"
    assert acc.b.n == 1 and acc.b.value == pytest.approx(0.01 + ex2.jitter(ex2.ON, 0, 0.004)
                                                         - ex2.jitter(ex2.OFF, 0, 0.004))
    assert acc.a.n == 10


def test_a_folder_that_is_not_a_results_folder_is_named_with_what_it_lacks(folders, tmp_path,
                                                                            capsys):
    partial = tmp_path / "partial"
    partial.mkdir()
    (partial / "metrics.parquet").write_bytes(b"")
    with pytest.raises(UserError, match=r"partial: not a results folder: config\.json, "
                                        r"jobs\.json, runs\.parquet, activations\.parquet "
                                        r"missing"):
        load(partial)
    with pytest.raises(UserError, match="nowhere: no such folder"):
        load(tmp_path / "nowhere")
    assert cli.main(["compare", str(folders["a"]), str(partial)]) == 2
    assert "not a results folder" in capsys.readouterr().err


def test_the_table_says_what_agree_means_and_json_gives_the_numbers(folders, capsys):
    assert cli.main(["compare", str(folders["a"]), str(folders["shifted"])]) == 0
    out = capsys.readouterr().out
    assert "agree: the 95% interval of B − A contains 0" in out
    assert "independent, not paired" in out
    line = next(x for x in out.splitlines() if x.startswith("2 long_training"))
    assert "+1.00 pp [" in line and "+4.00 pp [" in line and "+3.00 pp [" in line
    assert line.rstrip().endswith(DIFFER)
    assert cli.main(["compare", "--json", str(folders["a"]), str(folders["shifted"])]) == 0
    doc = json.loads(capsys.readouterr().out)
    row = next(r for r in doc["rows"] if r["exercise"] == "long_training")
    assert row["verdict"] == DIFFER and row["unit"] == "pp" and row["setting"] == "older"
    assert row["b_minus_a"]["value"] == pytest.approx(3.0)
    assert row["b_minus_a"]["df"] == pytest.approx(18.0)
    assert row["a"]["n"] == 10 and doc["level"] == 0.95


def test_a_standard_error_is_read_back_from_a_t_interval_even_clipped_on_one_side():
    x = np.array([0.1, 0.3, 0.2, 0.6, 0.4])
    e = mean_ci(x)
    s = Spread.of(e)
    assert s.se == pytest.approx(x.std(ddof=1) / math.sqrt(5)) and s.df == 4 and s.n == 5
    assert Spread.of(e.clipped(-1.0, 0.45)).se == pytest.approx(s.se)  # hi cut at 0.45
    again = s.interval(0.95)
    assert (again.lo, again.hi) == pytest.approx((e.lo, e.hi))
    assert Spread.of(mean_ci([0.3])) is None  # one value: no interval


def test_welch_degrees_of_freedom_and_a_difference_without_spread():
    a, b = Spread(0.5, 0.1, 4, 5), Spread(0.8, 0.2, 9, 10)
    d = difference(a, b)
    assert d.value == pytest.approx(0.3) and d.se == pytest.approx(math.sqrt(0.05))
    assert d.df == pytest.approx(0.05 ** 2 / (0.1 ** 4 / 4 + 0.2 ** 4 / 9))
    none = difference(Spread(0.2, 0.0, 4, 5), Spread(0.2, 0.0, 4, 5)).interval(0.95)
    assert (none.value, none.lo, none.hi) == (0.0, 0.0, 0.0) and none.contains(0.0)
    one = difference(Spread(0.2, 0.0, 4, 5), Spread(0.5, 0.1, 9, 10))
    assert one.df == pytest.approx(9.0)  # only B's spread counts


def test_a_headline_in_another_unit_is_printed_in_its_own():
    nll = Quantity("test NLL", 1.0, "nats", 4)
    row = Row(4, "test_time", "", "mc − eval", nll, Estimate(0.0123, 0.01, 0.0146, 10),
              Estimate(0.02, 0.018, 0.022, 10), Estimate(0.0077, 0.005, 0.0104, 20), 17.0,
              DIFFER)
    assert cells(row)[3:7] == ["+0.0123 nats [+0.0100, +0.0146] (n=10)",
                               "+0.0200 nats [+0.0180, +0.0220] (n=10)",
                               "+0.0077 nats [+0.0050, +0.0104]", DIFFER]
    assert not row.ratio


def test_a_replication_on_fresh_seeds_is_compared_and_its_seeds_are_named(folders, tmp_path,
                                                                          capsys):
    """B trained seeds 10-19 (seed_offset 10) with the same planted effects: every row agrees,
    B − A is not zero (other seeds, other jitter), and the header and JSON say which seeds."""
    cfg = deep_merge(CFG, {"seed_offset": 10})
    fresh = study(tmp_path / "fresh", cfg=cfg, seeds=list(range(10, 20)))
    found, _ = rows(folders["a"], fresh)
    assert {r.verdict for r in found.values()} == {AGREE}
    assert all(r.diff.value != 0.0 and r.b.n == 10 for r in found.values())
    assert cli.main(["compare", str(folders["a"]), str(fresh)]) == 0
    out = capsys.readouterr().out
    assert f"A: {folders['a']} (preset full, seeds 0–9)" in out
    assert f"B: {fresh} (preset full, seeds 10–19)" in out
    assert cli.main(["compare", "--json", str(folders["a"]), str(fresh)]) == 0
    assert json.loads(capsys.readouterr().out)["seeds"] == {"a": list(range(10)),
                                                            "b": list(range(10, 20))}
