"""Exercise 5's claims on synthetic tables with planted effects."""

import math
import re
from dataclasses import replace

import pytest

from dropout_study import plots
from dropout_study.errors import ConfigError
from dropout_study.exercises import weight_decay as ex
from tests import synthetic as syn

SEEDS = list(range(10))
RATES, DECAYS = [[0.0, 0.0], [0.2, 0.5]], [0.0, 1e-4, 1e-3]
NONE, DROP = "p1=0,p2=0,wd=0", "p1=0.2,p2=0.5,wd=0"
DECAY, DECAY_HI = "p1=0,p2=0,wd=0.0001", "p1=0,p2=0,wd=0.001"
BOTH, BOTH_HI = "p1=0.2,p2=0.5,wd=0.0001", "p1=0.2,p2=0.5,wd=0.001"
EFFECTS = {DROP: 0.03, DECAY: 0.02, DECAY_HI: 0.01, BOTH_HI: -0.03}


def cells(rates=RATES) -> dict[str, dict]:
    return {f"{ex.rates_name(*r)},wd={wd:g}": {
        "rate1": r[0], "rate2": r[1], "weight_decay": wd,
        "factor_dropout": ex.rates_name(*r), "factor_wd": wd} for r in rates for wd in DECAYS}


def run(interaction=0.0, test=None, val=None, jitter=0.001, diverged=None, nan=None,
        seeds=SEEDS, norms=None, rates=RATES):
    """Every cell at 0.80 plus a per-seed offset shared by all cells (pairing removes it) and
    its own jitter; ``test`` plants each cell's effect (default: dropout +3, decay +2 points,
    both = their sum + ``interaction``); validation accuracy equals test accuracy except where
    ``val`` plants another effect. ``norms`` gives each cell's ‖W1‖ as a factor of none's."""
    test = test or {**EFFECTS, BOTH: 0.05 + interaction}
    val = {**test, **(val or {})}

    def base(cond, seed):
        return 0.80 + syn.noise(seed, 0.02) + syn.noise(seed, jitter, cond)

    def acc(cond, seed, epoch):
        if nan and (cond, seed) == nan:
            return float("nan")
        return base(cond, seed) + test.get(cond, 0.0)

    cfg = syn.config(experiments={"weight_decay": {"rates": rates, "decay": DECAYS}})
    metrics, runs = syn.run_tables(
        "weight_decay", cells(rates), seeds, 4, acc, diverged,
        extra={"val_acc": lambda c, s, e: base(c, s) + val.get(c, 0.0)})
    if norms:
        w = 10.0 * (1 + runs["seed"].map(lambda s: syn.noise(s, 0.1)))
        jitter = [1 + syn.noise(s, 0.002, c)
                  for s, c in zip(runs["seed"], runs["condition"], strict=True)]
        runs["weight_norm1"] = w * runs["condition"].map(lambda c: norms.get(c, 1.0)) * jitter
    return ex.analyze(syn.results(cfg, metrics, runs))


# -- the interaction: sign, value, words --------------------------------------------------------
@pytest.mark.parametrize("planted", [-0.02, 0.02])
def test_a_planted_interaction_is_found_with_its_sign(planted):
    r = run(interaction=planted)
    c = r.interaction
    assert c.label == "Δboth − (Δdropout + Δdecay)"
    assert c.primary.value == pytest.approx(planted, abs=2e-3)  # as b − a it would be -planted
    assert c.primary.contains(planted) and c.pairs == 10 and c.claim
    w = ex.context(r)
    assert f"= {c.quantity.text(c.primary)} (10 seeds stable in all four cells)" in w["answer"]
    assert c.quantity.text(c.primary).startswith("-" if planted < 0 else "+")


def test_super_additive_words_follow_a_positive_interval():
    w = ex.context(run(interaction=0.02))
    assert "super-additive: together they do more than the sum" in w["answer"]
    assert "On accuracy, super-additive: together they do more than the sum of their effects " \
        "(Δboth − (Δdropout + Δdecay): +" in w["takeaway"]


@pytest.mark.parametrize("planted, words", [
    (-0.01, "diminishing returns: together better than either, but less than the sum"),
    (-0.02, "diminishing: together better than neither, but less than the sum and not "
            "detectably better than dropout alone"),
    (-0.04, "diminishing: together better than neither, but worse than dropout alone"),
    (-0.05, "cancelling: together not detectably better than neither (both − none: "),
    (-0.07, "cancelling: together they do worse than neither"),
])
def test_a_negative_interaction_is_told_diminishing_or_cancelling(planted, words):
    r = run(interaction=planted)
    assert r.interaction.direction == -1
    w = ex.context(r)
    assert w["kind"].startswith(words) and f": {words}" in w["answer"]
    assert f"On accuracy, {w['kind']} (Δboth − (Δdropout + Δdecay): -" in w["takeaway"]
    assert "overlapping levers" not in w["takeaway"]  # a mechanism the data do not show


def test_additive_only_when_the_interval_is_narrow_against_both_effects():
    r = run()  # no interaction, jitter 0.1 point: the interval is far inside ±1 point
    assert not r.interaction.claim and ex.additive(r)
    w = ex.context(r)
    assert w["kind"].startswith("additive: no detectable interaction at 10 seeds")
    assert "On accuracy their effects add up" in w["takeaway"]


def test_a_wide_interval_says_no_detectable_interaction_with_its_resolution():
    r = run(jitter=0.02)  # the same sum, but a paired SD of several points
    c = r.interaction
    assert not c.claim and c.primary.contains(0.0) and not ex.additive(r)
    assert c.primary.hi - c.primary.lo > 0.01
    w = ex.context(r)
    assert w["kind"].startswith("no detectable interaction at 10 seeds: none larger than ")
    assert w["kind"].endswith("would likely be missed")
    assert "additive" not in w["takeaway"] and "additive" not in w["answer"]
    assert "no detectable interaction at 10 seeds: none larger than" in w["takeaway"]


def test_additive_needs_both_single_effects_detected():
    r = run(test={DROP: 0.03, BOTH: 0.03})  # decay does nothing, no interaction
    assert not r.effect("decay").claim and not ex.additive(r)
    assert ex.kind(r).startswith("the interaction is uninformative: decay alone − none is ")


@pytest.mark.parametrize("test, quiet, loud", [
    ({DROP: 0.03, BOTH: 0.03}, "decay alone", "dropout alone"),  # decay does nothing
    ({DECAY: 0.02, BOTH: 0.02}, "dropout alone", "decay alone"),  # dropout does nothing
])
def test_an_interaction_with_a_factor_that_does_nothing_is_uninformative(test, quiet, loud):
    """Finding 5: the old words said "no detectable interaction" (and the glance "together they
    do what the sum predicts") where one method had no detectable effect of its own."""
    r = run(test=test)
    c = r.interaction
    assert c.tested and not c.claim and c.uninformative
    assert c.uninformative.startswith(f"the interaction is uninformative: {quiet} − none is ")
    assert f"{loud} − none" not in c.uninformative
    assert "(no detectable difference at 10 seeds: none larger than " in c.uninformative
    assert c.uninformative.endswith("so with a factor that has no detectable effect of its own "
                                    "the interaction contrast cannot say whether the effects "
                                    "add, diminish or cancel")
    w = ex.context(r)
    assert "uninformative" in w["kind"] and "uninformative" in w["answer"]
    assert w["takeaway"].endswith(f"On accuracy, {c.uninformative} ({c.difference()}).")
    for said in ("additive", "no detectable interaction", "cannot tell the sum"):
        assert said not in w["kind"] + w["answer"] + w["takeaway"]
    from dropout_study import glance
    line = glance.line(c, ex.EXERCISE.glance, None)
    assert line["answer"] == c.uninformative[0].upper() + c.uninformative[1:] + "."
    assert line["verdict"] == "uninformative (no claim)"


def test_an_interaction_of_two_effective_factors_is_not_uninformative():
    for r in (run(), run(jitter=0.02), run(interaction=0.02)):
        assert r.effect("dropout").claim and r.effect("decay").claim
        assert r.interaction.uninformative == ""
        assert "uninformative" not in ex.context(r)["answer"] + ex.context(r)["takeaway"]
    from dropout_study import glance
    line = glance.line(run(jitter=0.02).interaction, ex.EXERCISE.glance, None)
    assert line["answer"] == ("No interaction detected between dropout and weight decay, each of "
                              "which has a detectable effect of its own.")


@pytest.mark.parametrize("test, sign", [
    ({DROP: 0.03, BOTH: 0.06}, "+"),  # decay alone nothing, together +3 more than dropout
    ({DROP: 0.03, BOTH: 0.01}, "-"),  # decay alone nothing, together 2 less than dropout
])
def test_an_interval_that_excludes_zero_with_a_quiet_factor_is_still_uninformative(test, sign):
    """Referee objection 1: with a factor that has no detectable effect of its own, an
    interaction interval excluding zero was called super-additive / diminishing / cancelling
    (words that presuppose two single effects); it is uninformative, its number still shown."""
    r = run(test=test)
    c = r.interaction
    assert c.primary.excludes_zero() and c.tested  # the contrast itself excludes zero
    assert not c.claim and c.direction == 0
    assert c.uninformative.startswith("the interaction is uninformative: decay alone − none is ")
    w = ex.context(r)
    said = w["kind"] + w["answer"] + w["takeaway"] + w["interaction"]["verdict"]
    for word in ("super-additive", "diminishing", "cancelling", "less than the sum",
                 "more than the sum", "no better than neither", "overlapping levers"):
        assert word not in said
    assert f"({c.difference()} over 10 seeds)" in w["kind"]
    assert f"Δboth − (Δdropout + Δdecay): {sign}" in w["answer"]
    assert w["interaction"]["verdict"].startswith("uninformative (no claim)")
    from dropout_study import glance
    line = glance.line(c, ex.EXERCISE.glance, None)
    assert line["verdict"] == "uninformative (no claim)"
    assert line["answer"].startswith("The interaction is uninformative: decay alone − none")
    from dropout_study.contrast_words import c_text
    assert c_text(c) == f"{c.difference()} over 10 seeds"  # no "none larger than" for it


def test_a_claimed_interaction_of_two_effective_factors_keeps_its_words():
    r = run(interaction=-0.02)  # both single effects detected: the contrast decides
    assert r.interaction.claim and r.interaction.uninformative == ""
    from dropout_study import glance
    line = glance.line(r.interaction, ex.EXERCISE.glance, None)
    assert line["verdict"] == "less than additive"
    assert "diminishing returns" not in line["answer"]  # cancelling is also less than the sum


def test_fewer_than_five_decay_values_are_said():
    r = run()  # 3 decay values
    w = ex.context(r)
    assert w["few_decays"] == ("This preset runs 3 decay values, fewer than the 5 (including 0) "
                               "the protocol asks for: the best decay is picked from a coarse "
                               f"grid. {ex.decay_ends(r)}")
    md = syn.section_markdown(ex.EXERCISE, w, {"grid": "figures/ex5_decay.png"})
    assert "This preset runs 3 decay values, fewer than the 5" in md.replace("\n", " ")
    assert ex.few_decays([0.0, 1e-5, 1e-4, 1e-3, 1e-2]) == ""


def test_a_decay_picked_at_an_end_of_the_decays_tried_is_said():
    """Referee read 8: a pick at the smallest or largest decay tried leaves a better one beyond
    the grid possible; it is said where the picks are (and not where they lie inside)."""
    from dataclasses import replace

    r = replace(run(), decays=[0.0, 1e-4, 1e-3, 1e-2], picked_decay={"decay": 1e-3, "both": 1e-2})
    assert ex.decay_ends(r) == (
        "Picked at an end of the decays tried: both at λ = 0.01 (the largest it tried); a "
        "better decay beyond those tried is not excluded, and the comparisons stand at the "
        "decays picked.")
    r = replace(r, picked_decay={"decay": 1e-4, "both": 1e-2})
    assert ex.decay_ends(r).startswith(
        "Picked at an end of the decays tried: decay alone at λ = 0.0001 (the smallest it "
        "tried) and both at λ = 0.01 (the largest it tried);")
    md = syn.section_markdown(ex.EXERCISE, ex.context(r), {"grid": "figures/ex5_decay.png"})
    assert "decay alone at λ = 0.0001 (the smallest it tried)" in " ".join(md.split())
    r = replace(r, picked_decay={"decay": 1e-3, "both": 1e-3})
    assert ex.decay_ends(r) == "" and "Picked at an end" not in ex.context(r)["few_decays"]
    # the analysis records the λ of the cells it picked
    r = run()
    assert r.picked_decay == {role: float(r.picked[role].split("wd=")[1])
                              for role in ("decay", "both")}


def test_additive_needs_the_interval_inside_half_the_smaller_effect():
    r = run(test={DROP: 0.03, DECAY: 0.004, BOTH: 0.034}, jitter=0.002)
    assert r.effect("decay").claim and not r.interaction.claim
    half = 0.5 * r.effect("decay").primary.value
    assert r.interaction.primary.hi > half or r.interaction.primary.lo < -half
    assert not ex.additive(r)


# -- the selection: validation only -----------------------------------------------------------
def test_each_best_and_the_better_single_are_picked_on_validation_not_test():
    # test says decay 1e-4 and dropout are best; validation says decay 1e-3 and decay
    r = run(test={**EFFECTS, BOTH: 0.05}, val={DECAY_HI: 0.05, DECAY: 0.0, BOTH_HI: 0.07})
    assert r.picked == {"none": NONE, "dropout": DROP, "decay": DECAY_HI, "both": BOTH_HI}
    assert r.better_single == "decay"  # the old analysis picked "dropout" (higher on test)
    assert "both − decay alone" in r.effects and "both − dropout alone" not in r.effects
    assert r.val["decay"] - r.val["none"] == pytest.approx(0.05, abs=3e-3)
    vs = r.versus_single
    assert vs.label == "both − decay alone"
    assert vs.primary.value == pytest.approx(-0.03 - 0.01, abs=2e-3)  # reported on test
    w = ex.context(r)
    assert w["better_single"] == "decay"
    roles = {row["condition"]: row["role"] for row in w["table"]}
    assert roles[DECAY_HI] == "decay alone (best)" and roles[DECAY] == ""
    assert roles[BOTH_HI] == "both (best)"


def test_a_tie_on_validation_goes_to_dropout():
    r = run(test={DROP: 0.02, DECAY: 0.02, BOTH: 0.04}, jitter=0.0)
    r2 = run(test={DROP: 0.02, DECAY: 0.021, BOTH: 0.04}, jitter=0.0)
    assert r.val["dropout"] == r.val["decay"]
    assert r.better_single == "dropout" and r2.better_single == "decay"


def test_the_effects_are_a_holm_family_of_picked_cell_minus_none():
    r = run(interaction=-0.02)
    assert list(r.effects) == ["dropout alone − none", "decay alone − none", "both − none",
                               "both − dropout alone"]
    assert r.effect("dropout").primary.value == pytest.approx(0.03, abs=2e-3)
    assert r.effect("decay").primary.value == pytest.approx(0.02, abs=2e-3)
    assert r.effect("both").primary.value == pytest.approx(0.03, abs=2e-3)
    levels = sorted(c.primary.level for c in r.effects.values() if c.tested)
    assert levels == pytest.approx([1 - 0.05 / k for k in range(1, len(levels) + 1)])
    assert r.interaction.primary.level == pytest.approx(0.95)  # not part of the family


# -- diverged, missing, too few -----------------------------------------------------------------
def test_a_diverged_run_leaves_the_interaction_and_is_counted():
    r = run(interaction=-0.02, diverged={(NONE, 3): 2})
    assert r.interaction.pairs == 9 and r.interaction.claim
    assert r.effect("dropout").pairs == 9 and r.versus_single.pairs == 10
    assert (r.effect("dropout").unstable_b, r.effect("dropout").runs_b) == (1, 10)
    assert r.interaction.unstable_a == r.interaction.unstable_b == 1
    row = next(t for t in r.table if t.condition == NONE)
    assert (row.runs, row.unstable, row.n("endpoint")) == (10, 1, 9)
    assert ex.context(r)["unstable"] == 1


def test_stable_in_the_interaction_means_stable_in_all_four_cells():
    # every decay cell loses seed 1 and every "both" cell seed 2, so the picks keep them
    r = run(diverged={(DECAY, 1): 2, (DECAY_HI, 1): 2, (BOTH, 2): 3, (BOTH_HI, 2): 3})
    assert (r.picked["decay"], r.picked["both"]) == (DECAY, BOTH)
    assert r.interaction.pairs == 8


def test_a_cell_with_an_unstable_run_ranks_below_the_stable_ones():
    """Finding 10 of issue 22: selection averaged the stable survivors of each cell, so a
    cell with a collapsed run could be picked on them; it now ranks below every stable cell."""
    r = run(diverged={(DECAY, 1): 2})  # DECAY is better on validation (+2 against +1 points)
    assert r.picked["decay"] == DECAY_HI
    assert r.val["decay"] == pytest.approx(r.val["none"] + 0.01, abs=2e-3)


def test_a_nan_endpoint_leaves_its_seed_out_of_the_interaction():
    r = run(interaction=-0.02, nan=(DROP, 5))
    assert r.interaction.pairs == 9 and r.interaction.claim


def test_a_single_surviving_seed_gives_no_verdict():
    r = run(interaction=-0.05, diverged={(NONE, s): 1 for s in SEEDS[1:]})
    c = r.interaction
    assert c.pairs == 1 and not c.tested and not c.claim and not ex.additive(r)
    w = ex.context(r)
    assert "no verdict: 1 seed stable in all four cells, at least 3 needed" in w["answer"]
    assert "the interaction gets no verdict" in w["takeaway"]
    r2 = run(diverged={(NONE, s): 1 for s in SEEDS[2:]})
    assert "no verdict: 2 seeds stable" in ex.context(r2)["answer"]


# -- weight norms: ratios ------------------------------------------------------------------------
def test_weight_norms_are_compared_as_ratios_cell_over_none():
    r = run(norms={DROP: 0.9, DECAY: 0.8, BOTH: 1.2})
    ratio = {k: e.value for k, e in r.norm_ratio.items()}
    assert ratio == pytest.approx({"dropout": 0.9, "decay": 0.8, "both": 1.2}, abs=4e-3)
    assert r.norm_ratio["dropout"].hi < 1  # none / dropout would be 1.11
    assert r.none_norm.value == pytest.approx(10.0, abs=0.5) and r.none_norm.lo > 0
    t = ex.context(r)["takeaway"]
    assert "dropout alone shrinks it (x0." in t and "decay alone shrinks it (x0." in t
    assert "both together grows it (x1." in t


def test_a_norm_ratio_is_a_change_only_when_its_interval_excludes_one_with_n_and_resolution():
    """Finding 4: "does not detectably change it (x0.979 [0.859, 1.116])" gave neither n nor
    resolution, and was said on 2 seeds."""
    r = run(norms={DROP: 0.9, DECAY: 0.8, BOTH: 1.2})
    assert ex.norm_change(r.norms["dropout"]).startswith("shrinks it (x0.")
    assert ex.norm_change(r.norms["dropout"]).endswith("] over 10 seeds)")
    assert ex.norm_change(r.norms["both"]).startswith("grows it (x1.")
    r = run()  # every norm 10: no change
    text = ex.norm_change(r.norms["decay"])
    assert re.fullmatch(r"does not detectably change it \(x1\.000 \(no spread: all 10 values "
                        r"equal\) over 10 "
                        r"seeds: none larger than a factor [\d.]+ would likely be missed\)", text)
    two = run(seeds=[0, 1])
    text = ex.norm_change(two.norms["decay"])
    assert text.startswith("gives no verdict on it (x1.000") and "over 2 seeds; no verdict: 2 " \
        "seed pairs stable in both arms, at least 3 needed)" in text
    assert "does not detectably" not in ex.context(two)["takeaway"]
    assert r.norms["dropout"].label == f"{DROP} / {NONE}" and r.norms["dropout"].quantity is ex.NORM


def test_norm_ratio_intervals_stay_positive():
    r = run(norms={DROP: 0.5, DECAY: 0.01, BOTH: 0.02})
    for e in r.norm_ratio.values():
        assert e.lo > 0 and e.lo <= e.value <= e.hi


# -- conditions, config, figure, template ---------------------------------------------------------
def test_the_factorial_conditions_keep_their_names_and_factors():
    cfg = syn.config(experiments={"weight_decay": {"rates": RATES, "decay": DECAYS}})
    conds = ex.conditions(cfg)
    assert [c.name for c in conds] == list(cells())
    both = conds[4]
    assert both.rates == (0.2, 0.5) and both.weight_decay == pytest.approx(1e-4)
    assert conds[0].rates == (0.0, 0.0) and conds[0].weight_decay == 0.0
    assert dict(both.factors) == {"dropout": "p1=0.2,p2=0.5", "wd": 1e-4}
    assert both.experiment == "weight_decay" and both.epochs == cfg["training"]["epochs"]


def test_check_requires_the_no_decay_and_no_dropout_cells():
    ex.check(syn.config(experiments={"weight_decay": {"rates": RATES, "decay": DECAYS}}))
    with pytest.raises(ConfigError, match=r"'experiments.weight_decay.decay': must include 0"):
        ex.check(syn.config(experiments={"weight_decay": {"decay": [1e-4, 1e-3]}}))
    with pytest.raises(ConfigError,
                       match=r"'experiments.weight_decay.rates': must include \[0, 0\]"):
        ex.check(syn.config(experiments={"weight_decay": {"rates": [[0.2, 0.5], [0.5, 0.5]],
                                                          "decay": DECAYS}}))


def test_the_exercise_record():
    e = ex.EXERCISE
    assert (e.number, e.key, e.block, e.reads) == (5, "weight_decay", "weight_decay",
                                                    ("weight_decay",))
    assert e.trains == {"weight_decay": ex.conditions} and e.check is ex.check


def test_the_figure_is_drawn(tmp_path):
    cfg = syn.config(experiments={"weight_decay": {"rates": RATES, "decay": DECAYS}})
    metrics, runs = syn.run_tables("weight_decay", cells(), SEEDS[:3], 4,
                                   lambda c, s, e: 0.8 + syn.noise(s, 0.01, c))
    res = syn.results(cfg, metrics, runs)
    out = ex.draw(res, ex.analyze(res), tmp_path)
    assert out["grid"].exists() and out["grid"].stat().st_size > 0
    # referee read 3: the "none" and "dropout" picks, both at λ = 0, were labelled on top of
    # each other
    assert plots.OVERLAPS[str(out["grid"])] == []


def test_the_template_renders_the_answer_and_the_interaction():
    r = run(interaction=-0.02)
    md = syn.section_markdown(ex.EXERCISE, ex.context(r), {"grid": "figures/ex5_decay.png"})
    assert "## Exercise 5: Dropout and weight decay, alone and together" in md
    assert "**Answer.** Interaction contrast Δboth − (Δdropout + Δdecay) = -" in md
    assert "| Δboth − (Δdropout + Δdecay) |" in md and "| both − dropout alone |" in md
    assert f"| {BOTH} | both (best) |" in md
    v = ex.context(r)["val"]
    assert f"higher validation accuracy (dropout: dropout alone {v['dropout']}, decay alone " \
        f"{v['decay']})" in md.replace("\n", " ")
    assert float(v["dropout"][:-1]) - float(v["decay"][:-1]) == pytest.approx(1.0, abs=0.15)
    # referee read 4, 9: the table's validation column (stable runs) is not the selection's
    # score (all runs), and says so
    assert "| validation accuracy, stable runs (%) |" in md
    assert ("A cell is scored on validation by its mean over all its runs with a value, a failed "
            "run included") in " ".join(md.split())


def test_what_was_run_gives_the_instability_counts_by_kind():
    r = run(diverged={(NONE, 3): 2})
    md = syn.section_markdown(ex.EXERCISE, ex.context(r), {"grid": "figures/ex5_decay.png"})
    assert ("(60 runs, 1 failed: 0 unstable at the endpoint, 1 diverged, 0 never trained; 0 "
            "transient "
            "collapses of stable runs, runs kept)") in md.replace("\n", " ")


# -- additive: the boundaries of the rule --------------------------------------------------------
def _with(r, role=None, **primary):
    """``r`` with the interaction's primary interval (or a single effect's claim) replaced."""
    if role is None:
        c = replace(r.interaction, primary=replace(r.interaction.primary, **primary))
        return replace(r, interaction=c)
    key = f"{ex.ALONE[role]} − none"
    return replace(r, effects={**r.effects, key: replace(r.effects[key], claim=False)})


def test_additive_needs_each_single_effect_claimed():
    r = run()
    assert ex.additive(r)
    assert not ex.additive(_with(r, "dropout")) and not ex.additive(_with(r, "decay"))


def test_additive_margin_is_strict_on_both_sides():
    r = run()
    half = 0.5 * min(r.effect("dropout").primary.value, r.effect("decay").primary.value)
    assert ex.additive(_with(r, lo=-half * 0.99, hi=half * 0.99))
    assert not ex.additive(_with(r, lo=-half, hi=0.0))
    assert not ex.additive(_with(r, lo=0.0, hi=half))


def test_a_detected_small_interaction_is_not_additive():
    r = run(test={DROP: 0.2, DECAY: 0.1, BOTH: 0.29}, jitter=0.0005)
    assert r.interaction.claim and r.interaction.primary.hi > -0.05
    assert not ex.additive(r) and ex.kind(r).startswith("diminishing")


# -- the sentences, word for word ----------------------------------------------------------------
def _mech(r):
    t = ex.context(r)["takeaway"]
    return t[:t.index(". ") + 2]


def test_the_mechanism_sentence_word_for_word():
    r = run(norms={DROP: 0.9, DECAY: 0.8, BOTH: 1.2})
    e = r.none_norm
    def ratio(role):
        return (f"{ex.words.ratio(r.norms[role].primary.mapped(math.exp), 3)} over 10 "
                "seeds")

    assert _mech(r) == (
        f"In the first layer's weight norm (Frobenius; measured beside accuracy, not shown to be "
        f"the mechanism; none {e.value:.2f} [{e.lo:.2f}, {e.hi:.2f}] over 10 stable runs): paired "
        f"against no "
        f"regularisation (ratio cell / none, Holm-corrected over its 3 ratios), dropout alone "
        f"shrinks it ({ratio('dropout')}), decay alone shrinks it ({ratio('decay')}), both "
        f"together grows it ({ratio('both')}). ")
    levels = sorted(c.primary.level for c in r.norms.values())
    assert levels == pytest.approx([0.95, 0.975, 1 - 0.05 / 3])  # Holm over the three


def test_each_takeaway_ending_word_for_word():
    r = run(interaction=-0.02)
    assert ex.context(r)["takeaway"] == _mech(r) + (
        f"On accuracy, {ex.kind(r)} ({r.interaction.difference()}).")
    r = run(interaction=0.02)
    assert ex.context(r)["takeaway"] == _mech(r) + (
        "On accuracy, super-additive: together they do more than the sum of their effects "
        f"({r.interaction.difference()}).")
    r = run()
    assert ex.context(r)["takeaway"] == _mech(r) + (
        f"On accuracy their effects add up: {r.interaction.difference()}, an interval inside "
        "half the smaller single effect.")
    r = run(jitter=0.02)
    assert ex.context(r)["takeaway"] == _mech(r) + (
        f"On accuracy, no detectable interaction at 10 seeds{r.interaction.resolution()}; these "
        "seeds cannot tell the sum of the two effects from their joint effect.")
    r = run(diverged={(NONE, s): 1 for s in SEEDS[1:]})
    assert ex.context(r)["takeaway"] == _mech(r) + (
        "On accuracy, the interaction gets no verdict: 1 seed stable in all four cells, at "
        "least 3 needed.")
    # referee read 8: ratios none of which is tested are not said to be Holm-corrected
    assert "(ratio cell / none, none of its 3 ratios has the 3 seed pairs stable in both " \
        "cells a verdict needs, so none is tested or corrected)" in _mech(r)
    assert "Holm" not in _mech(r)
    assert " over 1 stable run): " in _mech(r)  # referee read 9: none's value says its n


def test_each_kind_word_for_word():
    assert ex.kind(run()) == ("additive: no detectable interaction at 10 seeds, and none as "
                              "large as half the smaller single effect fits the interval")
    assert ex.kind(run(interaction=0.02)) == (
        "super-additive: together they do more than the sum of their effects")


def test_the_words_for_the_rows_and_the_validation_accuracies():
    r = run(interaction=-0.02)
    w = ex.context(r)
    assert [e["verdict"] for e in w["effects"]] == ["higher", "higher", "higher",
                                                    w["effects"][3]["verdict"]]
    assert w["interaction"]["verdict"] == "together less than the sum"
    assert ex.context(run(interaction=0.02))["interaction"]["verdict"] == \
        "together more than the sum"
    assert ex.context(run(test={DROP: -0.03, DECAY: -0.02, BOTH: -0.05}))["effects"][0][
        "verdict"] == "lower"
    assert w["val"] == {k: f"{100 * v:.1f}%" for k, v in r.val.items()}
    assert w["val"]["dropout"] == f"{round(100 * r.val['dropout'], 1)}%"
    assert w["decays"] == ["0", "0.0001", "0.001"] and w["levels"] == ["p1=0,p2=0",
                                                                       "p1=0.2,p2=0.5"]


def test_a_dropout_level_with_one_zero_rate_is_still_dropout():
    r = run(test={"p1=0,p2=0.5,wd=0": 0.03, DECAY: 0.02, "p1=0,p2=0.5,wd=0.0001": 0.05},
            rates=[[0.0, 0.0], [0.0, 0.5]])
    assert r.picked["dropout"] == "p1=0,p2=0.5,wd=0" and r.picked["none"] == NONE
    assert r.picked["both"] == "p1=0,p2=0.5,wd=0.0001" and r.picked["decay"] == DECAY


def test_the_confidence_level_of_the_config_is_used():
    cfg = syn.config(experiments={"weight_decay": {"rates": RATES, "decay": DECAYS}},
                     analysis={"confidence": 0.9, "endpoint_epochs": 2})
    metrics, runs = syn.run_tables("weight_decay", cells(), SEEDS, 4,
                                   lambda c, s, e: 0.8 + syn.noise(s, 0.01, c))
    runs["weight_norm1"] = 10 + runs["seed"].map(lambda s: syn.noise(s, 0.5))
    r = ex.analyze(syn.results(cfg, metrics, runs))
    assert r.interaction.primary.level == 0.9 and r.design["k"] == 2
    levels = sorted(c.primary.level for c in r.effects.values())
    # no effect planted: Holm stops at its first step, and all four keep its level
    assert levels == pytest.approx([1 - 0.1 / 4] * 4)
    assert all(e.level == 0.9 for e in r.norm_ratio.values()) and r.none_norm.level == 0.9
    none = runs.loc[runs["condition"] == NONE, "weight_norm1"]
    assert r.none_norm.value == pytest.approx(none.mean())


# -- the two settings' sentence (both editions) ---------------------------------------------------
def test_the_two_settings_sentence_says_uninformative_not_agreement_on_no_interaction():
    """Old: "The two settings agree in that neither shows a detectable difference" where one
    setting's interaction said nothing (a factor without an effect of its own)."""
    from dropout_study.contrast_words import agreement

    quiet = run(test={DROP: 0.03, BOTH: 0.03}).interaction  # uninformative
    null = run(jitter=0.02).interaction  # informative: both factors act, no interaction
    text = agreement(quiet, null, "lr 0.5", "lr 0.1")
    assert text.startswith("The two settings say uninformative at lr 0.5 and no claim at lr "
                           "0.1: ")
    assert "agree" not in text
    both = agreement(null, null, "lr 0.5", "lr 0.1")
    assert both.startswith("The two settings agree in that neither shows a detectable "
                           "difference (two nulls, each at its own resolution: no test that the "
                           "effect is the same at both): ")
    # a null carries its resolution at each setting
    assert both.count(f"over 10 seeds{null.resolution()} at lr") == 2
    claimed = agreement(run(interaction=0.02).interaction, run(interaction=0.02).interaction,
                        "A", "B")
    assert "would likely be missed" not in claimed


def test_the_interaction_counts_its_failed_seeds_once_and_sets_no_seed_against_itself():
    """Issue 31, finding 4: the interaction's two arms (both + none, dropout + decay) share one
    stability per seed, and its instability line printed a paired difference in rates of that
    stability against itself ("0 pp [-19, +19]"). Planted: one seed diverged in none."""
    r = run(diverged={(NONE, 3): 2})
    c = r.interaction
    assert c.shared and c.rate_diff is None and c.unstable_a == 1 and c.pairs == 9
    text = c.instability()
    assert "paired difference in rates" not in text
    assert text.endswith("among the runs both arms are built from (one count for both, no rate "
                         "difference): 1 of 10 (10% [0.3, 45])")
    # its absence: a contrast of two cells of their own keeps its paired difference in rates
    assert "paired difference in rates" in r.effect("dropout").instability()


def test_the_effects_table_says_over_how_many_contrasts_holm_runs():
    """Issue 31 (referee, 13): "(Holm-corrected intervals)" where the older setting's family
    had 1 testable contrast of 4: the size of the correction is said."""
    dead = {(NONE, s): 1 for s in (1, 2)}  # 1 pair stable with none: 3 of 4 untested
    r = run(seeds=[0, 1, 2], diverged=dead)
    assert sum(c.tested for c in r.effects.values()) == 1 and len(r.effects) == 4
    md = syn.section_markdown(ex.EXERCISE, ex.context(r), {"grid": "figures/ex5_decay.png"})
    assert ("**Each alone and both together**, paired by seed (Holm-corrected over the 1 of "
            "its 4 contrasts with at least 3 seed pairs stable in both arms; the other 3 get no "
            "verdict):") in md
    # its absence: every contrast testable
    md = syn.section_markdown(ex.EXERCISE, ex.context(run()), {"grid": "figures/ex5_decay.png"})
    assert "paired by seed (Holm-corrected over its 4 contrasts):" in md


def test_the_single_methods_validation_scores_print_apart_where_one_is_picked():
    """Referee (full study): "(decay: dropout alone 86.9%, decay alone 86.9%)" picked a winner
    between two equal printed numbers (86.89 and 86.93)."""
    from dataclasses import replace

    r = run()
    close = replace(r, val={**r.val, "dropout": 0.8689, "decay": 0.8693})
    v = ex.context(close)["val"]
    assert (v["dropout"], v["decay"]) == ("86.89%", "86.93%")
    # its absence: scores a tenth of a point apart keep one decimal
    apart = replace(r, val={**r.val, "dropout": 0.8689, "decay": 0.8712})
    v = ex.context(apart)["val"]
    assert (v["dropout"], v["decay"]) == ("86.9%", "87.1%")
