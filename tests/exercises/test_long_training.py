"""Exercise 2's claims on synthetic tables with planted effects."""

import math
import re
from dataclasses import replace

import numpy as np
import pytest

from dropout_study import plots
from dropout_study.errors import ConfigError
from dropout_study.exercises import long_training as ex
from tests import synthetic as syn

SEEDS = list(range(10))
EPOCHS = 12
OFF, ON = "p1=0,p2=0", "p1=0.2,p2=0.5"
CONDS = {OFF: {"rate1": 0.0, "rate2": 0.0, "factor_dropout": "off"},
         ON: {"rate1": 0.2, "rate2": 0.5, "factor_dropout": "on"}}
BLOCK = {"rates": [[0, 0], [0.2, 0.5]], "epochs": EPOCHS}
KEPT = "transient collapses of stable runs (recovered before the endpoint, runs kept)"
KEPT1 = "transient collapse of stable runs (recovered before the endpoint, runs kept)"


def jitter(cond, seed, size):
    """+size/2 for one arm and −size/2 for the other, the sign alternating over the seeds."""
    return size / 2 * (-1) ** seed * (1 if cond == ON else -1)


def tables(effect=0.0, rise_ratio=0.5, diverged=None, nan=None, seeds=SEEDS, min_epoch=None,
           rise=None, lr=0.5, confidence=0.95, conds=CONDS, block=BLOCK, trend=0.0, dip=None):
    """Test accuracy 0.85 plus a per-seed offset shared by both arms (pairing removes it);
    dropout gets ``effect`` more. The test loss falls to its minimum at epoch ``min_epoch``
    (4 without dropout, 6 with) and then rises linearly by ``rise`` (0.2 without dropout,
    ``rise_ratio`` times that with), reached 3 epochs before the last and kept. Each arm also
    gets a jitter of alternating sign over the seeds, so the paired differences have spread
    but the planted mean exactly (over an even number of seeds). ``dip``: (condition, seed) ->
    the epochs (first, last) in which that run's test accuracy falls to 60% (the instability rule's
    collapse; no divergence)."""
    dip = dip or {}
    min_epoch = min_epoch or (lambda cond, seed: 4 if cond == OFF else 6)
    rise = rise or (lambda cond, seed: 0.2 * (1 + syn.noise(seed, 0.3))
                    * (rise_ratio if cond == ON else 1.0) * math.exp(jitter(cond, seed, 0.04)))

    def acc(cond, seed, epoch):
        if nan and (cond, seed) == nan:
            return float("nan")
        if (cond, seed) in dip and dip[cond, seed][0] <= epoch <= dip[cond, seed][1]:
            return 0.6
        return (0.85 + syn.noise(seed, 0.02) + jitter(cond, seed, 0.004)
                + ((effect + trend * epoch) if cond == ON else 0.0))

    def loss(cond, seed, epoch):
        m = min_epoch(cond, seed)
        if epoch <= m:
            return 0.3 + 0.05 * (m - epoch)
        # to its full rise 3 epochs before the end, then flat: the rise over the endpoint
        # window (the last 3 epochs) is the planted one, and so is the last epoch's
        return 0.3 + rise(cond, seed) * min(1.0, (epoch - m) / max(EPOCHS - 3 - m, 1))

    metrics, runs = syn.run_tables("long_training", conds, seeds, EPOCHS, acc, diverged, loss)
    runs["lr"] = lr
    cfg = syn.config(experiments={"long_training": block}, analysis={"confidence": confidence})
    return syn.results(cfg, metrics, runs)


def run(**kw):
    return ex.analyze(tables(**kw))


# -- the headline contrast: test accuracy, dropout − none -------------------------------------
@pytest.mark.parametrize("effect", [0.01, -0.01])
def test_a_planted_accuracy_effect_is_found_with_its_sign(effect):
    r = run(effect=effect, rise_ratio=1.0)
    assert r.accuracy.label == f"{ON} − {OFF}"
    assert r.accuracy.primary.value == pytest.approx(effect, abs=1e-12)
    assert r.accuracy.primary.contains(effect)
    assert r.accuracy.pairs == 10 and r.accuracy.claim
    assert r.accuracy.direction == (1 if effect > 0 else -1)
    words = ex.context(r)
    text = r.accuracy.quantity.text(r.accuracy.primary)
    assert text.startswith("+" if effect > 0 else "-")
    assert f"by {text} against no dropout over 10 seeds ({'better' if effect > 0 else 'worse'})" \
        in words["answer"]
    if effect > 0:
        # referee (full study): "keeps its advantage" claimed an advantage at the short horizon
        # that nothing here measures
        assert words["takeaway"].endswith(
            f"Trained {r.design['epochs']} epochs, dropout ends ahead in test accuracy.")
        assert "keeps" not in words["takeaway"]
        assert "costs" not in words["takeaway"]
    else:
        assert "Trained this long, dropout costs test accuracy." in words["takeaway"]
        assert "advantage" not in words["takeaway"]
    assert words["accuracy"]["verdict"] == ("dropout is better" if effect > 0
                                            else "dropout is worse")


def test_no_planted_accuracy_effect_gives_no_claim_with_its_resolution():
    r = run(rise_ratio=1.0)
    assert not r.accuracy.claim and r.accuracy.direction == 0
    assert r.accuracy.primary.contains(0.0)
    words = ex.context(r)
    assert "against no dropout over 10 seeds (no detectable difference at 10 seeds: none " \
        "larger than" in words["answer"]
    assert re.search(r"At this horizon the accuracy difference is not resolved \(no detectable "
                     r"difference at 10 seeds: none larger than \d\.\d\d pp would likely be "
                     r"missed\)\.$", words["takeaway"])


def test_the_sign_convention_is_dropout_minus_none():
    r = run(effect=0.02)
    on = r.row(ON).values["endpoint"].value
    off = r.row(OFF).values["endpoint"].value
    assert r.accuracy.primary.value == pytest.approx(on - off)
    assert r.accuracy.primary.value > 0
    assert r.last.primary.value == pytest.approx(0.02, abs=2e-3)
    assert r.at_best_val.primary.value == pytest.approx(0.02, abs=2e-3)
    assert r.last.label == r.at_best_val.label == r.gap.label == f"{ON} − {OFF}"


def test_the_numbers_beside_the_headline_are_paired_and_signed():
    r = run(effect=0.02)
    d = ex.context(r)["diffs"]
    assert d["last"] == r.last.quantity.text(r.last.primary) and d["last"].startswith("+2.")
    assert d["at_best_val"].startswith("+2.")
    # training accuracy is test + 2 points in both: no spread, said in words (issue 31)
    assert d["gap"] == "0.00 pp (no spread: all 10 values equal)"
    assert r.gap.primary.value == pytest.approx(0.0, abs=1e-12)


# -- the loss rise, a ratio ---------------------------------------------------------------------
@pytest.mark.parametrize("ratio, words", [(0.5, "less overfitting"), (2.0, "more overfitting")])
def test_a_planted_ratio_of_loss_rises_is_found_on_the_log_scale(ratio, words):
    r = run(rise_ratio=ratio)
    assert r.rise.label == f"{ON} / {OFF}"  # a ratio, never under "a − b"
    assert r.rise.quantity is ex.RISE
    assert math.exp(r.rise.primary.value) == pytest.approx(ratio, rel=1e-9)
    assert r.rise.primary.contains(math.log(ratio))
    assert r.rise.pairs == 10 and r.rise.claim
    assert r.rise.direction == (1 if ratio > 1 else -1)  # log(a / b): a − b on the log scale
    c = ex.context(r)
    text = r.rise.quantity.text(r.rise.primary)
    assert text.startswith(f"x{ratio:.2f} [")
    assert f"multiplies the rise of the test loss above its minimum by {text} over 10 seeds " \
           f"({words})" in c["answer"]
    assert c["rise"]["verdict"] == words and c["rise"]["diff"] == text
    if ratio < 1:
        held = (f"({r.rise.label}: {text} over 10 seeds; a {r.rise.level_text} interval, "
                "Holm-corrected within its family)")
        assert (f"Dropout's test loss rises less above its minimum {held}: less overfitting in "
                "the loss; the accuracy difference is not resolved at this horizon (no "
                "detectable difference at 10 seeds: none larger than") in c["takeaway"]
    else:
        assert "less overfitting" not in c["takeaway"]


def test_a_null_ratio_of_rises_says_its_resolution_as_a_factor():
    r = run(rise_ratio=1.0)
    assert not r.rise.claim and r.rise.primary.contains(0.0)
    verdict = ex.context(r)["rise"]["verdict"]
    assert verdict.startswith("no detectable difference at 10 seeds: none larger than a factor 1.")


def test_less_overfitting_is_said_beside_an_accuracy_claim():
    def held(r):  # the rise's own corrected contrast, with its n and level (referee read 8)
        return (f" ({r.rise.label}: {r.rise.quantity.text(r.rise.primary)} over 10 seeds; a "
                f"{r.rise.level_text} interval, Holm-corrected within its family).")

    r = run(effect=0.01, rise_ratio=0.5)
    assert ex.context(r)["takeaway"].endswith(
        f"Trained {r.design['epochs']} epochs, dropout ends ahead in test accuracy, and its "
        "test loss rises less "
        "above its minimum" + held(r))
    r = run(effect=-0.01, rise_ratio=0.5)
    assert ex.context(r)["takeaway"].endswith(
        "Trained this long, dropout costs test accuracy, though its test loss rises less above "
        "its minimum" + held(r))


def test_accuracy_and_rise_form_one_holm_family():
    r = run(effect=0.01, rise_ratio=0.5)
    levels = sorted([r.accuracy.primary.level, r.rise.primary.level])
    assert levels == pytest.approx([0.95, 0.975])  # Holm's two steps at 95%
    assert r.last.primary.level == pytest.approx(0.95)  # beside the family: uncorrected


def test_a_seed_with_no_rise_has_no_ratio_and_is_said():
    still_falling = {(ON, 2)}  # its test loss still falls through the endpoint window

    def min_epoch(cond, seed):
        return EPOCHS if (cond, seed) in still_falling else (4 if cond == OFF else 6)

    r = run(rise_ratio=0.5, min_epoch=min_epoch)
    assert r.zero_rise == 1
    assert r.rise.pairs == 9 and r.accuracy.pairs == 10
    words = ex.context(r)
    assert words["zero_rise"] == ("1 seed whose test loss still falls through the endpoint "
                                  "window in an arm "
                                  "(no rise) has no ratio and is left out of it")
    assert run(rise_ratio=0.5).zero_rise == 0
    assert ex.context(run())["zero_rise"] == ""


# -- stability ----------------------------------------------------------------------------------
def test_a_diverged_seed_is_counted_and_left_out_of_the_primary_contrast():
    r = run(effect=0.01, diverged={(OFF, 3): 9})
    assert r.accuracy.pairs == 9 and r.rise.pairs == 9 and r.accuracy.claim
    assert (r.accuracy.unstable_a, r.accuracy.unstable_b, r.accuracy.runs_b) == (0, 1, 10)
    row = r.row(OFF)
    assert (row.runs, row.unstable, row.n("endpoint")) == (10, 1, 9)
    assert r.diverged == {OFF: [9.0], ON: []}
    answer = ex.context(r)["answer"]
    assert ("Stability is part of the answer (the instability rule's counts, under Methods): at "
            "lr 0.5 over 12 epochs, without dropout 1 of 10 runs diverged (at epoch 9), 0 "
            f"unstable at the endpoint, 0 never trained and 0 {KEPT}; "
            "with dropout 0 of 10 runs diverged, 0 unstable at the endpoint, 0 never trained "
            f"and 0 {KEPT}. The comparisons rest on the seeds stable in both arms (trained, "
            "with no divergence and no instability at the endpoint).") in answer
    assert r.design["unstable"] == 1 and r.design["runs"] == 20


def test_no_divergence_no_stability_sentence():
    assert "Stability" not in ex.context(run(effect=0.01))["answer"]


def test_several_diverged_runs_list_their_epochs_and_the_learning_rate_is_the_runs():
    r = run(diverged={(OFF, 3): 9, (OFF, 1): 5, (ON, 2): 11}, lr=0.1)
    assert r.lr == pytest.approx(0.1)
    answer = ex.context(r)["answer"]
    assert "at lr 0.1 over 12 epochs" in answer
    assert "without dropout 2 of 10 runs diverged (at epochs 5, 9)" in answer
    assert "with dropout 1 of 10 runs diverged (at epoch 11)" in answer


def test_one_count_everywhere_endpoint_unstable_diverged_and_collapses_said_apart():
    """The section's counts are the rule's, the same as the contrast's instability line. The old
    sentence counted the trainer's divergences only: a run that collapsed inside the endpoint
    window (no divergence) read as '0 of 10 runs diverged' and a transient collapse was
    silent."""
    r = run(effect=0.01, diverged={(OFF, 1): 5}, dip={(OFF, 3): (10, 12), (ON, 4): (5, 6)})
    assert r.diverged == {OFF: [5.0], ON: []}
    assert r.endpoint_unstable == {OFF: [10.0], ON: []}
    assert r.collapses == {OFF: [], ON: [5.0]}
    c = r.accuracy
    assert (c.unstable_b, c.unstable_a) == (2, 0)  # off: diverged + endpoint-unstable
    assert (c.collapses_a, c.collapses_b) == (1, 0) and c.pairs == 8
    answer = ex.context(r)["answer"]
    assert ("without dropout 1 of 10 runs diverged (at epoch 5), 1 unstable at the endpoint (at "
            f"epoch 10), 0 never trained and 0 {KEPT}; "
            "with dropout 0 of 10 runs diverged, 0 unstable at the endpoint, 0 never trained "
            f"and 1 {KEPT1} (at epoch 5).") in answer
    assert f"{ON} 0 of 10 (0% [0, 31]), {OFF} 2 of 10" in c.instability()
    assert r.design["unstable"] == 2 and r.design["collapses"] == 1
    row = next(t for t in ex.context(r)["table"] if t["condition"] == OFF)
    assert row["unstable"] == 2


def test_a_run_unstable_at_its_endpoint_is_not_also_a_transient_collapse():
    """Issue 31, finding 2: a run that collapsed early, recovered, and collapsed again in the
    endpoint window was counted both as unstable at its endpoint and as a transient collapse
    "recovered before the endpoint". It counts in the first kind only."""
    res = tables(effect=0.01, dip={(OFF, 3): (10, 12), (ON, 4): (5, 6)})
    early = (res.metrics["condition"] == OFF) & (res.metrics["seed"] == 3) \
        & (res.metrics["epoch"] == 3)
    res.metrics.loc[early, ["val_acc", "test_acc"]] = 0.6  # an earlier episode, recovered
    res = syn.results(res.cfg, res.metrics, res.runs)
    r = ex.analyze(res)
    assert r.endpoint_unstable == {OFF: [10.0], ON: []}
    assert r.collapses == {OFF: [], ON: [5.0]}  # the stable run's collapse only
    assert (r.accuracy.collapses_b, r.accuracy.collapses_a) == (0, 1)
    assert r.design["collapses"] == 1 and r.design["endpoint_unstable"] == 1
    ends = res.ends("long_training").set_index(["condition", "seed"])
    assert ends.loc[(OFF, 3), "earlier_epochs"] == "3" and not ends.loc[(OFF, 3), "collapse"]


def test_a_run_that_never_trained_is_counted_as_such_and_left_out():
    res = tables(effect=0.01)
    m = res.metrics
    m.loc[(m["condition"] == OFF) & (m["seed"] == 2), "train_loss"] = 2.2  # near chance
    r = ex.analyze(syn.results(res.cfg, m, res.runs))
    assert r.never_trained == {OFF: 1, ON: 0}
    assert r.accuracy.pairs == 9 and r.accuracy.unstable_b == 1
    assert r.design["never_trained"] == 1 and r.design["unstable"] == 1
    assert ("without dropout 0 of 10 runs diverged, 0 unstable at the endpoint, 1 never "
            "trained and 0") in ex.context(r)["answer"]


def test_an_endpoint_collapse_alone_brings_the_stability_sentence():
    r = run(effect=0.01, dip={(OFF, 3): (10, 12)})
    answer = ex.context(r)["answer"]
    assert "without dropout 0 of 10 runs diverged, 1 unstable at the endpoint (at epoch 10)" \
        in answer
    assert r.accuracy.pairs == 9


def test_too_few_pairs_give_no_sign_or_span_even_when_they_point_one_way():
    """Issue 31 (referee, 3): "what the data show" read a sign and a span from 2 seed pairs, a
    number from fewer than 3 pairs set against another as a finding (revision 4): gone."""
    r = run(effect=0.05, seeds=[0, 1, 2], diverged={(OFF, 0): 5})
    assert not r.accuracy.tested and r.accuracy.pairs == 2
    take = ex.context(r)["takeaway"]
    assert take.endswith("With 2 seed pairs stable in both arms there is no verdict on "
                         "dropout's effect at this horizon.")
    assert "what the data show" not in take and "above zero" not in take
    assert not re.search(r"\+[45]\.\d\d pp", take)


def test_epoch_of_minimum_test_loss_uses_stable_runs_and_stays_in_range():
    """Defect (a): the −1 placeholder of a diverged run entered the mean ("3.0 [−6, 12]")."""
    spread = {0: 1, 1: 1, 2: 8}  # a wide t-interval whose lower end falls below epoch 1
    r = run(seeds=[0, 1, 2, 3], min_epoch=lambda c, s: spread.get(s, 2) if c == OFF else 6,
            diverged={(OFF, 3): 7})
    e = r.row(OFF).values["test_loss_min_epoch"]
    assert e.n == 3 and e.value == pytest.approx(10 / 3)  # seed 3 diverged: not in the mean
    assert e.lo == 1.0 and e.hi == EPOCHS  # clipped to the epochs that exist
    assert r.row(ON).values["test_loss_min_epoch"].value == pytest.approx(6.0)
    best = r.row(OFF).values["best_epoch"]
    assert best.n == 3 and best.lo >= 1.0
    words = ex.context(r)
    row = next(t for t in words["table"] if t["condition"] == OFF)
    assert row["test_loss_min_epoch"] == "3.3 [1.0, 12.0]"
    assert "-" not in row["test_loss_min_epoch"] + row["best_epoch"]
    assert words["takeaway"].startswith(
        "Without dropout, over its 3 stable runs, the test loss is lowest around epoch 3 and "
        "stands ")
    assert ("with dropout, over its 4 stable runs, the minimum comes around epoch 6, the rise "
            "is ") in words["takeaway"]


def test_the_rise_per_condition_is_over_stable_runs_and_nonnegative():
    r = run(rise_ratio=0.5, diverged={(OFF, 0): 8})
    e = r.row(OFF).values["overfit"]
    assert e.n == 9 and e.lo >= 0.0
    assert e.value == pytest.approx(np.mean([0.2 * (1 + syn.noise(s, 0.3))
                                             * math.exp(jitter(OFF, s, 0.04))
                                             for s in SEEDS[1:]]), rel=1e-9)


def test_a_single_surviving_no_dropout_seed_gives_no_verdict_and_no_claim():
    """Defect (b): a verdict was drawn from one surviving seed."""
    r = run(effect=0.05, rise_ratio=0.2, seeds=[0, 1, 2], diverged={(OFF, 0): 5, (OFF, 1): 7})
    for c in (r.accuracy, r.rise):
        assert c.pairs == 1 and not c.tested and not c.claim and c.direction == 0
        assert c.primary.level == pytest.approx(0.95)  # untested: no Holm step
    words = ex.context(r)
    # issue 31 (referee, 4): one seed pair is one run against one run: no number of it
    assert words["answer"].startswith(
        f"After {EPOCHS} epochs at lr 0.5 one seed alone is stable in both arms (a single run "
        "against a single run is no finding), so accuracy and overfitting cannot be compared")
    for claim in ("(better)", "(worse)", "less overfitting", "more overfitting"):
        assert claim not in words["answer"]
    assert words["takeaway"].endswith(
        "With 1 seed pair stable in both arms there is no verdict on dropout's effect at this "
        "horizon.")
    single = r.accuracy.primary.value  # the one pair's difference, +5.40 pp
    assert f"{100 * single:+.2f}" == "+5.40"
    shown = " ".join([words["answer"], words["takeaway"], words["accuracy"]["diff"],
                      words["rise"]["diff"], ex.EXERCISE.headline(r).summary(0.95)])
    assert "5.40" not in shown and "one seed, no interval" not in shown
    assert words["accuracy"]["diff"] == words["rise"]["diff"] == (
        "not shown (one seed pair: a single run against a single run is no finding)")
    assert words["diffs"] is None  # nor the last-epoch, validation-best and gap differences
    for claim in ("advantage", "costs", "less overfitting", "benefit"):
        assert claim not in words["takeaway"]
    assert "without dropout 2 of 3 runs diverged (at epochs 5, 7)" in words["answer"]


def test_an_arm_without_stable_runs_is_said_in_words():
    r = run(seeds=[0, 1, 2], diverged={(OFF, s): 3 for s in (0, 1, 2)})
    words = ex.context(r)
    assert words["takeaway"].startswith(
        "The two arms' test-loss minima, rises and gaps are not set against each other: no seed "
        "pair stable in both arms, at least 3 needed (the table gives each arm over its own "
        "stable runs). ")
    assert words["takeaway"].endswith("With 0 seed pairs stable in both arms there is no verdict "
                                      "on dropout's effect at this horizon.")
    assert not re.search(r"\bnan\b", words["takeaway"] + words["answer"])
    assert "no seed is stable in both arms, so accuracy and overfitting cannot be compared" \
        in words["answer"]


def test_a_nan_endpoint_leaves_the_pair_out():
    r = run(effect=0.01, nan=(ON, 5))
    assert r.accuracy.pairs == 9 and r.accuracy.claim


# -- the config and the conditions ----------------------------------------------------------------
@pytest.mark.parametrize("rates", [[[0.2, 0.5]], [[0, 0]], [[0.0, 0.0], [0, 0]]])
def test_check_names_the_key_when_an_arm_is_missing(rates):
    cfg = syn.config(experiments={"long_training": {"rates": rates}})
    with pytest.raises(ConfigError, match=r"config key 'experiments\.long_training\.rates': "
                                          r"must include \[0, 0\]"):
        ex.check(cfg)
    with pytest.raises(ConfigError):
        ex.arms(cfg)


@pytest.mark.parametrize("rates", [[[0, 0], [0.2, 0.5]], [[0.5, 0.5], [0, 0], [0.2, 0.5]],
                                   [[0, 0], [0, 0.5]]])
def test_check_accepts_both_arms_and_the_first_dropout_pair_is_compared(rates):
    cfg = syn.config(experiments={"long_training": {"rates": rates}})
    ex.check(cfg)
    first = next(p for p in rates if any(p))
    assert ex.arms(cfg) == (OFF, ex.rates_name(*first))


def test_the_exercise_record_and_its_conditions():
    assert ex.EXERCISE.check is ex.check and ex.EXERCISE.block == "long_training"
    assert ex.EXERCISE.key == "long_training" and ex.EXERCISE.number == 2
    assert ex.EXERCISE.reads == ("long_training",)
    cfg = syn.config(experiments={"long_training": {**BLOCK, "checkpoint_every": 5}})
    conds = ex.EXERCISE.trains["long_training"](cfg)
    assert [c.name for c in conds] == [OFF, ON]
    assert [c.rates for c in conds] == [(0.0, 0.0), (0.2, 0.5)]
    assert all(c.epochs == EPOCHS and c.probe and c.checkpoint_every == 5 for c in conds)
    assert [dict(c.factors) for c in conds] == [{"dropout": "off"}, {"dropout": "on"}]
    assert all(c.experiment == "long_training" for c in conds)
    del cfg["experiments"]["long_training"]["checkpoint_every"]
    assert all(c.checkpoint_every == 0 for c in ex.conditions(cfg))


def test_the_table_lists_the_conditions_in_config_order():
    r = run()
    assert r.order == [OFF, ON] and [row.condition for row in r.table] == [OFF, ON]
    assert (r.off, r.on) == (OFF, ON)
    assert r.runs == {OFF: 10, ON: 10}


# -- the figure and the template -----------------------------------------------------------------
def test_the_bands_stay_in_range_and_use_the_runs_stable_at_each_epoch(tmp_path, monkeypatch):
    drawn = []
    original = plots.band

    def band(ax, x, mean, lo, hi, label, color=None, style="-"):
        drawn.append((label, np.asarray(x), np.asarray(mean), np.asarray(lo), np.asarray(hi)))
        return original(ax, x, mean, lo, hi, label, color, style)

    monkeypatch.setattr(plots, "band", band)
    res = tables(effect=0.1, seeds=[0, 1, 2, 3], diverged={(OFF, 3): 9})
    outlier = res.metrics["seed"] == 2  # wide bands, which the ranges must cut
    res.metrics.loc[outlier, ["test_acc", "train_eval_acc"]] = 1.0
    # below 0.8 ln 10: a run that trained, and stable
    res.metrics.loc[outlier, ["test_loss", "train_loss"]] = 1.8
    out = ex.draw(res, ex.analyze(res), tmp_path)
    assert out["curves"].exists()
    assert plots.OVERLAPS[str(out["curves"])] == []  # the loss panel's title ran over its label
    assert [d[0] for d in drawn] == [f"{OFF}: train", f"{OFF}: test", f"{ON}: train",
                                     f"{ON}: test"] * 2
    assert all(np.all(d[3] >= 0) and len(d[1]) == EPOCHS for d in drawn)
    assert all(np.all(d[4] <= 1) for d in drawn[4:])
    # issue 31, finding 6: the loss bands left the log axis (an arithmetic band clipped at 0);
    # they come from the log scale now, above zero wherever the arithmetic one reached it
    assert all(np.all(d[3] > 0) for d in drawn[:4])
    off = res.metrics[res.metrics["condition"] == OFF]
    arithmetic = plots.per_x(off[off["seed"] < 3], "epoch", "test_loss", 0.95, (0.0, np.inf))
    assert (arithmetic["lo"] == 0).any()  # what the old band did
    assert any(np.any(d[4] == 1) for d in drawn[4:])
    m = res.metrics
    early = m[(m["condition"] == OFF) & (m["epoch"] == 1)]  # seed 3 is stable until epoch 9
    assert drawn[5][2][0] == pytest.approx(early["test_acc"].mean())
    assert drawn[1][2][0] == pytest.approx(np.exp(np.log(early["test_loss"]).mean()))
    late = m[(m["condition"] == OFF) & (m["seed"] < 3) & (m["epoch"] == EPOCHS)]
    assert drawn[5][2][-1] == pytest.approx(late["test_acc"].mean())  # seed 3 out from 9


def test_the_template_renders_the_answer():
    r = run(effect=0.01, diverged={(OFF, 3): 9}, rise_ratio=0.5,
            min_epoch=lambda c, s: EPOCHS if (c, s) == (ON, 2) else (4 if c == OFF else 6))
    words = ex.context(r)
    md = syn.section_markdown(ex.EXERCISE, words, {"curves": "figures/ex2_curves.png"})
    assert words["answer"] in md and words["takeaway"] in md
    assert "without dropout 1 of 10 runs diverged (at epoch 9)" in md
    assert f"| {OFF} | " in md and "figures/ex2_curves.png" in md
    assert "test-loss rise above its minimum, ratio" in md
    assert "| contrast (a / b) | test-loss rise above its minimum, ratio a / b [interval] |" in md
    assert "difference a − b (ratio a / b)" not in md  # no ratio under "a − b"
    assert f"| {ON} / {OFF} | x0." in md
    assert "left out of it" in md
    assert not re.search(r"\bnan\b", md.lower())


def test_the_answer_and_takeaway_word_for_word():
    r = run(effect=0.01, rise_ratio=0.5, diverged={(OFF, 3): 9})
    words = ex.context(r)
    acc, rise = r.accuracy.primary, r.rise.primary.mapped(math.exp)
    assert words["answer"] == (
        f"After 12 epochs, dropout {ON} changes the test accuracy (mean of the last 3 epochs) by "
        f"+{100 * acc.value:.2f} pp [+{100 * acc.lo:.2f}, +{100 * acc.hi:.2f}] against no "
        f"dropout over 9 seeds (better), and multiplies the rise of the test loss above its "
        f"minimum by x{rise.value:.2f} [{rise.lo:.2f}, {rise.hi:.2f}] over 9 seeds (less "
        f"overfitting). Stability is part of the answer (the instability rule's counts, under "
        f"Methods): at lr 0.5 over 12 epochs, without dropout 1 of 10 runs diverged (at epoch "
        f"9), 0 unstable at the endpoint, 0 never trained and 0 {KEPT}; "
        f"with dropout 0 of 10 runs diverged, 0 unstable at the endpoint, 0 never trained and "
        f"0 {KEPT}. The comparisons rest on the seeds stable in both arms (trained, with no "
        f"divergence and no instability at the endpoint).")
    off, on = r.row(OFF).values, r.row(ON).values

    def num(e, digits=3):
        return f"{e.value:.{digits}f} [{e.lo:.{digits}f}, {e.hi:.{digits}f}]"

    assert words["takeaway"] == (
        f"Without dropout, over its 9 stable runs, the test loss is lowest around epoch 4 and "
        f"stands {num(off['overfit'])} nats above that minimum over the endpoint window (train "
        f"− test gap +2.00 pp (no "
        f"spread: all 9 values equal)); with dropout, over its 10 stable runs, the minimum "
        f"comes around epoch 6, the rise is {num(on['overfit'])} and the gap +2.00 pp (no "
        f"spread: all 10 values equal). Trained 12 epochs, dropout ends ahead in test "
        f"accuracy, and its test loss rises less above its minimum "
        f"({r.rise.difference()} over 9 seeds; a {r.rise.level_text} interval, Holm-corrected "
        "within its family).")
    assert words["table"][0] == {
        "condition": OFF, "runs": 10, "unstable": 1, "n": 9,
        "endpoint": f"{100 * off['endpoint'].value:.1f}% [{100 * off['endpoint'].lo:.1f}, "
                    f"{100 * off['endpoint'].hi:.1f}]",
        "last": words["table"][0]["last"], "at_best_val": words["table"][0]["at_best_val"],
        "best_epoch": "1.0 (no spread: all 9 values equal)",
        "test_loss_min_epoch": "4.0 (no spread: all 9 values equal)",
        "overfit": num(off["overfit"]), "overfit_last": num(off["overfit_last"]),
        "gap": "+2.00 pp (no spread: all 9 values equal)"}
    # the planted loss is flat over the endpoint window: its rise there is the last epoch's
    assert off["overfit_last"].value == pytest.approx(off["overfit"].value)
    assert words["table"][0]["last"] == words["table"][0]["at_best_val"] \
        == words["table"][0]["endpoint"]  # the planted accuracy is flat over epochs
    assert (words["on"], words["off"], words["lr"], words["epochs"], words["k"],
            words["seeds"], words["runs"], words["unstable"]) == (ON, OFF, "0.5", 12, 3, 10, 20, 1)
    assert words["accuracy"] == r.accuracy.row("dropout is better", "dropout is worse")
    assert words["rise"]["diff"] == f"x{rise.value:.2f} [{rise.lo:.2f}, {rise.hi:.2f}]"
    assert words["rise"]["verdict"] == "less overfitting"


def test_the_rise_is_read_over_the_endpoint_window_not_at_the_last_epoch():
    """Referee (full study, second read): the rise was the last epoch's test loss above its
    minimum, one noisy epoch (the older setting's ratio x0.48 [0.15, 1.54], a null; over the
    report's 3-epoch window x0.47 [0.38, 0.57], a claim). Here the no-dropout arm's test loss
    falls back to its minimum at the last epoch alone: at the last epoch it has no rise, over
    the window two thirds of it, and dropout's rise, half of the planted one, is less."""
    res = tables(rise_ratio=0.5)
    m = res.metrics.copy()
    last = (m["condition"] == OFF) & (m["epoch"] == EPOCHS)
    m.loc[last, "test_loss"] = 0.3  # the minimum again, at the last epoch only
    res = syn.results(res.cfg, m, res.runs)
    r = ex.analyze(res)
    off, on = r.row(OFF).values, r.row(ON).values
    assert off["overfit_last"].value == pytest.approx(0.0, abs=1e-12)
    assert off["overfit"].value == pytest.approx(2 / 3 * 0.2 * np.mean(
        [(1 + syn.noise(s, 0.3)) * math.exp(jitter(OFF, s, 0.04)) for s in SEEDS]))
    assert on["overfit"].value == pytest.approx(on["overfit_last"].value)
    assert r.rise.claim and r.rise.direction == -1  # a / b = (0.5 x) / (2/3 x) = 0.75
    assert r.rise.primary.value == pytest.approx(math.log(0.75), abs=0.01)  # the log scale
    assert ex.context(r)["rise"]["verdict"] == "less overfitting"
    # its absence: read at the last epoch, the no-dropout arm would have no rise at all
    assert (res.ends("long_training").query("condition == @OFF")["overfit_last"] == 0).all()


def test_a_rise_from_runs_that_collapsed_is_not_called_overfitting():
    """Referee (full study, third read): at lr 0.5 the 4 no-dropout runs compared had all
    collapsed and recovered; their larger rise above the minimum was called "less
    overfitting" of dropout, though they fit the training set worse. Where a run compared
    collapsed, the verdict says a smaller (larger) test-loss rise, and why not overfitting."""
    dip = {(OFF, s): (2, 2) for s in SEEDS}  # every no-dropout run: a collapse at epoch 2
    r = run(rise_ratio=0.5, dip=dip)
    assert r.rise.claim and r.rise.direction < 0 and r.rise.compared_collapses_b == 10
    words = ex.context(r)
    why = ("not read as overfitting: 10 of the 20 runs compared collapsed and recovered, and a "
           "rise above the minimum may be the collapse's")
    assert words["rise"]["verdict"] == "a smaller test-loss rise"
    assert f"(a smaller test-loss rise; {why})." in words["answer"]
    assert "overfitting)" not in words["answer"] and "less overfitting" not in words["takeaway"]
    row = words["glance_words"]
    assert row["verdict"].endswith("; a smaller test-loss rise")
    assert row["answer"].endswith(f"(ratio {ON} / {OFF}, Holm-corrected with the accuracy; "
                                  f"{why}).")
    # its absence: no collapse among the runs compared, overfitting it is
    plain = ex.context(run(rise_ratio=0.5))
    assert plain["rise"]["verdict"] == "less overfitting"
    assert "not read as overfitting" not in plain["answer"] + plain["glance_words"]["answer"]


def test_the_last_epoch_s_rise_ratio_is_beside_the_headline():
    """Referee (full study, third read): the last epoch's paired ratio, on which the older
    setting's verdict had rested, was not shown beside the new endpoint's."""
    r = run(rise_ratio=0.5)  # the planted rise is flat over the window: the two agree
    assert r.rise_last.primary.value == pytest.approx(r.rise.primary.value)
    assert r.rise_last.primary.level == pytest.approx(0.95)  # beside it: not corrected
    words = ex.context(r)
    assert words["diffs"]["rise_last"] == r.rise_last.quantity.text(r.rise_last.primary)
    md = syn.section_markdown(ex.EXERCISE, words, {"curves": "figures/ex2.png"})
    assert (f"test-loss rise at the last\nepoch, ratio {ON} / {OFF} "
            f"{words['diffs']['rise_last']}.") in md


def test_the_ratio_quantity_prints_ratios_and_factors():
    from dropout_study.stats import Estimate

    e = Estimate(math.log(0.5), math.log(0.25), math.log(1.0), 5)
    assert ex.RISE.text(e) == "x0.50 [0.25, 1.00]"
    assert ex.RISE.size(math.log(1.5)) == "a factor 1.50"
    assert ex.RISE.text(Estimate(math.nan, n=0)) == "no value (no stable run to compute it from)"


def test_every_interval_is_at_the_configured_level():
    r = run(effect=0.01, rise_ratio=0.5, confidence=0.9)
    assert sorted([r.accuracy.primary.level, r.rise.primary.level]) == pytest.approx([0.9, 0.95])
    for c in (r.last, r.at_best_val, r.gap):
        assert c.primary.level == pytest.approx(0.9)
    assert all(e.level == pytest.approx(0.9) for row in r.table for e in row.values.values())


def test_a_second_dropout_setting_is_tabled_but_not_compared():
    third = "p1=0.5,p2=0.5"
    conds = {**CONDS, third: {"rate1": 0.5, "rate2": 0.5, "factor_dropout": "on"}}
    block = {**BLOCK, "rates": [[0.5, 0.5], [0, 0], [0.2, 0.5]]}
    r = ex.analyze(tables(effect=0.01, conds=conds, block=block))
    assert (r.off, r.on) == (OFF, third)  # the first pair with dropout, in config order
    assert r.order == [third, OFF, ON] and [row.condition for row in r.table] == r.order
    assert r.runs == {third: 10, OFF: 10, ON: 10}
    assert r.accuracy.label == f"{third} − {OFF}"
    assert r.accuracy.primary.value == pytest.approx(0.0, abs=1e-12)


def test_no_rise_in_the_no_dropout_arm_also_has_no_ratio():
    def min_epoch(cond, seed):
        return EPOCHS if (cond, seed) == (OFF, 4) else (4 if cond == OFF else 6)

    r = run(min_epoch=min_epoch)
    assert r.zero_rise == 1 and r.rise.pairs == 9

    def two(cond, seed):
        return EPOCHS if seed in (4, 5) else (4 if cond == OFF else 6)

    assert ex.context(run(min_epoch=two))["zero_rise"] == (
        "2 seeds whose test loss still falls through the endpoint window in an arm (no rise) "
        "have no ratio "
        "and are left out of it")


def test_an_unstable_run_with_values_is_not_counted_among_the_zero_rises():
    """A run flagged unstable by a rule other than divergence keeps its values."""
    def min_epoch(cond, seed):
        return EPOCHS if (cond, seed) == (ON, 2) else (4 if cond == OFF else 6)

    res = tables(min_epoch=min_epoch)
    e = res.endpoints
    e.loc[(e["condition"] == ON) & (e["seed"] == 2), "stable"] = False
    r = ex.analyze(res)
    assert r.zero_rise == 0 and r.rise.pairs == 9 and r.accuracy.pairs == 9


def test_the_last_epoch_and_the_validation_best_epoch_are_their_own_columns():
    r = run(trend=0.002)  # dropout gains 0.2 points an epoch: last 2.4, last three 2.2
    assert r.accuracy.primary.value == pytest.approx(0.022)
    assert r.last.primary.value == pytest.approx(0.024)
    assert r.at_best_val.primary.value == pytest.approx(0.024)  # validation peaks at the end
    assert r.row(ON).values["best_epoch"].value == EPOCHS


def test_no_stable_pair_at_all_is_said_with_the_instability_of_each_arm():
    dead = {(c, s): 3 for c in (OFF, ON) for s in range(10)}
    r = run(diverged=dead)
    answer = ex.context(r)["answer"]
    assert answer.startswith("After 12 epochs at lr 0.5 no seed is stable in both arms, so "
                             "accuracy and overfitting cannot be compared: unstable runs "
                             "without dropout 10 of 10 (100% [69, 100]), with dropout")
    assert "no value" not in answer


def test_one_run_of_one_seed_is_never_set_against_one_run_of_another():
    """Issue 31, finding 4: exercise 2's takeaway set the one stable run of seed 1 against the
    one of seed 0 ("gap +8.97 pp"). Planted: no dropout stable at seed 0 only, dropout at seed
    1 only; and its absence: 3 pairs stable in both arms give both arms' numbers."""
    r = run(rise_ratio=0.5, seeds=[0, 1, 2],
            diverged={(OFF, 1): 5, (OFF, 2): 5, (ON, 0): 5, (ON, 2): 5})
    assert r.row(OFF).n("gap") == r.row(ON).n("gap") == 1 and r.accuracy.pairs == 0
    take = ex.context(r)["takeaway"]
    assert "gap" in take and "test loss is lowest" not in take and "the rise is" not in take
    assert take.startswith("The two arms' test-loss minima, rises and gaps are not set against "
                           "each other: no seed pair stable in both arms, at least 3 needed")
    two = ex.context(run(seeds=[0, 1, 2], diverged={(OFF, 2): 5}))["takeaway"]
    assert "2 seed pairs stable in both arms, at least 3 needed" in two
    three = ex.context(run(seeds=[0, 1, 2]))["takeaway"]
    assert three.startswith("Without dropout, over its 3 stable runs, the test loss is lowest")


def test_fewer_epochs_than_the_protocol_asks_for_are_said_as_a_departure():
    """Issue 31, finding 7 (more of its kind): the protocol asks for at least 100 epochs."""
    words = ex.context(run())
    assert words["departure"] == (
        "This study departs from the protocol here: it trains 12 epochs, not the 100 or more "
        "the exercise asks for; its answer is about 12 epochs.")
    assert syn.in_section(ex.EXERCISE, words, words["departure"], {"curves": "figures/ex2.png"})
    r = run()
    assert ex.departure(replace(r, design={**r.design, "epochs": 100})) == ""


def test_an_arm_still_at_its_lowest_test_loss_at_the_end_has_no_rise_yet_not_zero():
    """Issue 31 (referee, 11): a rise that cannot be measured (the test loss still falling at
    the last epoch: its minimum lies beyond the run) printed as 0.000."""
    r = run(min_epoch=lambda c, s: EPOCHS if c == ON else 4)
    on = r.row(ON).values["overfit"]
    assert on.value == 0.0 and on.censored == on.n == 10
    words = ex.context(r)
    row = next(t for t in words["table"] if t["condition"] == ON)
    assert row["overfit"] == ("no rise yet: the test loss still falls to a new low in every "
                              "epoch of the endpoint window in all 10 runs")
    assert ("with dropout, over its 10 stable runs, the test loss still falls to a new low "
            "through the endpoint window in every run (no rise yet; train − test gap") \
        in words["takeaway"]
    assert "0.000" not in words["takeaway"] + row["overfit"]
    # its absence: an arm whose loss rose has its rise, and no censoring said
    off = next(t for t in words["table"] if t["condition"] == OFF)["overfit"]
    assert "no rise yet" not in off and r.row(OFF).values["overfit"].censored == 0


def test_a_curve_leaves_a_gap_where_one_run_is_left(tmp_path, monkeypatch):
    """Referee read 4, 6: figure 4 drew a single stable run as the arm's "geometric mean",
    with no band and no note; a curve now leaves a gap where fewer than 2 runs are stable."""
    drawn = []
    original = plots.band

    def band(ax, x, mean, lo, hi, label, color=None, style="-"):
        drawn.append((label, np.asarray(x), np.asarray(mean, dtype=float)))
        return original(ax, x, mean, lo, hi, label, color, style)

    monkeypatch.setattr(plots, "band", band)
    res = tables(effect=0.1, seeds=[0, 1], diverged={(OFF, 1): 6})
    ex.draw(res, ex.analyze(res), tmp_path)
    off_test = dict((d[0], d) for d in drawn[:4])[f"{OFF}: test"]
    alone = off_test[1] >= 6  # seed 1 diverged at epoch 6: seed 0 alone from there
    assert alone.any() and np.isnan(off_test[2][alone]).all()
    assert np.isfinite(off_test[2][~alone]).all()
    on_test = dict((d[0], d) for d in drawn[:4])[f"{ON}: test"]
    assert np.isfinite(on_test[2]).all()  # both runs stable throughout


def test_an_unstable_no_dropout_baseline_says_the_answer_is_about_an_unstable_lr():
    """Referee (full study): at lr 0.5, 6 of 10 no-dropout runs diverged, and exercise 2 said
    "dropout better" without the protocol's label ("Both editions"): an answer where lr 0.5
    makes the no-dropout baseline unstable is about an unstable learning rate. The section and
    the summary row say so; exercise 3 (the same runs) already did."""
    from dropout_study import glance

    r = run(effect=0.01, diverged={(OFF, 3): 9, (OFF, 5): 7})
    words = ex.context(r)
    assert words["caveat"].startswith(f"2 of the 10 no-dropout runs ({OFF}) at lr 0.5 are "
                                      "unstable by the rule")
    assert "this answer is one about an unstable learning rate" in words["caveat"]
    row = glance.row(ex.EXERCISE, words, [(None, ex.EXERCISE.headline(r))], 0.95)
    assert row["answer"].endswith("Read at lr 0.5, where 2 of the 10 no-dropout runs fail "
                                  f"within their {r.design['epochs']} epochs: an answer about an "
                                  "unstable learning rate.")
    assert row["lines"][0]["verdict"].startswith("dropout better")  # its verdict is kept
    md = " ".join(syn.section_markdown(ex.EXERCISE, words, {"curves": "f.png"}).split())
    assert f"**An unstable learning rate.** {words['caveat']}" in md
    # its absence: with every no-dropout run stable, no caveat in the section or the row
    calm = run(effect=0.01)
    words = ex.context(calm)
    assert words["caveat"] == ""
    row = glance.row(ex.EXERCISE, words, [(None, ex.EXERCISE.headline(calm))], 0.95)
    assert "unstable learning rate" not in row["answer"]
    assert "unstable learning rate" not in syn.section_markdown(ex.EXERCISE, words,
                                                            {"curves": "f.png"})
