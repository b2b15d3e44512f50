"""The precision target's stopping rule on synthetic results: a noisy exercise gets more seeds,
a quiet one stops; the rule looks at the interval's width only."""

import math

import pytest

from dropout_study import precision
from dropout_study.exercises import layer_rates as lr_ex
from tests import synthetic as syn
from tests.exercises import test_long_training as lt

SEEDS = list(range(10))
GRID = {"p1": [0.0, 0.5], "p2": [0.0, 0.5], "swap": [0.2, 0.5]}
PRECISION = {"enabled": True, "points": 1.0, "factor": 1.1, "max_seeds": 20, "step": 5}


def study(noisy: float, quiet_effect: float = 0.0, swap_effect: float = 0.0,
          seeds=SEEDS, **precision_over):
    """Exercise 1 with a swap contrast of per-seed spread ``noisy`` (accuracy), exercise 2 with
    a paired spread of 0.4 points (quiet) and a planted effect ``quiet_effect``."""
    conds = {lr_ex.rates_name(a, b): {"rate1": a, "rate2": b, "factor_p1": a, "factor_p2": b}
             for a, b in lr_ex.rate_pairs(GRID)}

    def acc(cond, seed, epoch):
        return (0.85 + syn.noise(seed, 0.02) + syn.noise(seed, noisy, cond)
                + (swap_effect if cond == "p1=0.5,p2=0.2" else 0.0))

    rates = syn.run_tables("layer_rates", conds, seeds, 4, acc)
    long = lt.tables(effect=quiet_effect, seeds=seeds)
    metrics, runs = syn.combine(rates, (long.metrics, long.runs))
    cfg = syn.config(experiments={"layer_rates": GRID, "long_training": lt.BLOCK},
                     newer_edition={"enabled": False}, seeds=len(seeds), seeds_per_job=5,
                     precision=PRECISION | precision_over)
    return syn.results(cfg, metrics, runs), cfg


def decide(res, cfg, n=10):
    seeds = precision.round_seeds(cfg, [])
    seeds = {e: n for e in seeds}
    return precision.decide(precision.headlines(res, cfg), seeds, cfg)


def test_the_noisy_exercise_gets_more_seeds_and_the_quiet_one_stops():
    res, cfg = study(noisy=0.03)
    rows = {r["key"]: r for r in precision.headlines(res, cfg)}
    assert rows["layer_rates"]["half_width"] > 1.0 > rows["long_training"]["half_width"]
    assert rows["layer_rates"]["unit"] == "pp"
    d = decide(res, cfg)
    assert d["exercises"]["layer_rates"]["state"] == "more seeds"
    assert d["exercises"]["long_training"]["state"] == "target reached"
    assert d["next"]["layer_rates"] == 15 and d["next"]["long_training"] == 10
    assert d["next"]["sanity"] == 10 and not d["done"]  # experiments not read stay as they are


def test_a_quiet_study_is_done_after_one_round():
    res, cfg = study(noisy=0.002)
    d = decide(res, cfg)
    assert {e["state"] for e in d["exercises"].values()} == {"target reached"}
    assert d["done"] and d["next"] == precision.round_seeds(cfg, [])


def test_the_cap_stops_a_noisy_exercise_and_says_so():
    res, cfg = study(noisy=0.03)
    d = decide(res, cfg, n=20)
    assert d["exercises"]["layer_rates"]["state"] == "cap reached"
    assert d["done"]
    # a step past the cap is cut at the cap
    assert decide(res, cfg, n=18)["next"]["layer_rates"] == 20


def test_the_rule_ignores_the_sign_and_significance_of_the_headline():
    """A large claimed effect, its opposite, and none: the same spread, the same decision."""
    widths, claims, decisions = set(), [], []
    for effect in (0.08, -0.08, 0.0):
        res, cfg = study(noisy=0.03, swap_effect=effect)
        swap = lr_ex.analyze(res).swap
        claims.append(swap.direction)
        widths.add(round(precision.half_width(swap), 9))
        decisions.append(decide(res, cfg)["next"])
    assert claims == [1, -1, 0]  # a claim each way, and none
    assert len(widths) == 1 and decisions[0] == decisions[1] == decisions[2]
    assert decisions[0]["layer_rates"] == 15


def test_a_ratio_is_judged_as_a_factor():
    from dropout_study.contrast import Ratio
    from dropout_study.stats import Estimate

    class Head:
        quantity = Ratio("variance", unit="")
        primary = Estimate(0.3, math.log(1.0), math.log(1.21), n=10)

    assert precision.half_width(Head) == pytest.approx(1.1)
    assert precision.target_of(Head, precision.settings({"precision": PRECISION,
                                                          "seeds_per_job": 5})) \
        == (1.1, "a factor")


def test_round_boundaries_cut_the_seed_blocks():
    from dropout_study.plan import seed_blocks

    history = [{"layer_rates": 10}, {"layer_rates": 15}]
    assert precision.cuts(history) == {"layer_rates": (10, 15)}
    assert seed_blocks(list(range(20)), 10, (10, 15)) == [
        list(range(10)), list(range(10, 15)), list(range(15, 20))]
    assert seed_blocks(list(range(1000, 1003)), 2) == [[1000, 1001], [1002]]


def _smoke_cfg():
    from pathlib import Path

    from dropout_study import config as study_config

    root = Path(__file__).resolve().parents[1]
    return study_config.load(root / "config.yaml", overrides={
        "preset": "smoke", "precision": {"enabled": True, "max_seeds": 4, "step": 2}})


def test_a_round_s_planned_runs_are_every_seed_so_far():
    """The analysis of round 2 (and the report after it) reads the seeds every round trained,
    not the config's first round alone."""
    from dropout_study.results import planned_runs

    cfg = _smoke_cfg()
    first = planned_runs(cfg).runs.query("experiment == 'layer_rates'")
    second = planned_runs(cfg, {"layer_rates": 4}, {"layer_rates": (2,)}).runs
    second = second.query("experiment == 'layer_rates'")
    assert set(first["seed"]) == {0, 1}
    assert set(second["seed"]) == {0, 1, 2, 3}
    assert set(second["job"].str.split("-s").str[1]) == {"0000-0001", "0002-0003"}


def test_the_last_round_is_read_from_the_rounds_decisions(tmp_path):
    import json

    cfg = _smoke_cfg()
    assert precision.last_round(tmp_path, cfg) == (None, None)  # before any decision
    history = [{"layer_rates": 2}, {"layer_rates": 4}]
    for r, done in ((1, False), (2, True), (3, True)):  # a stale third round is not read
        (tmp_path / "rounds" / str(r)).mkdir(parents=True)
        (tmp_path / "rounds" / str(r) / "precision.json").write_text(json.dumps(
            {"done": done, "history": history[:r] if r < 3 else history + [{"x": 9}]}))
    assert precision.last_round(tmp_path, cfg) == ({"layer_rates": 4}, {"layer_rates": (2,)})
    off = cfg | {"precision": {"enabled": False}}
    assert precision.last_round(tmp_path, off) == (None, None)  # no target: the config's
