"""Exercise 6's claims on synthetic tables with planted effects."""

import math
import re

import numpy as np
import pytest

from dropout_study import plots
from dropout_study import words as wd
from dropout_study.errors import ConfigError
from dropout_study.exercises import weight_dropout as ex
from tests import synthetic as syn

SEEDS = list(range(10))
METHODS = ["dropout", "dropconnect", "dropconnect_batch"]
RATES = [0.1, 0.3, 0.5]
EPOCHS = 6
SECONDS = {"dropout": 0.02, "dropconnect": 0.03, "dropconnect_batch": 0.02,
           "dropconnect_gaussian": 0.02}  # per model-epoch
E = "each at its best rate on validation"
COST = ("(one job per method: their epochs are not independent replicates, so each ratio is a "
        "measurement, with no interval and no verdict, to two significant digits (the timer "
        "read and the number of models a job trains together move it))")
EVAL_SECONDS = 0.01  # per model and epoch, the same for every method (eval uses mean weights)
PE, PB = "DropConnect, mask per example", "DropConnect, mask per minibatch"
PG = "Gaussian approximation of per-example DropConnect"
WITH_APPROX = ["dropout", "dropconnect", "dropconnect_gaussian"]
FIDELITY = f"{PE} (p=0.5) − {PG} (p=0.5)"


def name(method, p):
    return f"{method},p={p:g}"


def tables(effect=None, val_shift=None, seconds=None, diverged=None, nan=None, seeds=SEEDS,
           epochs=EPOCHS, methods=METHODS, spread=0.05, per_seed=None, untimed=None,
           level=0.95, rates_of=None, fidelity_rate=0.5):
    """Every method peaks at p = 0.3 (0.85, 2 points less at 0.1 and 0.5) plus a per-seed
    offset shared by all cells; ``effect`` adds a method's (or a cell's) planted effect on test
    and validation; ``val_shift`` moves a cell's validation accuracy alone. Each method trains
    in its own job, at ``seconds`` per model-epoch (± ``spread`` on the log scale per epoch)."""
    effect, val_shift, per_seed = effect or {}, val_shift or {}, per_seed or {}
    secs = {**SECONDS, **(seconds or {})}
    rates_of = rates_of or {}
    conds = {name(m, p): {"rate1": p, "rate2": p, "noise": m, "factor_method": m,
                          "factor_p": p} for m in methods for p in rates_of.get(m, RATES)}
    method_of = {c: f["factor_method"] for c, f in conds.items()}

    def own(cond, seed):  # a condition's own jitter, centred over the seeds
        return syn.noise(seed, 0.002, cond) - np.mean([syn.noise(s, 0.002, cond)
                                                       for s in seeds])

    def acc(cond, seed, epoch):
        if nan and (cond, seed) == nan:
            return float("nan")
        p = conds[cond]["factor_p"]
        return (0.85 - 0.5 * (p - 0.3) ** 2 + syn.noise(seed, 0.02)
                + own(cond, seed) + effect.get(method_of[cond], 0.0)
                + effect.get(cond, 0.0) + per_seed.get(cond, {}).get(seed, 0.0))

    def val(cond, seed, epoch):
        return acc(cond, seed, epoch) + val_shift.get(cond, 0.0)

    def train_seconds(cond, seed, epoch):  # the job's epoch: every model of it, one value
        m = method_of[cond]
        if (m, epoch) in (untimed or ()):
            return float("nan")
        centre = np.mean([syn.noise(e, spread, m) for e in range(1, epochs + 1)])
        return len(seeds) * secs[m] * math.exp(syn.noise(epoch, spread, m) - centre)

    cfg = syn.config(experiments={"weight_dropout": {"methods": methods, "rates": RATES,
                                                     "method_rates": rates_of,
                                                     "fidelity_rate": fidelity_rate}},
                     analysis={"confidence": level})
    metrics, runs = syn.run_tables("weight_dropout", conds, seeds, epochs, acc, diverged,
                                   extra={"val_acc": val, "train_seconds": train_seconds,
                                          "epoch_seconds": lambda c, s, e: train_seconds(c, s, e)
                                          + len(seeds) * EVAL_SECONDS},
                                   job_of=lambda c: f"j-{method_of[c]}")
    return syn.results(cfg, metrics, runs)


def run(**kw):
    return ex.analyze(tables(**kw))


def test_conditions_sweep_every_method_over_every_rate_on_both_layers():
    cfg = syn.config(experiments={"weight_dropout": {"methods": ["dropout", "dropconnect"],
                                                     "rates": [0.1, 0.5]}})
    conds = ex.conditions(cfg)
    assert [c.name for c in conds] == ["dropout,p=0.1", "dropout,p=0.5", "dropconnect,p=0.1",
                                       "dropconnect,p=0.5"]
    c = conds[2]
    assert (c.noise, c.rates, c.experiment) == ("dropconnect", (0.1, 0.1), "weight_dropout")
    assert dict(c.factors) == {"method": "dropconnect", "p": 0.1}


def test_check_needs_activation_dropout_and_a_weight_level_method():
    ok = syn.config(experiments={"weight_dropout": {"methods": ["dropout", "dropconnect"]}})
    ex.check(ok)
    del ok["experiments"]["weight_dropout"]["methods"]
    with pytest.raises(ConfigError) as err:
        ex.check(ok)
    assert str(err.value) == (
        "config key 'experiments.weight_dropout.methods': must include dropout and at least "
        "one weight-level method (activation dropout is what the others are compared with)")
    for methods in (["dropconnect", "dropconnect_batch"], ["dropout"]):
        bad = syn.config(experiments={"weight_dropout": {"methods": methods}})
        with pytest.raises(ConfigError, match="'experiments.weight_dropout.methods'"):
            ex.check(bad)


def timing(r, method):
    return next(t for t in r.timing if t.method == method)


def at_rates(r, method, rates):
    """The equal-rate claims of ``method`` as the words give them: each rate with its
    difference and n."""
    cs = [r.equal_rate[f"{name(method, p)} − {name('dropout', p)}"] for p in rates]
    assert all(c.claim for c in cs)
    return wd.join([f"{p:g} ({c.quantity.text(c.primary)} over {wd.seeds(c.pairs)})"
                    for p, c in zip(rates, cs, strict=True)])


def test_planted_better_and_worse_methods_at_their_best_rates():
    r = run(effect={"dropconnect": 0.01, "dropconnect_batch": -0.01})
    assert r.selected == {m: name(m, 0.3) for m in METHODS}
    pe = f"{PE} (p=0.3) − activation dropout (p=0.3)"
    pb = f"{PB} (p=0.3) − activation dropout (p=0.3)"
    assert {m: c.label for m, c in r.at_best.items()} == {"dropconnect": pe,
                                                         "dropconnect_batch": pb}
    e, b = r.at_best["dropconnect"], r.at_best["dropconnect_batch"]
    assert e.primary.value == pytest.approx(0.01) and e.primary.contains(0.01)
    assert b.primary.value == pytest.approx(-0.01) and b.primary.contains(-0.01)
    assert e.pairs == b.pairs == 10
    assert r.better == ["dropconnect"] and r.worse == ["dropconnect_batch"]
    levels = sorted(c.primary.level for c in r.at_best.values())
    assert levels == pytest.approx([0.95, 0.975])  # Holm over the two methods
    words = ex.context(r)
    ref = timing(r, "dropout").seconds
    r_pe, r_pb = (wd.measured(timing(r, m).ratio) for m in ("dropconnect", "dropconnect_batch"))
    w_pe, w_pb = (wd.measured(timing(r, m).whole) for m in ("dropconnect", "dropconnect_batch"))
    assert words["answer"] == (
        f"At each method's validation-selected rate, {pe}: {e.quantity.text(e.primary)} "
        f"(better than activation dropout); {pb}: {b.quantity.text(b.primary)} (worse than "
        f"activation dropout); training took activation dropout 0.020 s per model-epoch, and "
        f"{PE} took {r_pe} as long and {PB} took {r_pb} as long {COST}.")
    assert not ref.has_interval
    assert words["takeaway"] == (
        "Dropping individual weights is a finer-grained noise than dropping whole units: "
        f"here {PE} beats dropping units and {PB} does worse, {E}; at equal rates (Holm-corrected "
        f"within that family), {PE} beats activation dropout at p = "
        f"{at_rates(r, 'dropconnect', RATES)}; {PB} does worse than activation dropout at p = "
        f"{at_rates(r, 'dropconnect_batch', RATES)}; per-example DropConnect took "
        f"{r_pe} the time of activation dropout per model-epoch in the training loop and {w_pe} "
        "on the whole epoch, its evaluation included (every example draws its own mask on the "
        "weights), as measured on one job of 10 models against one job of 10 models; the "
        f"per-minibatch variant took {r_pb} the time of activation dropout per model-epoch in "
        f"the training loop and {w_pb} on the whole epoch, its evaluation included, as "
        f"measured on one job of 10 models against one job of 10 models {COST}. At test time "
        "every method uses the mean weights (the deterministic network).")
    assert [d["contrast"] for d in words["diffs"]] == [pe, pb]
    assert words["diffs"][1]["verdict"] == "worse than activation dropout"
    assert words["methods"] == ["activation dropout", PE, PB]
    assert words["rates"] == RATES
    assert (words["seeds"], words["epochs"], words["runs"], words["k"]) == (10, EPOCHS, 90, 3)


def test_only_a_better_method_pays_off_and_no_worse_is_said():
    r = run(effect={"dropconnect": 0.01})
    t = ex.context(r)["takeaway"]
    assert (f"units: here it pays off in accuracy ({PE} beats dropping units, {E}); at equal "
            f"rates (Holm-corrected within that family), {PE} beats activation dropout at p = "
            f"{at_rates(r, 'dropconnect', RATES)}; per") in t
    assert "worse" not in t
    both = ex.context(run(effect={"dropconnect": 0.01, "dropconnect_batch": 0.01}))
    assert f"({PE} and {PB} beat dropping units, {E}); at equal rates" in both["takeaway"]
    two = ex.context(run(effect={"dropconnect": 0.02, "dropconnect_batch": -0.01,
                                 "dropout": -0.005}))
    assert r.worse == [] and (f"here {PE} beats dropping units and {PB} does worse, {E};"
                              in two["takeaway"])
    down = ex.context(run(effect={"dropconnect": -0.01, "dropconnect_batch": -0.01}))
    assert (f"units: here it does worse than dropping units ({PE} and {PB}, {E}); at equal rates"
            in down["takeaway"])


def test_only_a_worse_method_is_said_worse_and_no_better():
    r = run(effect={"dropconnect_batch": -0.01})
    t = ex.context(r)["takeaway"]
    assert f"units: here it does worse than dropping units ({PB}, {E}); at equal rates" in t
    assert "better" not in t and "pays off" not in t


def test_claims_at_equal_rates_are_said_beside_a_null_at_the_best_rates():
    """Referee (full study, second read): "cannot be told apart" at the rates validation
    picked (p = 0.1) stood in the takeaway and the summary row for weight dropout at every
    rate, while the equal-rate family found per-example DropConnect better at p = 0.5 and 0.7
    and the per-minibatch variant worse at p = 0.3."""
    r = run(effect={name("dropconnect", 0.5): -0.03})
    assert r.selected["dropconnect"] != name("dropconnect", 0.5)
    assert not r.at_best["dropconnect"].claim
    worse = r.equal_rate[f"{name('dropconnect', 0.5)} − {name('dropout', 0.5)}"]
    assert worse.claim and worse.direction == -1
    said = (f"t equal rates (Holm-corrected within that family), {PE} does worse than "
            f"activation dropout at p = 0.5 ({worse.quantity.text(worse.primary)} over 10 seeds)")
    assert worse.quantity.text(worse.primary).startswith("-3.00 pp [")  # the planted -0.03
    words = ex.context(r)
    assert f"; a{said};" in words["takeaway"]
    assert words["glance_words"]["answer"].endswith(f"cannot be told apart. A{said}.")
    # its absence: no equal-rate claim, nothing said of equal rates
    flat = ex.context(run())
    assert "equal rates" not in flat["takeaway"] + flat["glance_words"]["answer"]


def test_no_planted_effect_gives_no_claim_with_its_resolution():
    r = run()
    assert not r.better and not r.worse
    for c in r.at_best.values():
        assert c.primary.contains(0.0) and not c.claim
    words = ex.context(r)
    assert words["answer"].count("no detectable difference at 10 seeds") == 2
    assert "would likely be missed" in words["answer"]
    assert words["takeaway"].startswith(
        "Dropping individual weights is a finer-grained noise than dropping whole units: here "
        "it cannot be told apart from dropping units (")
    # each null with its n and resolution (referee read 4, 8)
    nulls = [f"{ex.method_name(m)}: no detectable difference at 10 seeds: none larger than "
             f"{c.quantity.size(c.mde)} would likely be missed" for m, c in r.at_best.items()]
    assert f"units ({'; '.join(nulls)}), each at its best rate on validation; per-example " \
        "DropConnect " in words["takeaway"]
    assert "worse" not in words["takeaway"] and "better" not in words["takeaway"]


def test_validation_not_test_picks_each_methods_rate():
    # on test, dropout is best at p = 0.1 (by 3 points); on validation at p = 0.5
    r = run(effect={name("dropout", 0.1): 0.05}, val_shift={name("dropout", 0.1): -0.08,
                                                            name("dropout", 0.5): 0.03})
    assert r.selected["dropout"] == name("dropout", 0.5)
    shared = np.mean([syn.noise(s, 0.02) for s in SEEDS])
    assert r.selected_val["dropout"] == pytest.approx(0.85 - 0.02 + 0.03 + shared)
    c = r.at_best["dropconnect"]
    assert c.label == f"{PE} (p=0.3) − activation dropout (p=0.5)"
    assert c.primary.value == pytest.approx(0.02)
    words = ex.context(r)
    # referee read 8: p = 0.5 is the largest rate run, so a better one beyond is not excluded
    assert {"method": "activation dropout", "p": "0.5", "end": ", the largest rate it ran",
            "val": f"{100 * (0.86 + shared):.1f}%"} in words["selected"]
    md = syn.section_markdown(ex.EXERCISE, words, {"sweep": "f.png"})
    assert ("activation dropout at p = 0.5, the largest rate it ran (validation accuracy" in
            " ".join(md.split()))
    assert "A better rate beyond those run is not excluded where a pick is an end of them" in md
    marks = {row["condition"]: row["selected"] for row in words["table"]}
    assert marks[name("dropout", 0.5)] == "selected" and marks[name("dropout", 0.1)] == ""


def test_equal_rate_contrasts_form_a_holm_family_with_their_sign():
    r = run(effect={name("dropconnect", 0.5): 0.02})
    keys = [f"{name(m, p)} − {name('dropout', p)}" for m in METHODS[1:] for p in RATES]
    assert list(r.equal_rate) == keys
    c = r.equal_rate[f"{name('dropconnect', 0.5)} − {name('dropout', 0.5)}"]
    assert c.primary.value == pytest.approx(0.02, abs=3e-3) and c.direction == 1
    assert c.primary.level == pytest.approx(1 - 0.05 / 6)  # the first of Holm's 6 steps
    assert sum(x.claim for x in r.equal_rate.values()) == 1
    assert len(ex.context(r)["equal_rate"]) == 6


def test_a_diverged_seed_leaves_the_primary_contrast_and_is_counted():
    # the unstable setting ranks last (referee 4): the comparison is at a stable rate
    r = run(effect={"dropconnect": 0.01}, diverged={(name("dropconnect", 0.3), 4): 2})
    assert r.selected["dropconnect"] != name("dropconnect", 0.3)
    row = next(t for t in r.table if t.condition == name("dropconnect", 0.3))
    assert (row.runs, row.unstable, row.n("endpoint")) == (10, 1, 9)
    assert r.design["unstable"] == 1


def test_an_unstable_setting_ranks_last_and_shows_its_all_runs_validation_mean():
    """Referee 4: the best rate by selection.validation_ranking (an unstable setting ranks
    below every stable one, scored over all its runs), and the table's validation column of a
    setting whose runs are all unstable shows that mean, not "no value"."""
    # dropconnect at 0.3 is the best on validation; then all its runs are marked unstable
    r = run(val_shift={name("dropconnect", 0.3): 0.05})
    assert r.selected["dropconnect"] == name("dropconnect", 0.3)  # its absence: all stable
    res = tables(val_shift={name("dropconnect", 0.3): 0.05})
    ends = res.endpoints
    ends.loc[ends["condition"] == name("dropconnect", 0.3), "stable"] = False
    r = ex.analyze(res)
    assert r.selected["dropconnect"] != name("dropconnect", 0.3)  # ranked last
    mine = ends[ends["condition"] == name("dropconnect", 0.3)]
    row = next(t for t in r.table if t.condition == name("dropconnect", 0.3))
    assert row.values["val_endpoint"].value == pytest.approx(mine["val_endpoint"].mean())
    assert row.values["val_endpoint"].n == 10
    cell = next(x for x in ex.context(r)["table"] if x["condition"] == name("dropconnect", 0.3))
    assert "no value" not in cell["val_endpoint"]
    assert cell["val_endpoint"].endswith("(all 10 runs, 10 failed)")


def test_a_nan_endpoint_leaves_the_pair_out():
    r = run(effect={"dropconnect": 0.01}, nan=(name("dropout", 0.3), 5))
    assert r.selected["dropout"] != name("dropout", 0.3)  # an unstable setting ranks last
    c = r.equal_rate[f"{name('dropconnect', 0.3)} − {name('dropout', 0.3)}"]
    assert c.pairs == 9 and c.claim


def test_a_single_surviving_seed_gives_no_verdict():
    dead = {(name(m, p), s): 1 for m in METHODS for p in RATES for s in SEEDS[1:]}
    r = run(effect={"dropconnect": 0.05, "dropconnect_batch": -0.05}, diverged=dead)
    assert all(c.pairs == 1 and not c.tested and not c.claim for c in r.at_best.values())
    words = ex.context(r)
    assert "no verdict: 1 seed pair stable in both arms, at least 3 needed" in words["answer"]
    assert words["takeaway"].startswith(
        "Dropping individual weights is a finer-grained noise than dropping whole units: here "
        "too few seeds are stable for a verdict; ")
    assert "worse" not in words["takeaway"] and "pays off" not in words["takeaway"]


def test_a_method_without_enough_pairs_is_named_beside_the_verdict():
    dead = {(name("dropconnect_batch", p), s): 1 for p in RATES for s in SEEDS[2:]}
    r = run(effect={"dropconnect": 0.01}, diverged=dead)
    t = ex.context(r)["takeaway"]
    assert f"({PE} beats dropping units, {E}) (no verdict on {PB}: too few stable seed pairs)" in t


def test_accuracy_intervals_stay_inside_zero_and_one():
    r = run(effect={name("dropconnect", 0.5): 0.13}, seeds=[0, 1])
    for row in r.table:
        for e in row.values.values():
            assert 0.0 <= e.lo <= e.value <= e.hi <= 1.0
    top = next(t for t in r.table if t.condition == name("dropconnect", 0.5))
    assert top.values["endpoint"].hi == 1.0  # the raw t-interval would pass 100%


def test_the_cost_is_a_measured_ratio_of_one_job_each_with_no_verdict_or_interval():
    """Referee 5: one job per method, its epochs are not replicates: the ratio is said as
    measured, with no interval and no "costlier"/"cheaper"/"faster" verdict, even when large."""
    for factor in (3.0, 0.7, 42.0):
        r = run(seconds={"dropconnect": 0.02 * factor})
        t = {x.method: x for x in r.timing}
        assert t["dropout"].ratio is None and t["dropout"].seconds.n == EPOCHS
        pe = t["dropconnect"]
        assert pe.ratio.value == pytest.approx(factor, rel=0.03)
        assert not pe.ratio.has_interval and not pe.seconds.has_interval
        assert (pe.jobs, pe.models) == (1, 10)
        words = ex.context(r)
        whole = (0.02 * factor + EVAL_SECONDS) / (0.02 + EVAL_SECONDS)
        assert pe.whole.value == pytest.approx(whole, rel=0.03)  # the other timer moves it
        assert (f"per-example DropConnect took {wd.measured(pe.ratio)} the time of activation "
                f"dropout per model-epoch in the training loop and {wd.measured(pe.whole)} on "
                "the whole epoch, its evaluation included (every example draws its own mask on "
                "the weights), as measured on one job of 10 models against one job of 10 "
                "models") in words["takeaway"]
        assert COST in words["takeaway"] and COST in words["answer"]
        rows = {x["method"]: x for x in words["timing"]}
        assert "verdict" not in rows[PE] and "level" not in rows[PE]
        assert rows["activation dropout"]["relative"] == "reference"
        assert not any(w in words["takeaway"] + words["answer"]
                       for w in ("costlier", "cheaper", "faster", "costs x", "not resolved"))

def test_ratio_of_means_is_the_ratio_of_geometric_means_with_welch_interval():
    a, b = np.array([2.0, 4.0, 8.0]), np.array([1.0, 1.0, 2.0, 2.0])
    e = ex.ratio_of_means(a, b)
    assert e.value == pytest.approx(4.0 / math.sqrt(2.0))
    assert e.lo < e.value < e.hi and e.lo > 0 and e.n == 7
    from scipy import stats as st

    ci = st.ttest_ind(np.log(a), np.log(b), equal_var=False).confidence_interval(0.95)
    assert (e.lo, e.hi) == pytest.approx((math.exp(ci.low), math.exp(ci.high)))
    assert ex.ratio_of_means(b, a).value == pytest.approx(1 / e.value)  # a / b, not b / a
    exact = ex.ratio_of_means([3.0, 3.0], [1.0, 1.0, 1.0], 0.9)
    assert (exact.value, exact.lo, exact.hi, exact.p) == (pytest.approx(3.0),) * 3 + (0.0,)
    assert (exact.n, exact.level) == (5, 0.9)
    same = ex.ratio_of_means([2.0, 2.0], [2.0, 2.0])
    assert same.value == pytest.approx(1.0) and same.p == 1.0
    one = ex.ratio_of_means([3.0], [1.0, 2.0])
    assert one.value == pytest.approx(3.0 / math.sqrt(2.0)) and not one.has_interval
    half = ex.ratio_of_means([3.0, 3.0], [1.0, 2.0])  # one side without spread: Welch
    assert half.value == pytest.approx(3.0 / math.sqrt(2.0)) and half.lo < half.value < half.hi
    empty = ex.ratio_of_means([], [1.0], 0.9)
    assert (math.isnan(empty.value), empty.n, empty.level) == (True, 0, 0.9)
    single = ex.ratio_of_means([3.0], [1.0, 2.0], 0.9)
    assert (single.n, single.level) == (3, 0.9)
    assert ex.ratio_of_means([0.0, -1.0, 2.0, 2.0], [1.0, 1.0]).value == pytest.approx(2.0)


def test_seconds_keep_two_or_three_significant_digits():
    from dropout_study.stats import Estimate

    assert ex.seconds_text(Estimate(0.02, 0.019, 0.021, 6)) == "0.020 s [0.019, 0.021]"
    assert ex.seconds_text(Estimate(0.00123, 0.0011, 0.0013, 6)) == \
        "0.0012 s [0.0011, 0.0013]"
    assert ex.seconds_text(Estimate(float("nan"))) == "no value (no stable run to compute it from)"
    # issue 31 (referee read 7): a time of seconds is not printed to four digits
    assert ex.seconds_text(Estimate(0.2031, 0.2, 0.21, 6)) == "0.203 s [0.200, 0.210]"
    assert ex.seconds_text(Estimate(8.9961, 8.9, 9.1, 2)) == "9.00 s [8.90, 9.10]"
    assert ex.seconds_text(Estimate(155.8, 150.0, 160.2, 3)) == "156 s [150, 160]"


def test_the_section_renders_with_its_answer(tmp_path):
    res = tables(effect={"dropconnect": 0.01})
    r = ex.analyze(res)
    figures = ex.draw(res, r, tmp_path)
    assert figures["sweep"].exists()
    assert plots.OVERLAPS[str(figures["sweep"])] == []  # the cost panel's slanted names overlapped
    md = syn.section_markdown(ex.EXERCISE, ex.context(r), {"sweep": "figures/ex6_sweep.png"}, k=3)
    assert "## Exercise 6: Dropout on the weights instead of the activations" in md
    assert "At each method's validation-selected rate" in md
    assert "| dropconnect,p=0.3 | DropConnect, mask per example | 0.3 |" in md
    assert "Picked on validation: activation dropout at p = 0.3" in md
    assert "**What was run.** Activation dropout at p ∈" in md  # referee read 9: a capital
    assert not re.search(r"\bnan\b|n/a", md.lower())


def test_the_exercise_record():
    e = ex.EXERCISE
    assert (e.number, e.key, e.block, e.reads) == (6, "weight_dropout", "weight_dropout",
                                                  ("weight_dropout",))
    assert e.trains == {"weight_dropout": ex.conditions} and e.check is ex.check


def test_without_activation_dropout_runs_nothing_is_compared():
    # e.g. its jobs failed under --keep-going: the weight-level methods stand alone
    r = run(methods=["dropconnect", "dropconnect_batch"])
    assert r.at_best == {} and r.equal_rate == {} and not r.better
    assert [t.method for t in r.timing] == ["dropconnect", "dropconnect_batch"]
    assert all(t.ratio.n == 0 for t in r.timing)
    words = ex.context(r)
    assert words["answer"] == ("At each method's validation-selected rate, no comparison "
                               "(activation dropout or every weight-level method lacks a "
                               "stable run).")
    assert "per-example DropConnect's cost cannot be compared: activation dropout or it has " \
        "no timings" in words["takeaway"]


def test_the_words_of_the_tables():
    r = run(effect={"dropconnect": 0.01}, seconds={"dropconnect_batch": 0.014})
    words = ex.context(r)
    first = words["table"][0]
    assert (first["condition"], first["method"], first["p"], first["selected"]) == \
        ("dropout,p=0.1", "activation dropout", "0.1", "")
    assert [row["condition"] for row in words["table"]] == [
        name(m, p) for m in METHODS for p in RATES]
    assert [row["selected"] for row in words["table"]] == ["", "selected", ""] * 3
    assert words["selected"][1] == {"method": PE, "p": "0.3", "end": "",  # inside its rates
                                    "val": f"{100 * r.selected_val['dropconnect']:.1f}%"}
    md = syn.section_markdown(ex.EXERCISE, words, {"sweep": "f.png"})
    assert "not excluded where a pick is an end" not in md
    rows = words["timing"]
    assert rows[0] == {"method": "activation dropout",
                       "seconds": ex.seconds_text(timing(r, "dropout").seconds), "n": EPOCHS,
                       "relative": "reference", "whole": "reference", "jobs": 1,
                       "models": 10}
    assert rows[1]["relative"] == wd.measured(timing(r, "dropconnect").ratio)
    assert rows[1]["whole"] == wd.measured(timing(r, "dropconnect").whole)
    assert len(words["equal_rate"]) == 6


def test_timings_are_per_model_epoch_with_the_jobs_method():
    res = tables()
    per = ex.timings(res, res.ends("weight_dropout"))
    assert len(per) == 3 * EPOCHS  # one job per method, one row per epoch
    assert set(per["method"]) == set(METHODS)
    got = per.groupby("method")["seconds"].apply(lambda s: np.exp(np.log(s).mean()))
    assert got.to_dict() == pytest.approx({m: SECONDS[m] for m in METHODS})


def test_a_difference_of_accuracies_stays_inside_plus_minus_100_points():
    # three seeds, one cell falling by very different amounts (staying above chance, so
    # that the runs trained): the raw t-interval of the
    # difference passes -100 points (the quick report printed -62.28 pp [-108.04, -16.51])
    cond = name("dropconnect_batch", 0.5)
    r = run(seeds=[0, 1, 2], per_seed={cond: {0: -0.6, 1: -0.05, 2: -0.62}})
    c = r.equal_rate[f"{cond} − {name('dropout', 0.5)}"]
    assert c.primary.value == pytest.approx(-0.4233, abs=1e-3)
    assert (c.primary.lo, c.primary.hi) == (-1.0, 1.0) and not c.claim  # at Holm's 99.17%
    assert all(-1.0 <= x.primary.lo <= x.primary.hi <= 1.0
               for x in (*r.equal_rate.values(), *r.at_best.values()))
    assert ex.context(r)["equal_rate"][5]["diff"] == "-42.33 pp [-100.00, +100.00]"


def test_the_methods_follow_the_config_with_activation_dropout_first():
    res = tables()
    res.cfg["experiments"]["weight_dropout"]["methods"] = ["dropconnect_batch", "dropconnect",
                                                           "dropout"]
    r = ex.analyze(res)
    assert r.methods == ["dropout", "dropconnect_batch", "dropconnect"]
    assert [t.method for t in r.timing] == r.methods
    assert list(r.at_best) == ["dropconnect_batch", "dropconnect"]
    assert r.table[0].condition == name("dropout", 0.1)
    assert [row.condition for row in r.table][3:6] == [name("dropconnect_batch", p)
                                                       for p in RATES]


def test_a_method_without_a_stable_run_has_no_selected_rate():
    dead = {(name("dropconnect_batch", p), s): 1 for p in RATES for s in SEEDS}
    r = run(effect={"dropconnect": 0.01}, diverged=dead)
    assert set(r.selected) == {"dropout", "dropconnect"} and list(r.at_best) == ["dropconnect"]
    assert r.better == ["dropconnect"]
    assert ex.context(r)["takeaway"].startswith(
        "Dropping individual weights is a finer-grained noise than dropping whole units: here "
        f"it pays off in accuracy ({PE} beats dropping units, {E}); ")


def test_the_headline_is_dropconnect_proper_at_its_best_rate():
    r = run(effect={"dropconnect": 0.01})
    assert ex.EXERCISE.headline(r) is r.at_best["dropconnect"]
    assert ex.EXERCISE.headline(run(methods=["dropconnect", "dropconnect_batch"])) is None


def test_with_activation_dropout_alone_nothing_is_compared_and_nothing_costed():
    r = run(methods=["dropout"])
    assert r.at_best == {} and [t.method for t in r.timing] == ["dropout"]
    words = ex.context(r)
    assert words["takeaway"] == (
        "Dropping individual weights is a finer-grained noise than dropping whole units: here "
        "nothing could be compared (activation dropout or every weight-level method lacks a "
        "stable run). At test time every method uses the mean weights (the deterministic "
        "network).")
    assert words["answer"] == (
        "At each method's validation-selected rate, no comparison (activation dropout or every "
        "weight-level method lacks a stable run); training took activation dropout "
        f"{ex.seconds_text(r.timing[0].seconds)} per model-epoch {COST}.")


def test_every_interval_is_at_the_configured_level():
    r = run(level=0.9, effect={"dropconnect": 0.01}, epochs=2)  # two timings: no cost test
    assert sorted(c.primary.level for c in r.at_best.values()) == pytest.approx([0.9, 0.95])
    levels = sorted(c.primary.level for c in r.equal_rate.values())
    # three rejected at steps 6, 5, 4; Holm stops at step 3, and the three left keep its level
    assert levels == pytest.approx([1 - 0.1 / 3] * 3 + [1 - 0.1 / k for k in (4, 5, 6)])
    assert all(t.seconds.level == 0.9 for t in r.timing)
    assert all(row.values["endpoint"].level == 0.9 for row in r.table)
    assert r.timing[0].ratio is None


def test_an_unknown_method_keeps_its_own_name():
    assert ex.method_name("dropconnect") == PE
    assert ex.method_name("something_else") == "something_else"


# -- the exact scheme, its approximation and the fidelity row -----------------------------------

def test_the_approximation_is_a_method_named_for_what_it_is():
    assert ex.method_name("dropconnect_gaussian") == PG
    assert ex.method_name("dropconnect") == PE
    r = run(methods=WITH_APPROX)
    assert ex.context(r)["methods"] == ["activation dropout", PE, PG]
    assert set(r.at_best) == {"dropconnect", "dropconnect_gaussian"}


def test_a_method_may_have_its_own_rates():
    cfg = syn.config(experiments={"weight_dropout": {
        "methods": ["dropout", "dropconnect", "dropconnect_gaussian"], "rates": [0.1, 0.5],
        "method_rates": {"dropconnect": [0.5]}, "fidelity_rate": 0.5}})
    ex.check(cfg)
    assert [c.name for c in ex.conditions(cfg)] == [
        "dropout,p=0.1", "dropout,p=0.5", "dropconnect,p=0.5", "dropconnect_gaussian,p=0.1",
        "dropconnect_gaussian,p=0.5"]
    r = run(methods=WITH_APPROX, rates_of={"dropconnect": [0.5]})
    assert r.method_rates == {"dropout": RATES, "dropconnect": [0.5],
                              "dropconnect_gaussian": RATES}
    assert r.selected["dropconnect"] == name("dropconnect", 0.5)
    words = ex.context(r)
    assert words["answer"].startswith("At each method's validation-selected rate, or the one "
                                      f"rate it was run at (run at one rate: {PE} at p = 0.5 "
                                      "only), ")
    assert {"method": PE, "rates": "0.5"} in words["method_rates"]
    assert "run at one rate" not in ex.context(run(methods=WITH_APPROX))["answer"]


def test_check_names_a_fidelity_rate_that_a_method_was_not_run_at():
    cfg = syn.config(experiments={"weight_dropout": {
        "methods": ["dropout", "dropconnect", "dropconnect_gaussian"], "rates": [0.1, 0.5],
        "method_rates": {"dropconnect": [0.1]}, "fidelity_rate": 0.5}})
    with pytest.raises(ConfigError) as err:
        ex.check(cfg)
    assert str(err.value) == (
        "config key 'experiments.weight_dropout.fidelity_rate': 0.5 is not among the rates of "
        "dropconnect (the fidelity row compares both at that rate)")
    cfg["experiments"]["weight_dropout"]["method_rates"] = {"dropconnect_batch": [0.1]}
    with pytest.raises(ConfigError, match="method_rates': dropconnect_batch not in its methods"):
        ex.check(cfg)


def test_fidelity_row_plants_exact_above_the_approximation():
    r = run(methods=WITH_APPROX, effect={name("dropconnect", 0.5): 0.02})
    c = r.fidelity
    assert c.label == FIDELITY and r.fidelity_rate == 0.5
    assert c.primary.value == pytest.approx(0.02) and c.primary.contains(0.02)
    assert c.pairs == 10 and c.claim and c.direction == 1
    assert c.primary.level == pytest.approx(0.95)  # a family of one
    words = ex.context(r)
    assert words["fidelity"]["verdict"] == ex.FIDELITY_BETTER
    assert words["fidelity"]["p"] == "0.5" and words["fidelity"]["pairs"] == 10
    assert words["fidelity"]["sentence"] == (
        f"Fidelity of the approximation: {c.difference()}, {ex.FIDELITY_BETTER}: the "
        "approximation does not stand in for the real masks here.")


def test_a_fidelity_claim_its_robustness_line_does_not_bear_out_says_so():
    """Referee (full study): "exact masks reach lower accuracy than the approximation" stood on
    the stable pairs while the robustness line over all seeds disagreed, unsaid."""
    from dataclasses import replace

    r = run(methods=WITH_APPROX, effect={name("dropconnect", 0.5): 0.02})
    assert not r.fidelity.disagrees
    split = replace(r, fidelity=replace(r.fidelity, robust=replace(
        r.fidelity.robust, value=-0.001, lo=-0.01, hi=0.01)))
    assert split.fidelity.disagrees
    assert ex.context(split)["fidelity"]["sentence"].endswith(
        "the approximation does not stand in for the real masks here (the robustness line over "
        "all seeds, at the same level, does not bear this out; both rest on the same 10 seeds: "
        "the mean's interval and the median's disagree, and the verdict rests on the mean).")
    assert "bear this out" not in ex.context(r)["fidelity"]["sentence"]  # its absence


def test_fidelity_row_sign_follows_exact_minus_approximation():
    r = run(methods=WITH_APPROX, effect={name("dropconnect_gaussian", 0.5): 0.02})
    c = r.fidelity
    assert c.primary.value == pytest.approx(-0.02) and c.direction == -1 and c.claim
    assert ex.context(r)["fidelity"]["verdict"] == ex.FIDELITY_WORSE


def test_fidelity_row_without_a_planted_difference_says_so_with_its_resolution():
    r = run(methods=WITH_APPROX)
    c = r.fidelity
    assert not c.claim and c.tested and c.primary.contains(0.0)
    sentence = ex.context(r)["fidelity"]["sentence"]
    assert sentence == (f"Fidelity of the approximation: {c.difference()}, no detectable "
                        f"difference at 10 seeds{c.resolution()} (not a proof that the two "
                        "are equivalent).")
    assert "none larger than" in sentence


def test_fidelity_row_on_too_few_pairs_gives_no_verdict():
    dead = {(name("dropconnect", 0.5), s): 1 for s in SEEDS[2:]}
    r = run(methods=WITH_APPROX, effect={name("dropconnect", 0.5): 0.05}, diverged=dead)
    assert r.fidelity.pairs == 2 and not r.fidelity.claim
    assert "no verdict: 2 seed pairs stable in both arms, at least 3 needed." in \
        ex.context(r)["fidelity"]["sentence"]


def test_fidelity_row_is_read_at_the_configured_rate_and_only_when_both_ran():
    r = run(methods=WITH_APPROX, fidelity_rate=0.3, effect={name("dropconnect", 0.3): 0.02})
    assert r.fidelity.label == f"{PE} (p=0.3) − {PG} (p=0.3)" and r.fidelity.direction == 1
    assert run().fidelity is None and ex.context(run())["fidelity"] is None


# -- settings that fail to train ----------------------------------------------------------------

def _collapsed(cond, seeds):  # endpoints pulled down to about chance (0.85 - 0.75)
    return {cond: {s: -0.75 for s in seeds}}


def test_a_setting_at_chance_fails_to_train_by_the_stated_rule():
    cond = name("dropconnect_batch", 0.5)
    res = tables(per_seed=_collapsed(cond, SEEDS))
    r = ex.analyze(res)
    ends = res.ends("weight_dropout")
    fl = r.failures
    assert [f.condition for f in fl.settings] == [cond]
    f = fl.settings[0]
    assert (f.failed, f.runs, f.all, f.never, f.diverged) == (10, 10, True, 10, 0)
    got = ends.loc[ends["condition"] == cond, "endpoint"]
    assert (f.lo, f.hi) == pytest.approx((got.min(), got.max()))
    best = ends.loc[ends["condition"] == cond, "best_val"]  # any epoch's, not the endpoint's
    assert f.best_val == pytest.approx((best.min(), best.max()))
    words = ex.context(r)
    span = (f"test accuracy {100 * got.min():.1f}–{100 * got.max():.1f}% at the endpoint, best "
            f"validation accuracy reached at any epoch {100 * best.min():.1f}–"
            f"{100 * best.max():.1f}%")
    text = f"{PB} at p = 0.5 fails to train in all 10 runs (10 never trained; {span})"
    assert words["fails_text"] == text and text in words["takeaway"]
    assert words["failure_rule"] == (
        "A run fails to train when the instability rule (under Methods) says it never trained "
        "(its training loss never fell below 1.84, 0.8 · ln 10, or its best validation "
        "accuracy never rose above 20%) or diverged; the rule reads the training loss and the "
        "validation accuracy only, and the test accuracy of a failed run's endpoint is "
        "reported, not used to decide. A failed run counts in its setting's unstable runs and "
        "is left out of the table's means and of the primary contrasts.")
    assert words["fail_rows"] == [{"method": PB, "p": "0.5", "runs": "10 of 10",
                                   "kinds": "10 never trained", "span": span, "all": True}]
    # referee read 4, 6: figure 10 left the setting out without a word; its caption says so
    assert words["undrawn"] == [f"{PB} at p = 0.5 (10 of 10 runs failed)"]
    md = " ".join(syn.section_markdown(ex.EXERCISE, words, {"sweep": "f.png"}, k=3).split())
    assert (f"not drawn, as no run there is stable: {PB} at p = 0.5 (10 of 10 runs failed). "
            "Right:") in md


def test_a_setting_that_never_trained_is_one_story_in_table_contrast_and_words():
    """Issue 31, finding 1: per-minibatch DropConnect at p = 0.5 whose runs never trained (a
    training loss of 2.14-2.25, test accuracy 27-31%) entered the table as "27.2% (one seed,
    no interval)" and a contrast "-52.66 pp (one seed)", beside "fails to train in all 3
    runs". Every view now agrees: the runs failed, so no table value and no contrast."""
    cond = name("dropconnect_batch", 0.5)
    res = tables(seeds=[0, 1, 2], per_seed={cond: {0: -0.56, 1: -0.54, 2: -0.52}})
    m = res.metrics
    m.loc[m["condition"] == cond, "train_loss"] = 2.2  # never clearly below chance
    res = syn.results(res.cfg, m, res.runs)
    r = ex.analyze(res)
    row = next(x for x in r.table if x.condition == cond)
    assert (row.runs, row.unstable, row.n("endpoint")) == (3, 3, 0)
    c = r.equal_rate[f"{cond} − {name('dropout', 0.5)}"]
    assert c.pairs == 0 and c.unstable_a == 3 and not c.claim
    words = ex.context(r)
    cell = next(x for x in words["table"] if x["condition"] == cond)
    assert cell["endpoint"] == "no value (no stable run to compute it from)"
    assert words["fails_text"].startswith(f"{PB} at p = 0.5 fails to train in all 3 runs (3 "
                                          "never trained; test accuracy 2")
    assert r.design["never_trained"] == 3 and r.design["collapses"] == 0


def test_a_setting_that_fails_in_some_runs_says_how_many():
    cond = name("dropconnect", 0.1)
    r = run(per_seed=_collapsed(cond, SEEDS[:2]))
    f = r.failures.settings
    assert [(x.condition, x.failed, x.runs, x.all) for x in f] == [(cond, 2, 10, False)]
    assert f"{PE} at p = 0.1 fails to train in 2 of 10 runs (2 never trained; test accuracy" \
        in ex.context(r)["fails_text"]


def test_no_setting_fails_to_train_without_a_planted_collapse():
    r = run(effect={"dropconnect_batch": -0.05})  # worse, but far above chance
    assert r.failures.settings == []
    words = ex.context(r)
    assert words["fails_text"] == "every setting trains (no run never trained or diverged)"
    assert "fails to train" not in words["takeaway"] and words["fail_rows"] == []
    assert words["undrawn"] == []


def test_a_best_validation_accuracy_just_above_near_chance_trained_and_just_below_did_not():
    ends = tables().ends("weight_dropout")
    cond = name("dropconnect", 0.5)
    e0 = float(ends.loc[(ends["condition"] == cond) & (ends["seed"] == 0), "endpoint"].iloc[0])
    above = run(per_seed={cond: {0: 0.2 - e0 + 0.001}})  # every epoch at that accuracy
    below = run(per_seed={cond: {0: 0.2 - e0 - 0.001}})
    assert above.failures.settings == []
    assert [(f.condition, f.failed, f.never) for f in below.failures.settings] == [(cond, 1, 1)]


def test_failing_to_train_needs_no_reference_method():
    cond = name("dropconnect_batch", 0.5)
    r = run(methods=["dropconnect", "dropconnect_batch"], per_seed=_collapsed(cond, SEEDS))
    assert [f.condition for f in r.failures.settings] == [cond]
    assert ex.context(r)["fails_text"].startswith(f"{PB} at p = 0.5 fails to train")


def test_a_diverged_run_fails_to_train_and_says_so():
    cond = name("dropconnect_batch", 0.5)
    r = run(diverged={(cond, 4): 3})
    [f] = r.failures.settings
    assert (f.failed, f.never, f.diverged) == (1, 0, 1)
    assert ex.context(r)["fails_text"] == (f"{PB} at p = 0.5 fails to train in 1 of 10 runs (1 "
                                           "diverged; every failed run diverged)")


def test_the_section_says_fidelity_and_failures(tmp_path):
    cond = name("dropconnect_batch", 0.5)
    res = tables(methods=WITH_APPROX + ["dropconnect_batch"], per_seed=_collapsed(cond, SEEDS),
                 effect={name("dropconnect", 0.5): 0.02})
    r = ex.analyze(res)
    words = ex.context(r)
    md = syn.section_markdown(ex.EXERCISE, words, {"sweep": "figures/ex6_sweep.png"}, k=3)
    assert f"| {FIDELITY} | {r.fidelity.quantity.text(r.fidelity.primary)} | 10 |" in md
    assert words["fidelity"]["sentence"] in md
    assert words["failure_rule"] in md
    assert f"| {PB} | 0.5 | 10 of 10 | 10 never trained |" in md
    assert words["fails_text"][0].upper() + words["fails_text"][1:] + "." in md
    assert f"{PG} at p ∈ {{0.1, 0.3, 0.5}}" in md


def test_two_failed_runs_of_two_are_both_runs():
    cond = name("dropconnect_batch", 0.5)
    r = run(seeds=[0, 1], per_seed=_collapsed(cond, [0, 1]))
    assert ex.context(r)["fails_text"].startswith(f"{PB} at p = 0.5 fails to train in both runs")


def test_exercise_words_do_not_shadow_the_sections_own_keys():
    """The report frame reads a section's ``failed`` (its failed jobs) and ``missing``: the
    exercise's words must not overwrite them."""
    cond = name("dropconnect_batch", 0.5)
    words = ex.context(run(per_seed=_collapsed(cond, SEEDS)))
    assert not {"failed", "missing", "figures", "key", "number", "title"} & set(words)


def test_a_method_run_at_one_rate_is_said_at_the_one_rate_run_in_summary_and_section():
    """Referee 4: "each at its best rate on validation" is vacuous for a method run at one
    rate; the glance row and the takeaway say "at the one rate run" for it."""
    r = run(methods=WITH_APPROX, rates_of={"dropconnect": [0.5]})
    words = ex.context(r)
    best = r.cells[r.selected["dropout"]][1]
    assert r.at_best["dropconnect"].direction == -1  # 0.5 is 2 points below the peak
    assert words["glance_words"] == {"answer": (
        f"Dropping activations (at its best rate on validation, p = {best:g}) beats dropping "
        "weights (DropConnect, a fresh mask per example, at the one rate run, p = 0.5).")}
    assert (f"each at its best rate on validation ({PE} at the one rate run))"
            in words["takeaway"])
    # its absence: every method swept, no "one rate run" anywhere
    words = ex.context(run(methods=WITH_APPROX))
    assert "one rate run" not in words["glance_words"]["answer"] + words["takeaway"]
    assert "at its best rate on validation, p = 0.3" in words["glance_words"]["answer"]


@pytest.mark.parametrize("column, picked", [("test_acc", 0.1), ("val_acc", 0.3)])
def test_only_the_validation_split_ranks_a_setting_last_never_the_test_set(column, picked):
    """Issue 31, finding 3: a test-accuracy collapse flagged activation dropout at p = 0.1 (best
    on validation) unstable, so it ranked below p = 0.3 and the test set took part in choosing.
    Planted: p = 0.1 best on validation, then a collapse in the last epochs of one run, in the
    test accuracy alone (nothing changes: it is picked) or in the validation accuracy (it is
    unstable by the rule and ranks last)."""
    cond = name("dropout", 0.1)
    res = tables(val_shift={cond: 0.05})
    m = res.metrics
    m.loc[(m["condition"] == cond) & (m["seed"] == 0) & (m["epoch"] >= 5), column] = 0.5
    r = ex.analyze(syn.results(res.cfg, m, res.runs))
    assert r.selected["dropout"] == name("dropout", picked)
    row = next(x for x in r.table if x.condition == cond)
    assert row.unstable == (1 if column == "val_acc" else 0)


# -- issue 31, finding 7: a preset's departure from the protocol, said where it applies --------
def test_a_method_run_at_one_rate_is_a_departure_from_the_sweep_said_in_the_section():
    """The quick preset runs exact per-example DropConnect (and its approximation) at p = 0.5
    only; the section did not say that this departs from the protocol's rate sweep, and its
    heading said "Each method at its best rate"."""
    r = run(methods=WITH_APPROX, rates_of={"dropconnect": [0.5], "dropconnect_gaussian": [0.5]})
    words = ex.context(r)
    # then (issue 31, referee 17) where the sweep is shorter than the full study's, that too
    assert words["departure"] == (
        f"This study departs from the protocol's rate sweep here: it runs {PE} at p = 0.5 only "
        f"and {PG} at p = 0.5 only, not over the sweep (0.1, 0.3, 0.5) that the other methods "
        "run; those methods stand at the rate run in every comparison, not at a best rate "
        "chosen on validation. This study (preset full) departs from the full study here: the "
        "rate sweep 0.1, 0.3, 0.5 where the full study runs 0.1, 0.2, 0.3, 0.5, 0.7 (each "
        "method's rate is picked on validation from fewer rates); the full study is the answer.")
    md = syn.section_markdown(ex.EXERCISE, words, {"sweep": "figures/ex6_sweep.png"}, k=3)
    flat = " ".join(md.split())
    assert words["departure"] in flat
    assert "**Each method at its best rate**" not in md
    assert (f"**Each weight-level method against activation dropout**, each at its best rate on "
            f"validation ({PE} and {PG} at the one rate run), paired by seed") in flat
    # its absence: every method swept
    swept = ex.context(run(methods=WITH_APPROX))
    assert "protocol's rate sweep" not in " ".join(syn.section_markdown(
        ex.EXERCISE, swept, {"sweep": "figures/ex6_sweep.png"}, k=3).split())
    assert swept["departure"].startswith("This study (preset full) departs from the full")
    res = tables(methods=WITH_APPROX)  # the full study's sweep: no departure at all
    res.cfg["experiments"]["weight_dropout"]["rates"] = [0.1, 0.2, 0.3, 0.5, 0.7]
    assert ex.context(ex.analyze(res))["departure"] == ""


def test_markers_at_the_same_rate_are_set_side_by_side_so_none_hides_another():
    """Figure 10 hid exact DropConnect's marker under its approximation's (both at p = 0.5)."""
    picked = [("dropout", 0.3), ("dropconnect", 0.5), ("dropconnect_gaussian", 0.5)]
    assert ex.star_offsets(picked, 0.01) == pytest.approx([0.0, -0.005, 0.005])
    assert ex.star_offsets([("dropout", 0.3)], 0.01) == [0.0]


def test_a_ratio_of_jobs_packed_differently_is_said_not_like_for_like():
    """Issue 31 (referee, 9): per-example DropConnect's x110 came from a job of 3 models
    against activation dropout's job of 9: a job's time per model falls as it trains more
    models at once, so the ratio mixes the method with the packing. Said where it applies."""
    res = tables()
    jobs = res.metrics["job"]
    res.metrics.loc[jobs == "j-dropconnect", "models_in_job"] = 3
    res.metrics.loc[jobs == "j-dropconnect", "train_seconds"] *= 3 / len(SEEDS)
    r = ex.analyze(res)
    t = {x.method: x for x in r.timing}
    assert ex.per_job(t["dropconnect"]) == 3 and ex.per_job(t["dropout"]) == len(SEEDS)
    words = ex.context(r)
    said = ("its job trained 3 models at once, activation dropout's 10, and a job's time per "
            "model falls as it trains more models together, so the ratio mixes the method's "
            "cost with that packing")
    assert ("as measured on one job of 3 models against one job of 10 models (not like for "
            f"like: {said})") in words["takeaway"]
    assert f"{PE} took {wd.measured(t['dropconnect'].ratio)} as long (not like for like: " \
        "another number of models per job)" in words["answer"]
    assert words["packing"] == [f"{PE}: its job trained 3 models at once"]
    assert words["packing_ref"] == "10"
    md = " ".join(syn.section_markdown(ex.EXERCISE, words, {"sweep": "figures/ex6.png"}).split())
    assert ("Not like for like where a method's jobs train another number of models at once "
            f"than activation dropout's (10 at once): {PE}: its job trained 3 models at once. A "
            "job's time per model falls as it trains more models together, so such a ratio "
            "mixes the method's cost with that packing.") in md
    # referee read 9: two methods packed alike are said once, together
    res.metrics.loc[jobs == "j-dropconnect_batch", "models_in_job"] = 3
    res.metrics.loc[jobs == "j-dropconnect_batch", "train_seconds"] *= 3 / len(SEEDS)
    two = ex.context(ex.analyze(res))
    assert two["packing"] == [f"{PE} and {ex.method_name('dropconnect_batch')}: their jobs "
                              "trained 3 models at once"]
    # its absence: jobs of one size, nothing said
    same = ex.context(run())
    assert same["packing"] == [] and "like for like" not in same["takeaway"] + same["answer"]


def test_exact_dropconnect_s_rounded_keep_probability_is_said_from_its_rates():
    """Its 8-bit masks keep a weight with probability 1 − p rounded to 1/256: said with the
    largest rounding over the rates it ran at (0.9 -> 230/256: 0.0016 off; 0.7 -> 179/256:
    0.0008), exact where every rate is a multiple (0.5, 0.75), and not said without it."""
    swept = ex.context(run())
    assert ("Each entry of its masks takes 8 random bits, so a weight is kept with "
            "probability 1 − p rounded to a multiple of 1/256: at most 0.0016 off at the rates "
            "it was run at.") in swept["mask_rounding"]
    exact = ex.context(run(rates_of={"dropconnect": [0.5, 0.25]}))
    assert exact["mask_rounding"].endswith("1/256: exact at the rates it was run at.")
    assert ex.context(run(methods=["dropout", "dropconnect_batch"]))["mask_rounding"] == ""
    md = syn.section_markdown(ex.EXERCISE, swept, {"sweep": "figures/ex6_sweep.png"}, k=3)
    assert "bounded. Each entry of its masks takes 8 random bits" in md


def test_jobs_of_another_code_version_or_machine_are_said_not_like_for_like():
    """Referee read 5, 2: the exact DropConnect job ran at another code version than activation
    dropout's (a study trained over sessions), and the cost ratio did not say so."""
    from dataclasses import replace

    res = tables()
    names = sorted(res.metrics["job"].unique())
    jobs = [{"dir": f"results/full/runs/weight_dropout/{j}", "machine": 1,
             "code_version": "bbb2222" if j == "j-dropconnect" else "aaa1111"} for j in names]
    words = ex.context(ex.analyze(replace(res, jobs=jobs)))
    said = "its jobs ran at code version bbb2222, activation dropout's at aaa1111"
    assert words["elsewhere"] == [f"{PE}: {said}"]
    assert f"(not like for like: {said})" in words["answer"]
    assert f"(not like for like: {said})" in words["takeaway"]
    md = " ".join(syn.section_markdown(ex.EXERCISE, words, {"sweep": "f.png"}, k=3).split())
    assert "Not like for like either where a method's jobs ran at another code version" in md
    moved = [j | {"code_version": "aaa1111", "machine": 2 if j["dir"].endswith("j-dropconnect")
                  else 1} for j in jobs]
    words = ex.context(ex.analyze(replace(res, jobs=moved)))
    assert words["elsewhere"] == [f"{PE}: on another machine (machine.json)"]
    same = [j | {"code_version": "aaa1111"} for j in jobs]
    words = ex.context(ex.analyze(replace(res, jobs=same)))
    assert words["elsewhere"] == [] and "like for like" not in words["answer"]
