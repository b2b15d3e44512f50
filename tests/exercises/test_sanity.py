"""Exercise 10's claims on synthetic tables with planted effects."""

import re

import numpy as np
import pandas as pd
import pytest

from dropout_study import plots
from dropout_study import words as w
from dropout_study.exercises import sanity as ex
from tests import synthetic as syn

SEEDS = list(range(10))
REF, TORCH, VANILLA = ("dropout,p1=0.2,p2=0.5", "torch_dropout,p1=0.2,p2=0.5",
                       "dropout_vanilla,p1=0.2,p2=0.5")
AA = "dropout (stream B),p1=0.2,p2=0.5"
SWEEP = ["sweep,p=0.2", "sweep,p=0.5", "sweep,p=0.8"]
PASSES = [(1, 0.01), (10, 0.1), (100, 1.0), (200, 2.0), (300, 3.0), (400, 4.0)]


def activations(seeds, ratio, spread=0.01):
    """Probe rows as the trainer writes them, for the three probed conditions and both hidden
    layers: layer 1's train-mode mean is ``ratio[cond]`` times its eval-mode mean, up to a
    per-pass Gaussian jitter of ``spread``; layer 2's ratio is far off (never read)."""
    gen = np.random.default_rng(11)
    rows = []
    for cond in (REF, TORCH, VANILLA):
        for seed in seeds:
            for step, epoch in PASSES:
                for layer in (1, 2):
                    r = ratio.get(cond, 1.0) + gen.normal(0, spread) if layer == 1 else 3.0
                    rows.append({"condition": cond, "seed": seed, "step": step,
                                 "epoch": epoch, "layer": layer, "rate": 0.2,
                                 "mean_pre": 0.4, "var_pre": 0.3, "mean_post": 0.4 * r,
                                 "var_post": 0.4, "mean_eval": 0.4, "var_eval": 0.3,
                                 "experiment": "sanity", "job": "j000"})
    return pd.DataFrame(rows)


def tables(effect=None, jitter=0.002, diverged=None, nan=None, seeds=SEEDS, ratio=None,
           ratio_spread=0.01, loss=None, margin=0.01, calibration=True):
    """Every condition at 0.85 plus a per-seed offset shared by all and per-condition Gaussian
    jitter of SD ``jitter``; ``effect[cond]`` is added to that condition."""
    effect = effect or {}
    conds = {REF: {"factor_role": "reference"},
             TORCH: {"noise": "torch_dropout", "factor_role": "torch"},
             VANILLA: {"noise": "dropout_vanilla", "factor_role": "vanilla"}}
    for name, p in zip(SWEEP, (0.2, 0.5, 0.8), strict=True):
        conds[name] = {"rate1": p, "rate2": p, "factor_role": "sweep", "factor_p": p}
    order = [SWEEP[2], SWEEP[0], REF, TORCH, VANILLA, SWEEP[1]]  # the sweep out of order
    if calibration:
        conds[AA] = {"factor_role": "calibration"}
        order.append(AA)
    conds = {c: conds[c] for c in order}
    gen = np.random.default_rng(5)
    noise = {(c, s): gen.normal(0, jitter) for c in conds for s in seeds}

    def acc(cond, seed, epoch):
        if nan and (cond, seed) == nan:
            return float("nan")
        return 0.85 + syn.noise(seed, 0.02) + noise[(cond, seed)] + effect.get(cond, 0.0)

    cfg = syn.config(experiments={"sanity": {"sweep": [0.2, 0.5, 0.8],
                                             "equivalence_margin": margin}})
    metrics, runs = syn.run_tables("sanity", conds, seeds, 4, acc, diverged, loss=loss)
    return syn.results(cfg, metrics, runs, activations(seeds, ratio or {}, ratio_spread))


def run(**kw):
    return ex.analyze(tables(**kw))


# -- defect #1: the label says torch − ours, so the number is torch − ours ---------------------
def test_a_planted_torch_advantage_prints_a_plus_sign():
    r = run(effect={TORCH: 0.005}, jitter=0.001)
    assert r.torch_diff.label == "torch.nn.Dropout − ours"
    assert r.torch_diff.primary.value == pytest.approx(0.005, abs=1e-3)
    assert r.torch_tost.primary.value == pytest.approx(0.005, abs=1e-3)
    answer = ex.context(r)["answer"]
    assert re.match(r"torch\.nn\.Dropout − ours: \+0\.[45]\d pp \[\+", answer)
    assert "(torch's layer is better)" in answer


def test_a_planted_torch_disadvantage_prints_a_minus_sign():
    r = run(effect={TORCH: -0.005}, jitter=0.001)
    assert r.torch_diff.primary.value == pytest.approx(-0.005, abs=1e-3)
    answer = ex.context(r)["answer"]
    assert re.match(r"torch\.nn\.Dropout − ours: -0\.[45]\d pp \[-", answer)
    assert "(ours is better)" in answer


# -- the equivalence rule -----------------------------------------------------------------------
def test_equivalent_when_the_tost_interval_is_inside_the_margin_and_no_difference():
    r = run(jitter=0.001)
    assert not r.torch_diff.claim and r.torch_diff.primary.contains(0.0)
    tost = r.torch_tost.primary
    assert tost.level == pytest.approx(0.90) and -0.01 < tost.lo and tost.hi < 0.01
    assert r.equivalence == "equivalent"
    words = ex.context(r)
    assert words["eq_level"] == "90%" and words["eq_status"] == "equivalent"
    assert "90% interval, 10 seeds): equivalent within ±1 points (the 90% interval lies " \
        "inside the margin and the difference is not significant)" in words["answer"]
    assert words["takeaway"].endswith(
        "Our layer and torch's are equivalent in accuracy within the stated margin.")


def test_a_significant_but_tiny_difference_is_never_equivalent():
    r = run(effect={TORCH: 0.002}, jitter=0.0003)
    tost = r.torch_tost.primary
    assert -0.01 < tost.lo and tost.hi < 0.01  # inside the margin: the old rule said equivalent
    assert r.torch_diff.claim and r.torch_diff.direction == 1
    assert r.equivalence == "different"
    words = ex.context(r)
    assert "not equivalent: a significant difference (torch's layer is better), a defect to " \
        "find and explain" in words["answer"]
    assert "equivalent within" not in words["answer"]
    assert f"Our layer and torch's differ in accuracy ({r.torch_diff.difference()})" \
        in words["takeaway"]
    assert "not an equivalence" in words["takeaway"]


def test_a_wide_interval_shows_no_equivalence():
    r = run(jitter=0.02)
    assert not r.torch_diff.claim
    tost = r.torch_tost.primary
    assert tost.lo < -0.01 or tost.hi > 0.01
    assert r.equivalence == "not shown"
    words = ex.context(r)
    assert "equivalence within ±1 points not shown at 10 seeds; no detectable difference at " \
        "10 seeds: none larger than" in words["answer"]
    assert "is not settled at 10 seeds (the equivalence interval is wider than ±1 points)" \
        in words["takeaway"]


def test_the_margin_comes_from_the_config():
    r = run(jitter=0.02, margin=0.2)
    assert r.margin == 0.2 and r.equivalence == "equivalent"
    assert "equivalent within ±20 points" in ex.context(r)["answer"]


def test_a_single_surviving_seed_gives_no_verdict():
    dead = {(TORCH, s): 1 for s in SEEDS[1:]}
    r = run(effect={TORCH: 0.05}, diverged=dead)
    assert r.torch_diff.pairs == 1 and not r.torch_diff.tested
    assert r.equivalence == "no verdict"
    words = ex.context(r)
    assert ("not shown (one seed pair: a single run against a single run is no finding): no "
            "verdict: 1 seed pair stable in both arms, at least 3 needed;") in words["answer"]
    assert "+5.00 pp" not in words["answer"]  # issue 31 (referee, 4): no number of one pair
    assert "(90% interval, 1 seed)" not in words["answer"]  # issue 22: no level beside none
    assert "Our layer against torch's: no verdict: 1 seed pair" in words["takeaway"]
    assert "equivalent" not in words["answer"]


def test_a_diverged_seed_leaves_the_primary_contrast_and_is_counted():
    r = run(effect={TORCH: 0.005}, jitter=0.001, diverged={(TORCH, 3): 2})
    c = r.torch_diff
    assert c.pairs == 9 and (c.unstable_a, c.runs_a, c.unstable_b) == (1, 10, 0)
    assert "torch.nn.Dropout 1 of 10" in c.instability()
    assert r.design["unstable"] == 1


def test_a_nan_endpoint_leaves_the_pair_out():
    r = run(effect={VANILLA: -0.01}, nan=(REF, 5))
    assert r.vanilla_diff.pairs == 9 and r.torch_diff.pairs == 9


# -- vanilla against inverted -------------------------------------------------------------------
@pytest.mark.parametrize("effect", [0.01, -0.01])
def test_vanilla_minus_inverted_has_its_sign(effect):
    r = run(effect={VANILLA: effect})
    c = r.vanilla_diff
    assert c.label == "vanilla − inverted"
    assert c.primary.value == pytest.approx(effect, abs=2e-3) and c.primary.contains(effect)
    assert c.claim and c.pairs == 10
    verdict = "vanilla better" if effect > 0 else "vanilla worse"
    text = c.quantity.text(c.primary)
    assert text.startswith("+" if effect > 0 else "-")
    assert f"; vanilla − inverted: {text} ({verdict});" in ex.context(r)["answer"]


def test_no_vanilla_difference_gives_no_claim():
    r = run()
    assert not r.vanilla_diff.claim
    assert "vanilla − inverted: " in ex.context(r)["answer"]
    assert ex.context(r)["vanilla_row"]["verdict"].startswith(
        "no detectable difference at 10 seeds")


# -- the expectation of the two conventions -----------------------------------------------------
def test_both_conventions_are_unbiased_when_their_ratios_contain_one():
    r = run()
    level = 1 - 0.05 / 3  # issue 31 (referee, 14): three rows are tested against 1, not two
    assert r.ratio_level == pytest.approx(level)
    for c in (REF, VANILLA, TORCH):
        assert r.ratios[c].n == 10  # seeds, not the 60 probe points they hold (issue 31, 14)
        assert r.ratios[c].contains(1.0) and r.ratios[c].level == pytest.approx(level)
    words = ex.context(r)
    # referee 7: only layer 1's mean was checked, said as a null with what it rules out
    far = {c: max(1 - r.ratios[c].lo, r.ratios[c].hi - 1) for c in (REF, VANILLA)}
    assert all(0 < f < 0.05 for f in far.values())
    assert words["takeaway"].startswith(
        "Only layer 1's mean activation was checked: its train-mode / eval-mode ratio shows no "
        f"detectable departure from 1 for either convention ({REF}: "
        f"{w.number(r.ratios[REF], 4)}, within ±{100 * far[REF]:.2f}% of 1; {VANILLA}: "
        f"{w.number(r.ratios[VANILLA], 4)}, within ±{100 * far[VANILLA]:.2f}% of 1; 98.33% "
        "intervals over seeds, which rule out only a larger departure). ")
    assert "expectation" not in words["takeaway"]
    assert ("(98.33% intervals, each over 10 seeds; a seed's value is the mean of its 6 probe "
            "points)") in words["answer"]  # referee read 9: not "10 seeds and 10 seeds"
    assert words["ratios"][0]["condition"] == REF


def test_a_biased_convention_is_flagged():
    r = run(ratio={VANILLA: 1.05})
    assert r.ratios[VANILLA].value == pytest.approx(1.05, abs=0.005)
    assert not r.ratios[VANILLA].contains(1.0)
    words = ex.context(r)
    assert "no detectable departure" not in words["takeaway"]
    assert words["takeaway"].startswith(
        f"The train-mode / eval-mode ratio departs from 1 for {VANILLA} "
        f"({w.number(r.ratios[VANILLA], 4)}, over 10 seeds), which needs "
        "investigating.")
    assert re.search(r"and 1\.05\d\d \[1\.0\d+, 1\.0\d+\] for vanilla dropout", words["answer"])


def test_the_ratio_is_over_seeds_from_the_log_scale_and_stays_positive():
    """Issue 31 (referee, 14): the interval ran over 45 probe points of 3 seeds, points that
    share their seed's weights (pseudo-replicates). One value per seed now: the geometric mean
    of its probe points; the interval over seeds, from the log scale (positive)."""
    res = tables(ratio_spread=0.3, seeds=[0, 1, 2])
    r = ex.analyze(res)
    first = res.activations[res.activations["layer"] == 1]
    for c, e in r.ratios.items():
        mine = first[first["condition"] == c]
        per_seed = np.exp(np.log(mine["mean_post"] / mine["mean_eval"])
                          .groupby(mine["seed"]).mean())
        assert e.n == 3 and e.value == pytest.approx(float(np.exp(np.log(per_seed).mean())))
        assert 0 < e.lo < e.value < e.hi
    md = syn.section_markdown(ex.EXERCISE, ex.context(r), {"sweep": "figures/ex10.png"})
    assert "| model | train-mode mean / eval-mode mean, layer 1 (ratio) | seeds (n) |" in md
    assert "the 3 rows below are each tested against 1" in " ".join(md.split())
    assert "probe passes" not in md and "two conventions are tested" not in md


def test_ratios_without_probe_rows_are_said_in_words():
    res = tables()
    res.activations = res.activations.iloc[0:0]
    r = ex.analyze(res)
    words = ex.context(r)
    assert "has too few seeds for an interval" in words["takeaway"]
    assert "no value (no stable run to compute it from)" in words["answer"]


# -- the sweep ----------------------------------------------------------------------------------
def test_the_sweep_is_ordered_by_rate_and_its_intervals_stay_in_range():
    def loss(cond, seed, epoch):  # one seed's test loss rises at the end
        return 0.45 - 0.01 * epoch + (0.04 if seed == 0 and epoch == 4 else 0.0)

    r = run(loss=loss, effect={SWEEP[0]: 0.14}, jitter=0.01)
    assert [row.condition for row in r.sweep] == SWEEP
    rise = r.sweep[1].values["overfit"]
    # 0.03 at the last of the endpoint window's 3 epochs, on one seed of ten (0 at the others)
    assert rise.value == pytest.approx(0.001, abs=1e-6)
    assert rise.lo == 0.0  # the t-interval reaches below 0: clipped
    acc = r.sweep[0].values["endpoint"]
    assert acc.hi <= 1.0 and acc.value > 0.97
    words = ex.context(r)["sweep"]
    assert words[1]["overfit"].startswith("0.001 [0.000, ")
    assert words[0]["condition"] == SWEEP[0] and words[0]["gap"].startswith("+2.00 pp")


def test_a_rise_with_no_minimum_within_the_runs_is_said_not_printed_as_zero():
    """Issue 31 (referee, 11): a sweep row whose test loss was still falling at the last epoch
    in every run printed its rise as "0.000 (no spread)": the minimum lies beyond the run
    (censored), so the words say so; a partly censored row counts its censored runs."""
    r = run()  # the synthetic test loss falls to the last epoch in every run
    words = ex.context(r)["sweep"]
    assert all(row.values["overfit"].censored == 10 for row in r.sweep)
    assert words[0]["overfit"] == ("no rise yet: the test loss still falls to a new low in "
                                   "every epoch of the endpoint window in "
                                   "all 10 runs")
    md = syn.section_markdown(ex.EXERCISE, ex.context(r), {"sweep": "figures/ex10.png"})
    assert "0.000" not in md

    def loss(cond, seed, epoch):  # one seed's test loss rises at the end
        return 0.45 - 0.01 * epoch + (0.04 if seed == 0 and epoch == 4 else 0.0)

    some = ex.context(run(loss=loss))["sweep"][1]["overfit"]
    assert some.startswith("0.001 [0.000, ") and some.endswith(
        "] (9 of 10 runs still falling to a new low through the endpoint window: no rise yet)")


def test_the_conditions_keep_their_job_names():
    cfg = syn.config(experiments={"sanity": {"sweep": [0.2, 0.8]}})
    conds = ex.conditions(cfg)
    ref = ex.rates_name(*cfg["training"]["rates"])
    assert [c.name for c in conds] == [f"dropout,{ref}", f"torch_dropout,{ref}",
                                       f"dropout_vanilla,{ref}", "sweep,p=0.2", "sweep,p=0.8",
                                       f"dropout (stream B),{ref}"]
    assert [dict(c.factors)["role"] for c in conds] == ["reference", "torch", "vanilla",
                                                       "sweep", "sweep", "calibration"]
    assert [c.probe for c in conds] == [True, True, True, False, False, True]
    # the calibration copy differs from the reference in its noise stream only
    assert conds[5].noise_stream != conds[0].noise_stream
    assert conds[5].batch_key() == conds[0].batch_key() and conds[5].rates == conds[0].rates
    assert conds[4].rates == (0.8, 0.8)


def test_the_section_renders(tmp_path):
    res = tables(effect={TORCH: 0.002}, jitter=0.0003)
    r = ex.analyze(res)
    figures = ex.draw(res, r, tmp_path)
    assert figures["sweep"].exists()
    assert plots.OVERLAPS[str(figures["sweep"])] == []
    md = syn.section_markdown(ex.EXERCISE, ex.context(r), {"sweep": "figures/ex10_sweep.png"})
    assert ("Here: **not equivalent: they differ significantly (torch's higher), a defect to "
            "find and explain**.") in md
    assert re.search(r"\| torch\.nn\.Dropout − ours \| \+0\.[12]\d pp \[\+", md)
    assert f"| {SWEEP[0]} |" in md
    assert not re.search(r"\bnan\b|n/a", md.lower())


def test_the_words_in_full_when_equivalent():
    r = run(jitter=0.001)
    tost, van = r.torch_tost, r.vanilla_diff
    ref = r.ratios[REF]
    assert r.ratios[VANILLA].n == ref.n  # the same seeds: "each over 10 seeds"
    words = ex.context(r)
    assert re.fullmatch(r"\d\.\d{4} \[\d\.\d{4}, \d\.\d{4}\]", words["ratios"][0]["ratio"])
    assert words["answer"] == (
        f"torch.nn.Dropout − ours: {tost.quantity.text(tost.primary)} (90% interval, 10 seeds): "
        "equivalent within ±1 points (the 90% interval lies inside the margin and the "
        f"difference is not significant); vanilla − inverted: {van.quantity.text(van.primary)} "
        f"({van.verdict('', '')}); the train-mode mean activation over the eval-mode one "
        f"(layer 1, which both see the same input) is {words['ratios'][0]['ratio']} for "
        f"inverted and {words['ratios'][1]['ratio']} for vanilla dropout (98.33% intervals, "
        f"each over {ref.n} seeds; a seed's value is the mean of its 6 probe points); the "
        "A/A calibration, "
        f"{r.calibration.difference()} (no difference, as it must be: "
        f"{r.calibration.verdict('', '')}).")
    assert words["takeaway"].startswith("Only layer 1's mean activation was checked: ")
    assert words["takeaway"].endswith(
        "98.33% intervals over seeds, which rule out only a larger departure). Inverted dropout "
        "scales in "
        "training so that test time is the plain network, vanilla scales at test time. Our "
        "layer and torch's are equivalent in accuracy within the stated margin.")
    assert (words["ref"], words["torch"], words["vanilla_c"]) == (REF, TORCH, VANILLA)
    assert words["margin"] == "1" and words["equivalence"] == tost.quantity.text(tost.primary)
    assert words["torch_row"]["contrast"] == "torch.nn.Dropout − ours"
    # Holm over the two contrasts against ours (referee, full study: "vanilla worse" stood on an
    # uncorrected p = 0.047): with neither detected, both stay at the first step's 97.50%
    assert words["torch_row"]["level"] == "97.50%" and words["vanilla_row"]["level"] == "97.50%"
    assert r.design == {"k": 3, "seeds": 10, "epochs": 4, "runs": 70, "unstable": 0,
                        "collapses": 0,
                        "endpoint_unstable": 0, "diverged": 0, "never_trained": 0}


def test_the_takeaways_in_full():
    different = run(effect={TORCH: -0.002}, jitter=0.0003)
    assert ex.context(different)["takeaway"].endswith(
        f"Our layer and torch's differ in accuracy ({different.torch_diff.difference()}): two "
        "implementations of one distribution must agree, so this is a defect to find and "
        "explain, not an equivalence.")
    assert "not equivalent: a significant difference (ours is better), a defect" in \
        ex.context(different)["answer"]
    wide = run(jitter=0.02)
    assert ex.context(wide)["takeaway"].endswith(
        "Whether our layer and torch's give the same accuracy distribution is not settled at "
        "10 seeds (the equivalence interval is wider than ±1 points).")
    # issue 31 (referee, 10): the report claims nothing it cannot show from its results
    md = syn.section_markdown(ex.EXERCISE, ex.context(wide), {"sweep": "figures/ex10.png"})
    assert "test suite" not in md
    dead = run(diverged={(TORCH, s): 1 for s in SEEDS[1:]})
    assert ex.context(dead)["takeaway"].endswith(
        "Our layer against torch's: no verdict: 1 seed pair stable in both arms, at least 3 "
        "needed.")


@pytest.mark.parametrize("effect", [0.01, -0.01])
def test_the_rows_carry_their_verdicts(effect):
    r = run(effect={TORCH: effect, VANILLA: effect})
    words = ex.context(r)
    assert words["torch_row"]["verdict"] == ("torch's layer is better" if effect > 0
                                             else "ours is better")
    assert words["vanilla_row"]["verdict"] == ("vanilla better" if effect > 0
                                               else "vanilla worse")


def test_the_default_margin_is_one_point():
    res = tables(jitter=0.001)
    del res.cfg["experiments"]["sanity"]["equivalence_margin"]
    r = ex.analyze(res)
    assert r.margin == 0.01 and r.equivalence == "equivalent"


def test_the_confidence_level_comes_from_the_config():
    res = tables(effect={VANILLA: 0.01})
    res.cfg["analysis"]["confidence"] = 0.9
    r = ex.analyze(res)
    # Holm over torch − ours and vanilla − inverted: vanilla's planted effect is the first
    # step (1 − 0.1/2), torch's the second (0.9)
    assert r.vanilla_diff.claim and r.vanilla_diff.primary.level == pytest.approx(0.95)
    assert r.torch_diff.primary.level == pytest.approx(0.9)
    assert r.torch_tost.primary.level == pytest.approx(0.8)
    level = 1 - 0.1 / 3  # Bonferroni over the three rows tested against 1
    assert r.ratio_level == pytest.approx(level) and r.ratios[REF].level == pytest.approx(level)
    assert r.sweep[0].values["endpoint"].level == pytest.approx(0.9)
    assert r.torch_tost.label == "torch.nn.Dropout − ours"


def test_the_conditions_belong_to_the_sanity_experiment():
    conds = ex.conditions(syn.config(experiments={"sanity": {"sweep": [0.3]}}))
    assert {c.experiment for c in conds} == {"sanity"}
    assert [c.noise for c in conds] == ["dropout", "torch_dropout", "dropout_vanilla",
                                        "dropout", "dropout"]
    assert {c.rates for c in conds[:3]} == {(0.2, 0.5)}
    assert dict(conds[3].factors) == {"role": "sweep", "p": 0.3}


# -- the A/A calibration row ------------------------------------------------------------------
def test_the_calibration_row_reads_no_difference_when_none_is_planted():
    r = run(jitter=0.001)
    c = r.calibration
    assert c.label == "A/A: ours on stream B − ours" and c.pairs == 10 and not c.claim
    assert "the A/A calibration, A/A: ours on stream B − ours: " in ex.context(r)["answer"]
    assert "(no difference, as it must be: no detectable difference at 10 seeds" in \
        ex.context(r)["calibration"]


@pytest.mark.parametrize("effect", [0.004, -0.004])
def test_a_planted_calibration_difference_is_reported_as_invented(effect):
    r = run(effect={AA: effect}, jitter=0.0003)
    c = r.calibration
    assert c.claim and c.primary.contains(effect)
    assert (c.primary.value > 0) == (effect > 0)
    assert "the machinery invents effects" in ex.context(r)["calibration"]
    assert "as it must be" not in ex.context(r)["calibration"]


def test_results_without_the_calibration_row_say_so():
    r = ex.analyze(tables(calibration=False))
    assert r.calibration is None
    assert "the A/A calibration row was not trained in this study" in ex.context(r)["answer"]
    assert ex.context(r)["calibration_row"] is None


# -- one verdict: the summary table and the section say the same (issue 22, finding 7) ---------
def _glance_row(r):
    from dropout_study import glance

    entry = {"missing": None, **ex.context(r)}
    return glance.row(ex.EXERCISE, entry, [(None, r.torch_diff)])


def test_not_shown_equivalent_is_said_alike_above_and_below():
    r = run(jitter=0.02)  # wide: no difference detected, equivalence not shown
    assert r.equivalence == "not shown" and r.torch_diff.tested and not r.torch_diff.claim
    words = ex.context(r)
    assert words["status"] == (
        "not shown equivalent within ±1 points at 10 seeds: the 90% interval reaches beyond the "
        f"margin, and no difference is detected either{r.torch_diff.resolution()}")
    # referee (fresh quick run): "wider than the margin" was said of [-0.46, +1.01] pp, an
    # interval narrower than the margin's ±1 that passes its upper end
    tost = r.torch_tost.primary
    assert tost.lo < -0.01 or tost.hi > 0.01
    assert words["status"].count("would likely be missed") == 1
    row = _glance_row(r)
    assert row["answer"] == f"Our dropout and torch.nn.Dropout: {words['status']}."
    assert row["lines"][0]["verdict"] == words["status"]
    assert "cannot be told apart" not in row["answer"]  # the old summary's words
    md = syn.section_markdown(ex.EXERCISE, words, {"sweep": "figures/ex10_sweep.png"})
    assert f"Here: **{words['status']}**." in md


def test_equivalent_is_said_alike_above_and_below_and_only_inside_the_margin():
    r = run(jitter=0.001)
    words = ex.context(r)
    tost = r.torch_tost.primary
    assert tost.level == pytest.approx(0.90) and -0.01 < tost.lo < tost.hi < 0.01
    said = (f"equivalent within ±1 points at 10 seeds (the 90% equivalence interval "
            f"{r.torch_tost.quantity.text(tost)} lies inside ±1)")
    assert words["status"] == said
    row = _glance_row(r)
    assert row["answer"] == f"Our dropout and torch.nn.Dropout: {said}."
    assert row["lines"][0]["verdict"] == words["status"]
    wide = ex.context(run(jitter=0.02))
    assert not wide["status"].startswith("equivalent") and "equivalent within" not in \
        _glance_row(run(jitter=0.02))["answer"].replace("not shown equivalent within", "")


def test_a_significant_difference_is_a_defect_in_both_places_never_equivalent():
    r = run(effect={TORCH: 0.002}, jitter=0.0003)
    words = ex.context(r)
    assert words["status"] == ("not equivalent: they differ significantly (torch's higher), "
                               "a defect to find and explain")
    row = _glance_row(r)
    assert row["lines"][0]["verdict"] == words["status"]
    assert row["answer"] == f"Our dropout and torch.nn.Dropout: {words['status']}."
    assert "equivalent within" not in row["answer"]
    lower = ex.context(run(effect={TORCH: -0.002}, jitter=0.0003))["status"]
    assert "(ours higher)" in lower


def test_without_a_verdict_the_summary_says_not_answered():
    r = run(diverged={(TORCH, s): 1 for s in SEEDS[1:]})
    assert ex.context(r)["glance_words"] is None
    assert _glance_row(r)["answer"].startswith("Not answered: too few seed pairs")


def test_one_seed_pair_does_not_print_an_interval_level_beside_no_interval():
    r = run(diverged={(TORCH, s): 1 for s in SEEDS[1:]})
    answer = ex.context(r)["answer"]
    assert "not shown (one seed pair" in answer
    assert "interval, 1 seed)" not in answer and "(90% interval" not in answer
    assert "(90% interval, 10 seeds)" in ex.context(run(jitter=0.001))["answer"]


def _agreeing_seeds(res, ratio, step0=None):
    """Referee 4, 2: three seeds whose per-seed means agree to ~1e-5 while their probe points
    scatter by ±0.25%; ``step0``: a step-0 (untrained) probe at that ratio, for every seed."""
    acts = res.activations
    keep = acts[acts["layer"] == 2]
    rows = []
    for cond in (REF, TORCH, VANILLA):
        for seed in (0, 1, 2):
            for i, (step, epoch) in enumerate(PASSES):
                x = ratio * (1 + 0.0025 * (-1) ** i) * (1 + 1e-5 * seed)
                rows.append({"condition": cond, "seed": seed, "step": step, "epoch": epoch,
                             "layer": 1, "rate": 0.2, "mean_pre": 0.4, "var_pre": 0.3,
                             "mean_post": 0.4 * x, "var_post": 0.4, "mean_eval": 0.4,
                             "var_eval": 0.3, "experiment": "sanity", "job": "j000"})
            if step0 is not None:
                rows.append(rows[-1] | {"step": 0, "epoch": 0.0, "mean_post": 0.4 * step0})
    res.activations = pd.concat([keep, pd.DataFrame(rows)], ignore_index=True)
    return res


def test_seeds_that_agree_closer_than_their_probe_points_scatter_claim_no_departure():
    """Referee 4, 2: 1.0005 [1.0004, 1.0005] from 3 seed means agreeing to 3e-5 while the
    probe points scatter by 0.25%: the interval's variance of a seed's value is floored at
    the probe points' scatter, so no departure is claimed, in the section or the row."""
    r = ex.analyze(_agreeing_seeds(tables(seeds=[0, 1, 2]), 1.0005))
    for c in (REF, VANILLA, TORCH):
        e = r.ratios[c]
        assert e.n == 3 and e.value == pytest.approx(1.0005, abs=1e-4)
        assert e.contains(1.0) and e.hi - e.lo > 0.002  # not [1.0004, 1.0005]
    words = ex.context(r)
    assert "departs from 1" not in words["takeaway"]
    assert "departs" not in words["glance_words"]["answer"]
    # a real departure, as large against the same scatter, is still found and said in the row
    far = ex.analyze(_agreeing_seeds(tables(seeds=[0, 1, 2]), 1.05))
    assert not far.ratios[VANILLA].contains(1.0)
    lead = ex.context(far)["takeaway"].split(" Our layer")[0].split(" Whether")[0]
    assert lead.startswith("The train-mode / eval-mode ratio departs from 1 for ")
    assert ex.context(far)["glance_words"]["answer"].endswith(lead)


def test_the_step0_probe_is_left_out_of_the_ratio():
    """Referee 4, 2: the step-0 probe (the initialisation, the same weights in every condition
    of a seed) is no trained model's ratio: planted far off, it moves nothing."""
    with0 = ex.analyze(_agreeing_seeds(tables(seeds=[0, 1, 2]), 1.0, step0=1.5))
    without = ex.analyze(_agreeing_seeds(tables(seeds=[0, 1, 2]), 1.0))
    assert with0.points == without.points == len(PASSES)
    for c in (REF, VANILLA, TORCH):
        assert with0.ratios[c].value == pytest.approx(without.ratios[c].value)
        assert with0.ratios[c].value == pytest.approx(1.0, abs=1e-3)


def test_vanilla_against_inverted_is_claimed_only_after_holm_with_torch_against_ours():
    """Referee (full study): "vanilla − inverted: -0.21 pp [-0.43, 0.00] (vanilla worse)" stood
    on p = 0.047, uncorrected, beside torch − ours against the same reference. Planted at
    p = 0.03: a claim alone at 95%, none at its Holm step (97.50%); at p = 0.01, a claim."""
    from dropout_study.contrast import condition_contrast

    res = tables(effect={VANILLA: 0.0012}, jitter=0.001)
    r = ex.analyze(res)
    alone = condition_contrast(res.ends("sanity"), r.vanilla, r.ref, 0.95)
    assert 0.025 < alone.primary.p < 0.05 and alone.claim
    assert not r.vanilla_diff.claim and r.vanilla_diff.primary.level == pytest.approx(0.975)
    assert ex.context(r)["vanilla_row"]["verdict"].startswith("no detectable difference")
    # its absence: a larger effect keeps its claim after correction, in its direction
    strong = ex.analyze(tables(effect={VANILLA: 0.0015}, jitter=0.001))
    assert strong.vanilla_diff.claim and strong.vanilla_diff.direction == 1
    assert ex.context(strong)["vanilla_row"]["verdict"] == "vanilla better"
