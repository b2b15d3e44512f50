"""The answers at a glance: the table's words and the forest plot's points, from planted
effects in synthetic results (exercise 2's tables; exercise 3's ratio for a second unit)."""

import math
import re
from dataclasses import replace

import pytest

from dropout_study import glance, report
from dropout_study.exercises import EXERCISES
from dropout_study.exercises import long_training as ex2
from tests import synthetic as syn
from tests.exercises.test_long_training import OFF, ON, SEEDS, tables

EX2 = next(e for e in EXERCISES if e.key == "long_training")
NEWER = "the newer edition's lr 0.1, p = (0.5, 0.5)"
OLDER = "the older edition's lr 0.5, p = (0.2, 0.5)"
LABEL = f"{ON} − {OFF}"


def head(**kw):
    return EX2.headline(ex2.analyze(tables(**kw)))


def ok():
    return {"missing": None}


def test_every_exercise_has_a_question_words_and_a_headline():
    for ex in EXERCISES:
        assert ex.glance is not None and ex.glance.question, ex.key
        assert ex.headline is not None, ex.key
    assert len({ex.glance.question for ex in EXERCISES}) == len(EXERCISES)


@pytest.mark.parametrize("effect, verdict, answer", [
    (0.01, "dropout better", "ends with the higher test accuracy"),
    (-0.01, "dropout worse", "ends with the lower test accuracy")])
def test_a_planted_effect_gives_its_verdict_answer_and_signed_effect(effect, verdict, answer):
    row = glance.row(EX2, ok(), [(None, head(effect=effect, rise_ratio=1.0))])
    [line] = row["lines"]
    assert line["verdict"] == verdict and line["claim"]
    assert answer in row["answer"] and f"dropout ({ON})" in row["answer"]
    sign = "+" if effect > 0 else "-"
    assert line["effect"].startswith(f"{sign}1.00 pp [")
    assert line["effect"].endswith(f"({len(SEEDS)} seed pairs stable in both arms)")
    assert line["label"] == LABEL
    assert row["question"] == "Train longer: with or without dropout?"
    assert row["anchor"] == "sec-long-training" and row["number"] == 2


def test_a_row_states_its_level_where_holm_moved_it_from_the_study_s():
    c = head(effect=0.01, rise_ratio=1.0)  # exercise 2's family of 2: Holm's first step
    assert c.primary.level == pytest.approx(0.975)
    plain = replace(c, primary=replace(c.primary, level=0.95))
    [same] = glance.row(EX2, ok(), [(None, plain)], 0.95)["lines"]
    assert "interval" not in same["effect"]  # the header's level: not repeated
    holm = c
    [moved] = glance.row(EX2, ok(), [(None, holm)], 0.95)["lines"]
    assert moved["effect"].endswith(
        f"({len(SEEDS)} seed pairs stable in both arms; a 97.50% interval, Holm-corrected "
        "within its family)")


def test_no_planted_effect_says_no_detectable_difference_with_its_resolution():
    c = head(effect=0.0, rise_ratio=1.0)
    row = glance.row(EX2, ok(), [(None, c)])
    [line] = row["lines"]
    assert not line["claim"] and 0 < c.mde < 0.01
    assert line["verdict"] == f"no detectable difference (none larger than {100 * c.mde:.2f} pp)"
    assert "cannot be told apart" in row["answer"]
    assert "better" not in line["verdict"] and "worse" not in line["verdict"]


def test_too_few_stable_pairs_give_no_verdict_in_words_not_zeros():
    # every no-dropout run diverges at epoch 3: no seed is stable in both arms
    c = head(effect=0.01, diverged={(OFF, s): 3 for s in SEEDS})
    row = glance.row(EX2, ok(), [(None, c)])
    [line] = row["lines"]
    assert line["verdict"] == "no verdict: too few seed pairs stable in both arms"
    assert c.verdict("b", "w") == ("no verdict: no seed pair stable in both arms, at least 3 "
                                   "needed")  # the section's long form, without a "0"
    assert line["effect"].endswith("(no seed pair stable in both arms)")
    assert row["answer"].startswith("Not answered: too few seed pairs are stable")
    drawn, left = glance.points([(2, None, c)])
    assert drawn == [] and left == ["exercise 2: no interval (no seed pair stable in both "
                                    "arms)"]


def test_a_missing_exercise_is_not_answered_and_says_why():
    row = glance.row(EX2, {"missing": "no results for long_training (its jobs failed)"}, [])
    assert row["answer"] == "Not answered: no results for long_training (its jobs failed)."
    assert row["lines"][0]["verdict"] == "no verdict"


def test_an_exercise_without_a_headline_says_why():
    noise = next(e for e in EXERCISES if e.key == "noise")
    row = glance.row(noise, ok(), [(None, None)])
    assert row["answer"] == ("Not answered at a glance: no alternative noise has a validation "
                             "score to pick it.")
    assert row["lines"][0]["effect"].startswith("none: ")


def test_two_settings_that_agree_are_said_once_and_two_that_differ_each():
    up, flat = head(effect=0.01, rise_ratio=1.0), head(effect=0.0, rise_ratio=1.0)
    same = glance.row(EX2, ok(), [(OLDER, up), (NEWER, up)])
    assert same["answer"].startswith("At both settings: After long training, dropout")
    assert [x["setting"] for x in same["lines"]] == [OLDER, NEWER]
    differ = glance.row(EX2, ok(), [(OLDER, up), (NEWER, flat)])
    assert differ["answer"].startswith(f"At {OLDER}: After long training")
    assert f" At {NEWER}: After long training, dropout and no dropout" in differ["answer"]


def test_forest_points_are_in_percentage_points_with_the_contrast_s_interval():
    c = head(effect=0.01, rise_ratio=1.0)
    [p] = glance.points([(2, "older", c)])[0]
    assert p.label == f"Ex. 2: {LABEL} [older]" and p.claim and not p.ratio
    assert (p.value, p.lo, p.hi) == pytest.approx(
        (100 * c.primary.value, 100 * c.primary.lo, 100 * c.primary.hi))
    assert p.value == pytest.approx(1.0) and p.lo < 1.0 < p.hi
    assert p.panel == "test accuracy: a − b (percentage points)"


def test_a_ratio_gets_its_own_log_panel_and_the_caption_says_so():
    acc = head(effect=0.01, rise_ratio=1.0)
    rise = ex2.analyze(tables(rise_ratio=0.5)).rise  # a Ratio: the test-loss rise, on − off
    drawn, left = glance.points([(2, None, acc), (3, None, rise), (4, None, None)])
    assert [p.ratio for p in drawn] == [False, True]
    r = drawn[1]
    assert r.value == pytest.approx(math.exp(rise.primary.value))
    assert r.value < 1 and r.panel.endswith("ratio a / b (log scale)")
    assert left == ["exercise 4: no headline contrast"]
    text = glance.caption(drawn, left, 0.95)
    assert "2 panels" in text and "Not drawn: exercise 4: no headline contrast." in text
    assert "95% interval" in text
    one = glance.caption(drawn[:1], [], 0.95)
    assert "panels" not in one and "Not drawn" not in one
    assert "Ex. 3:" in glance.alt(drawn, left) and "(claim)" in glance.alt(drawn, left)


def test_an_untested_contrast_with_one_pair_is_left_off_the_plot():
    c = head(effect=0.01, rise_ratio=1.0)
    one = replace(c, primary=replace(c.primary, n=1, lo=math.nan, hi=math.nan))
    assert glance.points([(2, None, one)]) == ([], [
        "exercise 2: no interval (1 seed pair stable in both arms)"])


FORBIDDEN = re.compile(r"\bnan\b|\bn/a\b|\b0 seeds\b|\binf\b", re.IGNORECASE)


def test_a_report_of_unstable_and_missing_results_prints_no_nan_na_or_zero_seeds(tmp_path):
    """Exercise 2 with every no-dropout run diverged (no stable pair), one run of the dropout
    arm NaN, every other exercise without results: the whole report explains in words."""
    res = tables(effect=0.01, diverged={(OFF, s): 3 for s in SEEDS}, nan=(ON, 0))
    ctx = report.context_of(res, res.cfg, tmp_path / "figures")
    md = report.render_markdown(ctx, syn.ROOT / "report")
    assert "no seed with a value in both arms, too few for it" in md
    assert "robustness line: 10 seeds" not in md
    # the instability rule names NaN as a reason, in words: the only place it may appear
    md = md.replace(ctx["instability_rule"], "")
    assert not FORBIDDEN.findall(md), sorted(set(FORBIDDEN.findall(md)))
    rows = {g["number"]: g for g in ctx["glance"]["rows"]}
    assert set(rows) == {ex.number for ex in EXERCISES}
    assert rows[2]["answer"].startswith("At both settings: Not answered") or \
        rows[2]["answer"].startswith("Not answered")
    assert "no seed pair stable in both arms" in md
    assert rows[1]["answer"].startswith("Not answered: no results for layer_rates")
    assert ctx["glance"]["forest"] is None and md.count("No forest plot: ") == 1


def test_a_ratio_is_labelled_a_over_b_in_the_row_and_on_the_plot():
    rise = ex2.analyze(tables(rise_ratio=0.5)).rise  # a Ratio
    assert " / " in rise.label and " − " not in rise.label  # labelled a / b at the source
    line = glance.line(rise, EX2.glance, None)
    assert line["label"] == rise.label and " − " not in line["label"]
    [p] = glance.points([(3, None, rise)])[0]
    assert p.label == f"Ex. 3: {rise.label}"
    acc = head(effect=0.01, rise_ratio=1.0)  # a difference keeps "a − b"
    assert glance.line(acc, EX2.glance, None)["label"] == LABEL and " − " in LABEL


def test_the_alt_text_has_no_signed_zero():
    p = glance.Point("test accuracy: a − b (percentage points)", False, 2, "Ex. 2: x − y",
                     -0.001, -0.004, 0.003, False)
    text = glance.alt([p], [])
    assert "-0.00" not in text and "−0.00" not in text
    assert text == ("Forest plot of 1 headline contrasts, one row each: Ex. 2: x − y: 0.00 "
                    "[0.00, 0.00].")


# -- no interval leaves its quantity's range (issue 22, finding 12) ---------------------------
def _two_seed_contrast():
    import pandas as pd

    from dropout_study.contrast import Sample, compare_one

    idx = pd.Index([0, 1], name="seed")
    a, b = pd.Series([0.90, 0.20], idx), pd.Series([0.10, 0.15], idx)
    ok_ = pd.Series(True, idx)
    return compare_one("x − y", Sample(a, b, ok_, ok_))


def test_a_two_seed_difference_is_printed_and_drawn_inside_plus_minus_100_points():
    c = _two_seed_contrast()
    assert c.primary.hi > 1.0 or c.primary.lo < -1.0  # the raw t-interval leaves the range
    text = c.quantity.text(c.primary)
    lo, hi = (float(x) for x in re.search(r"\[([-+\d.]+), ([-+\d.]+)\]", text).groups())
    assert -100.0 <= lo and hi <= 100.0 and hi == 100.0
    assert c.row("a", "b")["diff"] == text and text in c.difference()
    assert glance.effect(c).startswith(text)
    [p] = glance.points([(1, None, c)])[0]
    assert -100.0 <= p.lo <= p.value <= p.hi <= 100.0 and p.hi == 100.0
    assert "100.00]" in glance.alt([p], [])


# -- a smaller preset says at the top what it can resolve (issue 22, finding 12) --------------
def _study(tmp_path, seeds, preset):
    res = tables(effect=0.01, seeds=seeds)
    cfg = {**res.cfg, "preset": preset, "seeds": len(seeds)}
    res = syn.results(cfg, res.metrics, res.runs)
    ctx = report.context_of(res, cfg, tmp_path / "figures")
    return ctx, report.render_markdown(ctx, syn.ROOT / "report")


def test_a_two_seed_study_says_at_the_top_that_it_resolves_nothing(tmp_path):
    ctx, md = _study(tmp_path, [0, 1], "smoke")
    r = ctx["resolves"]
    assert r["tested"] == 0 and r["contrasts"] >= 1
    assert r["text"].startswith(
        f"This is the **smoke** preset (2 seeds): 0 of its {r['contrasts']} headline contrasts "
        "of test accuracy have the 3 seed pairs stable in both arms that a verdict needs. ")
    assert r["text"].endswith("the full study (preset full) is the answer.")
    assert r["typical"] is not None  # estimated from the 2 pairs' spread
    top = md.index("## What this preset can resolve")
    assert top < md.index("## The answers at a glance") and r["short"] in md
    span = r["span"][:1].upper() + r["span"][1:]  # folded below the box's summary
    # referee read 9: the power sentence stood after the last aside, as if it qualified it
    folded = (f"<summary>What each contrast would detect</summary>\n\n{span}. Each is the "
              f"smallest difference a paired t-test on its seeds would detect with {r['power']}.")
    assert md.index(r["short"]) < md.index(folded) < md.index("## The answers at")


def test_a_preset_with_verdicts_gives_its_typical_resolution_in_points(tmp_path):
    ctx, md = _study(tmp_path, list(range(4)), "quick")
    r = ctx["resolves"]
    head_ = next(x for x in ctx["glance"]["rows"] if x["number"] == 2)
    assert r["tested"] >= 1 and head_["lines"]
    assert 0 < r["typical"] < 100
    assert f"is typically {r['typical']:.2f} points" in r["text"]
    # referee read 8: a size read from the spread of 4 seeds is said to be rough, on the page
    assert ("a smaller effect may well be missed, and from 4 seeds this size is itself "
            "rough. ") in r["short"]
    a, b = (head(effect=e, seeds=list(range(10))) for e in (0.0, 0.03))  # enough seeds: not
    ten = glance.resolves([(2, "older", a), (5, None, b)], 10, "quick")
    assert "a smaller effect may well be missed. " in ten["short"] and "rough" not in ten["text"]


def test_the_full_study_has_no_preset_note(tmp_path):
    ctx, md = _study(tmp_path, list(range(4)), "full")
    assert ctx["resolves"] is None and "What this preset can resolve" not in md


def test_the_preset_box_counts_ranges_and_takes_the_median_over_the_same_contrasts():
    """Referee 10: "9 of 11 tested" beside a range "over 10 contrasts" (an untested 2-pair
    contrast's back-computed resolution mixed in) and a rounded "0.0". Planted: three tested
    contrasts and one with 2 pairs; the range and median are over the three only, 2 decimals."""
    tested = [head(effect=e, seeds=list(range(4))) for e in (0.0, 0.01, 0.03)]
    two = head(effect=0.01, seeds=[0, 1])
    assert all(c.tested for c in tested) and not two.tested
    assert math.isfinite(glance.resolution(two))  # it has a spread of its own: the old trap
    r = glance.resolves([*tested, two, None], 4, "quick")
    sizes = sorted(100 * c.mde for c in tested)
    assert r["tested"] == 3 and r["contrasts"] == 4
    assert r["typical"] == pytest.approx(sizes[1])
    each = "; ".join(f"a contrast {x:.2f}" for x in sizes)
    assert (f"is typically {sizes[1]:.2f} points (median over the 3 contrasts with the pairs a "
            f"verdict needs, from {sizes[0]:.2f} to {sizes[-1]:.2f} points: {each})") \
        in r["text"]
    # its absence: with no untested contrast the same three give the same sentence
    assert glance.resolves(tested, 4, "quick")["text"].replace(" 3 of its 3 ", " 3 of its 4 ") \
        == r["text"]


# -- issue 31, finding 5: the summary and the section say the same thing ---------------------
def test_a_verdict_of_the_headline_s_family_is_in_the_row_not_only_in_the_section():
    """Exercise 2 (newer)'s row left out its one verdict (the test-loss rise, x0.25 [0.09,
    0.68]) and said only that the accuracies cannot be told apart. Planted: no accuracy effect,
    a rise a quarter of no dropout's."""
    r = ex2.analyze(tables(effect=0.0, rise_ratio=0.25))
    assert not r.accuracy.claim and r.rise.claim and r.rise.direction < 0
    words = ex2.context(r)
    row = glance.row(EX2, {"missing": None, "glance_words": words["glance_words"]},
                     [(None, EX2.headline(r))], 0.95)
    [line] = row["lines"]
    assert line["verdict"].startswith("no detectable difference (none larger than ")
    assert line["verdict"].endswith("; less overfitting") and line["claim"]
    rise = r.rise.quantity.text(r.rise.primary)
    assert f"test-loss rise, {ON} / {OFF}: {rise} (10 seed pairs stable in both arms" \
        in line["effect"]
    assert row["answer"] == (
        "After long training, dropout and no dropout reach test accuracies that cannot be told "
        "apart. With dropout the test loss rises less above its minimum than without (ratio "
        f"{ON} / {OFF}, Holm-corrected with the accuracy).")  # not "Its": whose? (read 9)
    assert "less overfitting" in words["rise"]["verdict"]  # what the section says
    # its absence: no verdict on the rise, the headline alone is the row
    flat = ex2.analyze(tables(effect=0.0, rise_ratio=1.0))
    assert ex2.context(flat)["glance_words"] is None
    [plain] = glance.row(EX2, {"missing": None, "glance_words": None},
                         [(None, EX2.headline(flat))])["lines"]
    assert "overfitting" not in plain["verdict"] and "rise" not in plain["effect"]


# -- issue 31, finding 8: the top box says what the preset trains on, and names its numbers ----
def test_the_box_names_each_contrast_whose_resolution_it_summarises():
    """The box's "from 0.08" was printed nowhere else: each value now comes with its exercise
    (and setting), so that the reader finds the contrast it belongs to."""
    a, b = (head(effect=e, seeds=list(range(4))) for e in (0.0, 0.03))
    r = glance.resolves([(2, "older", a), (5, None, b), (3, None, None)], 4, "quick")
    lo, hi = sorted([(100 * a.mde, "exercise 2 (older)"), (100 * b.mde, "exercise 5")])
    assert (f"from {lo[0]:.2f} to {hi[0]:.2f} points: {lo[1]} {lo[0]:.2f}; {hi[1]} "
            f"{hi[0]:.2f})") in r["text"]


def test_the_box_says_the_preset_trains_on_a_subset_and_where_its_reference_lands(tmp_path):
    from dropout_study import presets

    def acc(cond, seed, epoch):
        return 0.80 + 0.01 * seed

    cfg = syn.config(preset="quick", seeds=3, data={"train_size": 10000,
                                                    "validation_size": 5000})
    conds = {"p1=0.2,p2=0.5": {"rate1": 0.2, "rate2": 0.5, "epochs": 10},
             "p1=0,p2=0": {"rate1": 0.0, "rate2": 0.0, "epochs": 10}}
    metrics, runs = syn.run_tables("layer_rates", conds, [0, 1, 2], 10, acc)
    ends = syn.results(cfg, metrics, runs).endpoints
    text = presets.subset(cfg, ends)
    # referee read 8: the full study does not train on this preset's 55 000, but on 50 000
    assert text == ("It trains on 10 000 images where the full study trains on 50 000, so its "
                    "accuracies sit lower: its reference model (lr 0.5, p = (0.2, 0.5), "
                    "10 epochs) has a median endpoint of 81.0% test accuracy. ")
    r = glance.resolves([], 3, "quick", text)
    assert r["text"].startswith(f"This is the **quick** preset (3 seeds). {text}0 of its 0 ")
    # its absence: a study on every image says nothing of a subset
    full = syn.config(data={"train_size": None, "validation_size": 10000})
    assert presets.subset(full, ends) == ""
    res = tables(effect=0.01, seeds=list(range(4)))
    qcfg = {**res.cfg, "preset": "quick", "seeds": 4,
            "data": {**res.cfg["data"], "train_size": 10000}}
    ctx = report.context_of(syn.results(qcfg, res.metrics, res.runs), qcfg, tmp_path / "f")
    assert ("It trains on 10 000 images where the full study trains on 50 000, so its "
            "accuracies sit lower") in ctx["resolves"]["text"]
    # a preset on at least the full study's images says nothing of a subset
    more = syn.config(data={"train_size": 52000, "validation_size": 5000})
    assert presets.subset(more, ends) == ""


def test_the_box_on_the_page_folds_each_contrast_s_resolution_below_its_summary():
    """On a phone the box pushed the answers at a glance off the first screen: the page shows
    the box without its list of each contrast's resolution (``short``), and the list folded
    after it (``span``); the whole sentence (``text``) is as before."""
    a, b = (head(effect=e, seeds=list(range(4))) for e in (0.0, 0.03))
    r = glance.resolves([(2, "older", a), (5, None, b)], 4, "quick")
    assert r["span"] and f" ({r['span']})" in r["text"]
    assert r["short"] == r["text"].replace(f" ({r['span']})", "").replace(
        " (80% power at the observed spread of the paired differences)", "").replace(
        "It checks that the study runs end to end and answers", "It answers")
    assert "exercise 2 (older)" in r["span"] and "exercise 2" not in r["short"]
    assert "80% power" in r["text"] and "80% power" not in r["short"]
    assert r["short"].endswith("It answers fewer questions than it asks; the full study "
                               "(preset full) is the answer.")
    assert r["short"].startswith("This is the **quick** preset (4 seeds)")
    # its absence: nothing to fold where no contrast has a spread
    none = glance.resolves([(3, None, None)], 4, "quick")
    assert none["span"] is None and none["short"] == none["text"].replace(
        "It checks that the study runs end to end and answers", "It answers")


def test_the_box_leaves_contrasts_of_no_two_trainings_out_of_its_median_and_says_why():
    """Issue 31 (referee, 2): the box's range ran "from 0.04" (exercise 5's interaction) and
    0.23 (exercise 4: two evaluations of the same models), resolutions of no contrast between
    two trained settings, and its median with them. They are named apart, with the reason."""
    a, b, c = (head(effect=e, seeds=list(range(4))) for e in (0.0, 0.01, 0.03))
    small = replace(b, mde=b.mde / 50)  # as exercise 4's: no training noise between the arms
    heads = [(1, None, a), (4, None, small), (7, None, c)]
    r = glance.resolves(heads, 4, "quick", apart={4: "two evaluations of the same models"})
    sizes = sorted(100 * x.mde for x in (a, c))
    assert r["typical"] == pytest.approx(sum(sizes) / 2)  # the median of the two, not of three
    assert r["tested"] == 3 and r["contrasts"] == 3  # the count keeps every headline
    assert (f"is typically {r['typical']:.2f} points (median over the 2 contrasts between two "
            f"trained settings with the pairs a verdict needs, from {sizes[0]:.2f} to "
            f"{sizes[1]:.2f} points: ") in r["text"]
    assert r["text"].count(f"; left out, as no contrast of two trained settings: exercise 4 "
                           f"{100 * small.mde:.2f} (two evaluations of the same models)") == 1
    assert "The smallest difference between two trained settings they would likely detect " \
        "is typically" in r["short"]
    # its absence: without such an exercise the box is as before, every contrast in its median
    plain = glance.resolves(heads, 4, "quick")
    assert "left out" not in plain["text"] and "between two trained" not in plain["text"]
    assert plain["typical"] == pytest.approx(sorted(100 * x.mde for x in (a, small, c))[1])
    # the exercises that declare it: 4 (evaluations) and 5 (an interaction), none else
    assert {e.number for e in EXERCISES if e.apart} == {4, 5}


def test_the_forest_plot_draws_the_claim_a_row_names_beside_its_headline(tmp_path):
    """Issue 31 (referee, 7): exercise 2 (newer)'s row named its test-loss rise claim, the
    forest plot left it out. It is drawn, on its own log panel, and the caption says so."""
    res = tables(effect=0.0, rise_ratio=0.25)
    ctx = report.context_of(res, res.cfg, tmp_path / "figures")
    r = ex2.analyze(res)
    assert r.rise.claim
    g = ctx["glance"]
    rise = f"Ex. 2: {ON} / {OFF} [older]: "  # the synthetic config has both editions
    assert rise in g["alt"] and f"Ex. 2: {LABEL} [older]: " in g["alt"]
    assert g["alt"].split(rise)[1].split(";")[0].rstrip(".").endswith("(claim)")
    assert ("Beside the headlines, what their rows in the table name with them: exercise 2 "
            f"(older)'s test-loss rise above its minimum, {ON} / {OFF}.") in g["caption"]
    assert "test-loss rise above its minimum: ratio a / b (log scale)" in g["caption"]
    # its absence: no claim on the rise, the row names none and the plot draws none
    flat = tables(effect=0.0, rise_ratio=1.0)
    ctx = report.context_of(flat, flat.cfg, tmp_path / "flat")
    assert rise not in ctx["glance"]["alt"] and "Beside the headlines" not in \
        ctx["glance"]["caption"]


def test_a_preset_s_cut_of_an_exercise_is_said_where_it_applies(tmp_path):
    """Issue 31 (referee, 17): the quick preset's shorter noise runs and fewer tuning seeds
    (exercise 7), its shorter rate sweep (6), fewer widths (8) and zero probabilities (9) were
    said nowhere. The full study's values are config.yaml's; a preset's cut is said."""
    from dropout_study import presets
    from dropout_study.config import load

    full = syn.config()
    for block, keys in presets.FULL_DESIGN.items():
        for key, value in keys.items():
            assert full["experiments"][block][key] == value, (block, key)
    quick = load(syn.ROOT / "config.yaml", {"preset": "quick"}, project=syn.ROOT)
    said = {"epochs": ("epochs", "every run is shorter"), "tune_seeds": ("tuning seeds", "")}
    assert presets.departure(quick, "noise", said) == (
        "This study (preset quick) departs from the full study here: epochs 10 where the full "
        "study runs 30 (every run is shorter) and tuning seeds 2 where the full study runs 3; "
        "the full study is the answer.")
    assert presets.departure(full, "noise", said) == ""
    assert presets.departure(quick, "capacity", {"widths": ("widths", "")}) == (
        "This study (preset quick) departs from the full study here: widths 64, 256, 1024 "
        "where the full study runs 64, 128, 256, 512, 1024; the full study is the answer.")
    # in a section: exercise 8 at two widths says it, and what it costs
    from tests.exercises import test_capacity as t8

    r = t8.ex.analyze(t8.tables(widths=[64, 256]))
    assert r.preset_departure == (
        "This study (preset full) departs from the full study here: widths 64, 256 where the "
        "full study runs 64, 128, 256, 512, 1024 (too few for a trend, which needs at least 3); "
        "the full study is the answer.")
    md = syn.section_markdown(t8.ex.EXERCISE, t8.ex.context(r), {"capacity": "f.png"})
    assert f"**{r.preset_departure}**" in md


def test_the_preset_s_seeds_and_images_are_said_at_the_head_of_every_section():
    """Referee read 8: the quick preset's 3 seeds and 10 000-image subset hold in every
    exercise but were said only at the top and in some sections. The full study's seeds are
    config.yaml's; a preset's are said, the full study's not."""
    from dropout_study import presets
    from dropout_study.config import load

    full = syn.config()
    assert full["seeds"] == presets.FULL_SEEDS and presets.throughout(full) == ""
    quick = load(syn.ROOT / "config.yaml", {"preset": "quick"}, project=syn.ROOT)
    assert presets.throughout(quick) == (
        "Preset quick, here as throughout the report: 3 seeds where the full study runs 10 and "
        "10 000 training images where it trains on 50 000 (so lower accuracies); the full study "
        "is the answer.")
    assert presets.throughout({**full, "preset": "few", "seeds": 4}) == (
        "Preset few, here as throughout the report: 4 seeds where the full study runs 10; the "
        "full study is the answer.")
    from tests.exercises import test_capacity as t8

    line, r = presets.throughout(quick), t8.ex.analyze(t8.tables())
    md = syn.section_markdown(t8.ex.EXERCISE, t8.ex.context(r), {"capacity": "f.png"},
                              preset_line=line)
    head = md.split("## Exercise 8:")[1].split("**Question.**")[0]
    assert f"*{line}*" in head  # at the head of the section, before its question
    md = syn.section_markdown(t8.ex.EXERCISE, t8.ex.context(r), {"capacity": "f.png"},
                              preset_line="")
    assert "here as throughout" not in md


def test_the_methods_say_how_close_the_stable_runs_come_to_the_rule(tmp_path):
    """Issue 31 (referee): the rule checked against the runs, its count in the Methods."""
    from dropout_study import instability

    ctx, md = _study(tmp_path, list(range(4)), "quick")
    res = tables(effect=0.01, seeds=list(range(4)))
    m = instability.near_misses(res.metrics, res.k)
    assert ctx["rule_check"] == instability.near_words(m) and m["stable"] == 8
    assert ctx["rule_check"] in " ".join(md.split())


def test_a_preset_s_smaller_training_set_is_said_where_it_shapes_an_answer():
    """Referee (third read): the quick preset's 10 000-image training subset (and 5 000-image
    validation split) was said only at the top, not in exercises 2 and 8, whose answers
    (overfitting; dropout's worth in wider networks) it shapes. Said there, from the config;
    nothing where a study trains on all its images."""
    from dropout_study import presets
    from dropout_study.config import load
    from dropout_study.exercises import capacity, long_training

    assert syn.config()["data"]["validation_size"] == presets.FULL_VALIDATION
    quick = load(syn.ROOT / "config.yaml", {"preset": "quick"}, project=syn.ROOT)
    assert presets.data_departure(quick, "it shapes X") == (
        "This study (preset quick) trains on 10 000 images where the full study trains on "
        "50 000, and validates on 5 000 where it validates on 10 000: it shapes X; the full "
        "study is the answer.")
    assert presets.data_departure(syn.config(), "it shapes X") == ""
    from .exercises import test_capacity as tc
    from .exercises import test_long_training as tl

    for ex, make, how in ((long_training, tl.tables, "fewer images overfit sooner"),
                          (capacity, tc.tables, "a wide network overfits sooner")):
        res = make()
        assert how not in ex.context(ex.analyze(res))["departure"]
        res.cfg["data"]["train_size"] = 10_000
        said = ex.context(ex.analyze(res))["departure"]
        assert ("This study (preset full) trains on 10 000 images where the full study "
                "trains on 50 000: " in said) and how in said, said


def test_a_headline_on_too_few_pairs_is_drawn_dotted_and_the_caption_says_why():
    """Referee read 4, 3: exercise 3's ×0.78 [0.78, 0.79] from 2 seed pairs was the forest
    plot's tightest bar, drawn like a verdict's; figure 12 drew its 2-pair points apart."""
    c = head(effect=0.01, rise_ratio=1.0)
    two = replace(c, primary=replace(c.primary, n=2))
    assert c.tested and not two.tested
    drawn, left = glance.points([(2, "older", c), (2, "newer", two)])
    assert [p.tested for p in drawn] == [True, False]
    text = glance.caption(drawn, left, 0.95)
    assert ("A dotted bar stands on fewer than 3 seed pairs stable in both arms: no verdict, "
            "however narrow it is.") in text
    assert "dotted" not in glance.caption(drawn[:1], left, 0.95)


def test_an_open_point_whose_bar_misses_the_line_is_named_in_the_caption():
    """Referee (full study): exercise 5 (newer)'s interaction, +0.04 pp [+0.01, +0.07], was an
    open point whose bar misses zero, unexplained (withheld by the uninformative rule)."""
    c = head(effect=0.01, rise_ratio=1.0)
    assert c.claim
    quiet = replace(c, claim=False, uninformative="a factor has no effect of its own")
    drawn, left = glance.points([(5, "newer", quiet), (2, None, c)])
    text = glance.caption(drawn, left, 0.95)
    assert ("An open point whose bar misses the dashed line is a difference its section does "
            f"not claim for a reason it gives (e.g. an uninformative interaction): "
            f"{drawn[0].label}.") in text
    # its absence: a claim, or an open point whose bar crosses the line, is not named
    null = head(effect=0.0, rise_ratio=1.0)
    assert not null.claim
    drawn, left = glance.points([(2, None, c), (2, "newer", null)])
    assert "misses the dashed line" not in glance.caption(drawn, left, 0.95)


def test_a_ratio_panel_over_decades_keeps_its_tick_labels_apart(tmp_path):
    """Referee read 4, 6: figure 1's ratio panel printed "0.08" over "0.09"."""
    from dropout_study import plots

    drawn = [glance.Point("variance: ratio a / b (log scale)", True, 3, f"Ex. {i}: a / b",
                          v, v / 3, v * 3, False) for i, v in ((3, 0.2), (5, 0.25))]
    out = glance.draw(drawn, tmp_path / "forest.png")
    assert plots.OVERLAPS[str(out)] == []
