"""Exercise 4's claims on synthetic evaluation tables with planted effects."""

import math
import re

import numpy as np
import pandas as pd
import pytest

from dropout_study.contrast import MIN_PAIRS, Ratio
from dropout_study.errors import ConfigError
from dropout_study.exercises import test_time as ex
from tests import synthetic as syn

SEEDS = list(range(10))
PASSES = [1, 2, 5, 10, 100]
COND = "p1=0.2,p2=0.5"
ONE_KEY, ACC_KEY = "accuracy: one pass − eval mode", "accuracy: T = 100 − eval mode"
NLL_KEY, ECE_KEY = "NLL: T = 100 / eval mode", "ECE: T = 100 / eval mode"  # ratios


def tables(seeds=SEEDS, one=0.0, gain=0.0, nll=0.0, ece=None, passes=PASSES, base=0.85,
           times=None, nan=None, t_max_only=False, ece_gain=0.01):
    """``test_time`` and ``test_time_models`` as testtime.py writes them. Eval mode is ``base``
    plus a per-seed offset; one pass is ``one`` off it, the average of T_max passes ``gain``
    (accuracy) and ``nll`` (NLL) off it; ``ece(seed)`` gives eval mode's ECE. ``times``
    gives each seed's (eval, stochastic) seconds; ``nan`` = (column, seed) is made NaN."""
    t_max = max(passes)
    ece = ece or (lambda s: 0.03 + syn.noise(s, 0.01, "ece"))
    times = times or (lambda s: (0.5, 0.1))
    mc, models = [], []
    for s in seeds:
        ev = base + syn.noise(s, 0.02)
        for t in passes:
            w = math.log(t) / math.log(t_max) if t_max > 1 else 1.0
            mc.append({"seed": s, "passes": t,
                       "acc": ev + one + (gain - one) * w + syn.noise(s, 0.001, f"a{t}"),
                       "nll": 0.4 + syn.noise(s, 0.05) + nll * w + syn.noise(s, 0.001, f"n{t}"),
                       "ece": ece(s) + ece_gain * w + syn.noise(s, 0.0005, f"e{t}"),
                       "condition": COND})
        e_s, s_s = times(s)
        models.append({"seed": s, "eval_acc": ev, "eval_nll": 0.4 + syn.noise(s, 0.05),
                       "eval_ece": ece(s), "single_acc_mean": ev + one + syn.noise(s, 0.001, "1"),
                       "single_acc_sd": 0.002 + syn.noise(s, 0.0005, "sd"),
                       "single_acc_min": ev - 0.01, "single_acc_max": ev + 0.01,
                       "flip_rate": 0.1 + syn.noise(s, 0.01, "flip"),
                       "eval_pass_seconds": e_s, "stochastic_pass_seconds": s_s,
                       "condition": COND})
    mc, models = pd.DataFrame(mc), pd.DataFrame(models)
    if nan:
        col, seed = nan
        target = models if col in models else mc
        target.loc[target["seed"] == seed, col] = float("nan")
    return mc, models


def run(layer_rates=None, **kw):
    mc, models = tables(**kw)
    cfg = syn.config(experiments={"test_time": {"rates": [0.2, 0.5], "passes": PASSES}})
    metrics, runs = layer_rates or (pd.DataFrame(), pd.DataFrame())
    return ex.analyze(syn.results(cfg, metrics, runs,
                                  extra={"test_time": mc, "test_time_models": models}))


# -- planted effects --------------------------------------------------------------------------
def test_a_worse_single_pass_is_found_with_its_sign_and_the_takeaway_follows():
    r = run(one=-0.01)
    c = r.against_eval[ONE_KEY]
    assert c.primary.value == pytest.approx(-0.01, abs=2e-3) and c.primary.contains(-0.01)
    assert c.pairs == 10 and c.claim and c.direction == -1
    w = ex.context(r)
    # referee read 9: the claim carries its n and its corrected level, in the answer and the
    # takeaway
    held = f"a {c.level_text} interval, Holm-corrected within its family"
    assert f"changes test accuracy by {c.quantity.text(c.primary)} over 10 seeds against eval " \
        f"mode (worse; {held})" in w["answer"] and c.quantity.text(c.primary).startswith("-")
    assert w["takeaway"].startswith("Leaving dropout on makes predictions random and worse "
                                    f"({c.difference()} over 10 seeds; {held})")
    # referee 4, 6: a null is no "brings back no further": only no detectable difference
    assert "no further" not in w["takeaway"]
    acc = r.mc("accuracy")
    assert (f"the average of T = 100 passes is not detectably different from eval mode in "
            f"accuracy ({acc.difference()}; no detectable difference at 10 seeds: none larger "
            "than") in w["takeaway"]


def test_a_better_monte_carlo_average_is_found_and_its_cost_is_counted_in_passes():
    r = run(one=-0.01, gain=0.01)
    c = r.mc("accuracy")
    assert c.label == ACC_KEY
    assert c.primary.value == pytest.approx(0.01, abs=2e-3) and c.primary.contains(0.01)
    assert c.claim and c.direction == 1
    w = ex.context(r)
    assert f"averaging T = 100 passes changes accuracy by {c.quantity.text(c.primary)} over 10 " \
        f"seeds (better; a {c.level_text} interval, Holm-corrected within its family) and " \
        "multiplies NLL" in w["answer"] and c.quantity.text(c.primary).startswith("+")
    assert "at 100 forward passes per prediction instead of one" in w["answer"]
    assert w["takeaway"].startswith("A single noisy pass is worse and not repeatable, but the "
                                    "Monte-Carlo average of T = 100 passes beats eval mode")


def test_a_better_average_with_a_harmless_single_pass_leads_differently():
    w = ex.context(run(one=0.0, gain=0.01))
    assert w["takeaway"].startswith("A single noisy pass is not repeatable, but")


def test_a_worse_average_after_a_worse_pass_stays_below_eval_mode():
    w = ex.context(run(one=-0.02, gain=-0.01))
    assert "even the average of T = 100 passes stays below eval mode (accuracy: T = 100 − " \
        "eval mode: -" in w["takeaway"]


def test_a_worse_average_alone_says_eval_mode_beats_it():
    r = run(one=0.0, gain=-0.01)
    assert r.mc("accuracy").direction == -1 and r.one_pass.direction == 0
    w = ex.context(r)
    assert w["takeaway"].startswith("Eval mode beats the Monte-Carlo average of T = 100 passes")
    assert "(worse; a " in w["answer"]


def test_no_planted_effect_gives_no_claim_with_its_resolution():
    r = run()
    for c in r.against_eval.values():
        if c.label != ECE_KEY:
            assert not c.claim and c.primary.contains(0.0)
    w = ex.context(r)
    assert w["answer"].count("no detectable difference at 10 seeds") == 3
    assert "would likely be missed" in w["answer"]
    assert w["takeaway"].startswith("Eval mode and the Monte-Carlo average of T = 100 passes "
                                    "cannot be told apart at these seeds (no detectable")
    assert "matches" not in w["takeaway"]  # no equivalence is tested, none is claimed


def _log_ratio(mc, models, column):
    """The geometric mean over seeds of T_max's value over eval mode's (the test's own sum)."""
    top = mc[mc["passes"] == max(PASSES)].set_index("seed")[column]
    ev = models.set_index("seed")[f"eval_{column}"]
    return float(np.exp(np.mean(np.log(top / ev))))


def test_the_nll_is_compared_as_a_ratio_average_over_eval_and_lower_is_said():
    """Issue 31 (referee, 16): the NLL, a positive quantity, is compared as a ratio a / b on
    the log scale (it was a difference of nats)."""
    r = run(nll=-0.03)
    c = r.mc("NLL")
    assert c.label == NLL_KEY and isinstance(c.quantity, Ratio)
    assert math.exp(c.primary.value) == pytest.approx(_log_ratio(*tables(nll=-0.03), "nll"))
    assert math.exp(c.primary.value) < 1 and c.direction == -1  # as eval / MC it would be > 1
    text = c.quantity.text(c.primary)
    assert text.startswith("x0.9") and f"multiplies NLL by {text} over 10 seeds (lower; a " in \
        ex.context(r)["answer"]
    assert "Holm-corrected within its family) at 100 forward passes" in ex.context(r)["answer"]
    r = run(nll=0.03)
    assert math.exp(r.mc("NLL").primary.value) > 1 and "(higher; a " in ex.context(r)["answer"]


def test_the_ece_is_compared_as_a_ratio_average_over_eval():
    r = run()  # the average's ECE is 0.01 above eval mode's at T_max, on every seed
    c = r.against_eval[ECE_KEY]
    assert math.exp(c.primary.value) == pytest.approx(_log_ratio(*tables(), "ece"))
    assert c.direction == 1 and c.quantity.text(c.primary).startswith("x1.")


def test_the_contrasts_against_eval_mode_form_one_holm_family():
    r = run(one=-0.01, gain=0.01, nll=-0.03)
    assert list(r.against_eval) == [ONE_KEY, ACC_KEY, NLL_KEY, ECE_KEY]
    levels = sorted(c.primary.level for c in r.against_eval.values())
    assert levels == pytest.approx([1 - 0.05 / k for k in (1, 2, 3, 4)])


# -- missing models and values ----------------------------------------------------------------
def test_a_diverged_model_is_not_evaluated_and_is_counted_from_the_training_runs():
    grid = {COND: {"rate1": 0.2, "rate2": 0.5, "factor_p1": 0.2, "factor_p2": 0.5}}
    trained = syn.run_tables("layer_rates", grid, SEEDS, 4, lambda c, s, e: 0.85,
                             diverged={(COND, 3): 2})
    r = run(layer_rates=trained, seeds=[s for s in SEEDS if s != 3], one=-0.01)
    assert (r.models, r.trained, r.diverged) == (9, 10, 1)
    assert r.one_pass.pairs == 9 and r.one_pass.claim
    assert "(9 seeds: 10 trained, 1 diverged and not evaluated)" in \
        render(r).replace("\n", " ")
    # referee read 9: "(3 seeds (3 trained, 0 diverged and not evaluated))" said nothing
    healthy = syn.run_tables("layer_rates", grid, SEEDS, 4, lambda c, s, e: 0.85)
    r = run(layer_rates=healthy, one=-0.01)
    assert (r.trained, r.diverged) == (10, 0) and ex.context(r)["excluded"] == ""


def test_without_the_training_runs_nothing_is_said_about_them():
    r = run()
    assert r.trained is None and ex.context(r)["excluded"] == ""


def test_a_nan_value_leaves_only_its_own_pair_out():
    r = run(nll=-0.03, nan=("eval_nll", 4))
    assert r.mc("NLL").pairs == 9 and r.mc("NLL").claim
    assert r.mc("accuracy").pairs == 10
    row = next(t for t in r.table if t.condition == ex.EVAL)
    assert row.n("nll") == 9 and row.n("acc") == 10


def test_a_single_model_gives_no_verdict():
    r = run(seeds=[0], one=-0.05, gain=0.05)
    assert r.one_pass.pairs == 1 and not r.one_pass.tested and not r.one_pass.claim
    w = ex.context(r)
    assert "no verdict: 1 seed pair stable in both arms, at least 3 needed" in w["answer"]
    assert w["takeaway"].startswith("No takeaway on the Monte-Carlo average: no verdict: 1 seed")


def test_two_models_are_still_too_few():
    r = run(seeds=[0, 1], one=-0.05)
    assert r.one_pass.pairs == MIN_PAIRS - 1 and not r.one_pass.claim


# -- the table: every T, none selected; intervals in range -----------------------------------
def test_every_pass_count_is_shown_and_none_is_picked_on_the_test_set():
    r = run(gain=0.01)  # the largest T has the best test accuracy: nothing may pick it
    assert [t.condition for t in r.table] == [ex.EVAL, ex.ONE] + [
        ex.mc_name(t) for t in (2, 5, 10, 100)]
    w = ex.context(r)
    assert "best" not in " ".join(str(v) for v in w.values())
    assert [row["cost"] for row in w["table"]] == [
        "1 pass", "1 pass + masks", "2 passes + masks", "5 passes + masks",
        "10 passes + masks", "100 passes + masks"]


def test_the_one_pass_row_takes_its_accuracy_from_the_single_passes_and_nll_from_t1():
    r = run(one=-0.01)
    one = next(t for t in r.table if t.condition == ex.ONE)
    ev = next(t for t in r.table if t.condition == ex.EVAL)
    assert one.values["acc"].value == pytest.approx(ev.values["acc"].value - 0.01, abs=1e-3)
    assert one.values["nll"].n == 10 and one.runs == 10 and one.unstable == 0
    mc = next(t for t in r.table if t.condition == ex.mc_name(100))
    assert mc.values["ece"].value == pytest.approx(ev.values["ece"].value + 0.01, abs=5e-4)


def test_without_t1_the_one_pass_row_says_why_it_has_no_nll():
    r = run(passes=[2, 10])
    w = ex.context(r)
    row = next(t for t in w["table"] if t["condition"] == ex.ONE)
    assert row["nll"] == row["ece"] == "not measured (T = 1 not among the passes)"
    assert [t["condition"] for t in w["table"]][2:] == [ex.mc_name(2), ex.mc_name(10)]


def test_intervals_stay_inside_the_range_of_each_quantity():
    """Issue 31 (referee, 16): ECE "2.58% [0.00, 6.00]", a symmetric interval cut at 0. The
    ECE (which may be 0) gets a percentile bootstrap interval, inside its values' range; the
    NLL a geometric mean with its interval from the log scale."""
    tiny = {0: 0.0, 1: 0.0, 2: 0.0, 3: 0.0005, 4: 0.05, 5: 0.0, 6: 0.0, 7: 0.0, 8: 0.0, 9: 0.0}
    mc, models = tables(ece=lambda s: tiny[s], base=0.995)
    r = run(ece=lambda s: tiny[s], base=0.995)
    for row in r.table:
        for key in ("acc", "ece"):
            e = row.values[key]
            assert 0.0 <= e.lo <= e.hi <= 1.0
        assert row.values["nll"].lo > 0.0
    ev = next(t for t in r.table if t.condition == ex.EVAL).values
    assert ev["acc"].hi == 1.0  # the t-interval of an accuracy: clipped, not outside
    assert ev["ece"].value == pytest.approx(np.mean(list(tiny.values())))
    assert 0.0 <= ev["ece"].lo < ev["ece"].value < ev["ece"].hi <= 0.05  # not cut: bootstrap
    nll = ev["nll"]
    logs = np.log(models["eval_nll"])
    assert nll.value == pytest.approx(math.exp(logs.mean()))  # the geometric mean
    assert math.log(nll.hi) - logs.mean() == pytest.approx(logs.mean() - math.log(nll.lo))
    assert r.flip.lo >= 0 and r.spread.lo >= 0


def test_flip_rate_and_spread_are_reported_as_percentages_and_points():
    w = ex.context(run())
    assert w["flip"].startswith("10.") and w["flip"].count("%") == 1
    assert re.fullmatch(r"0\.1\d pp \[0\.1\d, 0\.2\d\]", w["spread"])  # SD 0.002 ± 0.0005


def test_a_single_pass_run_says_no_flip_rate_was_measured():
    mc, models = tables(passes=[1])
    models["flip_rate"] = float("nan")  # as testtime.py writes it for T_max = 1
    models["single_acc_sd"] = float("nan")  # the SD of one value
    cfg = syn.config()
    r = ex.analyze(syn.results(cfg, pd.DataFrame(), pd.DataFrame(),
                               extra={"test_time": mc, "test_time_models": models}))
    w = ex.context(r)
    assert w["flip"] == w["spread"] == "none measured (one pass only)"


# -- cost: no ratio of timings measured differently (the old "one pass 0.2x") ----------------
def test_no_ratio_of_eval_and_stochastic_timings_is_printed():
    r = run(times=lambda s: (0.5, 0.1))  # old analysis: "0.2x" for one pass, "20.0x" for T=100
    w = ex.context(r)
    text = " ".join(str(v) for v in w.values()) + str(w["table"])
    for ratio in ("0.2x", "x0.2", "20.0x", "x20.0", "5.0x", "x5.0", "x0.0"):
        assert ratio not in text
    assert "not measured the same way" in w["timing"] and "not given" in w["timing"]
    assert "eval mode 500.0 ms (one timing, no interval)" in w["timing"]
    assert "dropout on 100.0 ms (one timing, no interval)" in w["timing"]
    assert "the mean of 100 timed passes" in w["timing"]


def test_models_timed_together_are_one_measurement_not_one_per_seed():
    r = run(times=lambda s: (0.5, 0.1))
    assert r.timing.measurements == 1 and not r.timing.eval.has_interval


def test_timings_of_several_jobs_get_a_positive_log_scale_interval():
    r = run(times=lambda s: (0.004, 0.0001) if s < 5 else (0.006, 0.0002))
    t = r.timing
    assert t.measurements == 2 and t.stochastic.n == 2
    assert t.eval.value == pytest.approx(math.sqrt(0.004 * 0.006))  # geometric mean
    assert 0 < t.stochastic.lo < t.stochastic.value < t.stochastic.hi
    assert "(geometric mean of 2 measurements)" in ex.timing_words(r)


def test_missing_timings_are_said_in_words():
    r = run(times=lambda s: (float("nan"), float("nan")))
    assert "no value" in ex.timing_words(r) and "nan" not in ex.timing_words(r)


# -- config, figure, template ------------------------------------------------------------------
def test_check_requires_a_condition_trained_by_exercise_1():
    cfg = syn.config()
    ex.check(cfg)  # the preset's own choice is in the grid
    lr = cfg["experiments"]["layer_rates"]
    bad = syn.config(experiments={"test_time": {"rates": [0.9, 0.9]}})
    with pytest.raises(ConfigError, match=r"'experiments.test_time.rates': \[0.9, 0.9\]"):
        ex.check(bad)
    off = syn.config(experiments={"layer_rates": {"enabled": False}})
    with pytest.raises(ConfigError, match="experiments.test_time.rates"):
        ex.check(off)
    swap = syn.config(experiments={"layer_rates": {"p1": [0.0], "p2": [0.0],
                                                   "swap": [0.5, 0.2]},
                                   "test_time": {"rates": [0.2, 0.5]}})
    ex.check(swap)  # the mirror of the swap pair is trained too
    assert lr["enabled"]


def test_the_exercise_record():
    e = ex.EXERCISE
    assert (e.number, e.key, e.block) == (4, "test_time", "test_time")
    assert e.reads == ("test_time", "test_time_models") and e.trains == {}
    assert e.check is ex.check


def test_three_values_get_no_bootstrap_interval_in_the_table_nor_the_figure(tmp_path,
                                                                           monkeypatch):
    """Referee 4, 5: a percentile bootstrap over 3 values is their min–max span and
    under-covers: the ECE of 3 models has no interval (said with its n), and Figure 7's ECE
    band is the table's interval (none), not a t-interval."""
    from dropout_study import plots
    mc, models = tables(seeds=[0, 1, 2])
    r = run(seeds=[0, 1, 2])
    ev = next(t for t in r.table if t.condition == ex.EVAL)
    assert ev.values["ece"].n == 3 and not ev.values["ece"].has_interval
    row = next(x for x in ex.context(r)["table"] if x["condition"] == ex.EVAL)
    assert row["ece"].endswith("% (n = 3: no interval)")
    assert ex.context(r)["spread"].endswith("pp (n = 3: no interval)")
    assert ex.context(r)["bootstrap_min"] == 5
    drawn = []
    monkeypatch.setattr(plots, "band", lambda ax, x, m, lo, hi, *a, **k: drawn.append(
        np.asarray(lo, dtype=float)) or ax.plot([1], [1])[0])
    res = syn.results(syn.config(), pd.DataFrame(), pd.DataFrame(),
                      extra={"test_time": mc, "test_time_models": models})
    ex.draw(res, r, tmp_path)
    assert len(drawn) == 3 and np.all(np.isnan(drawn[2])) and np.all(np.isfinite(drawn[0]))
    # 10 models: a bootstrap interval, in both
    big = next(t for t in run().table if t.condition == ex.EVAL).values["ece"]
    assert big.has_interval and big.n == 10


def test_the_figure_is_drawn(tmp_path):
    mc, models = tables()
    res = syn.results(syn.config(), pd.DataFrame(), pd.DataFrame(),
                      extra={"test_time": mc, "test_time_models": models})
    out = ex.draw(res, ex.analyze(res), tmp_path)
    assert out["passes"].exists() and out["passes"].stat().st_size > 0
    from dropout_study import plots

    assert plots.OVERLAPS[str(out["passes"])] == []  # a legend ran into the next panel


def render(r) -> str:
    return syn.section_markdown(ex.EXERCISE, ex.context(r), {"passes": "figures/ex4_passes.png"})


def test_the_template_renders_the_answer_and_the_table():
    r = run(one=-0.01)
    md = render(r)
    assert "## Exercise 4: Why dropout is not used at test time" in md
    assert "**Answer.** One pass with dropout left on (its expected accuracy" in md
    # referee read 4, 4: the one-pass row mixes two estimators, and says which is which
    flat = " ".join(md.split())
    assert (f"The one-pass row ({ex.ONE}) holds two estimators: its accuracy is a single pass's "
            "expected accuracy, the mean over the 100 single passes drawn per model") in flat
    assert "its NLL and ECE are those of the first pass alone" in flat
    assert f"| {ex.mc_name(100)} | 100 passes + masks |" in md
    assert "not measured the same way" in md
    assert "| accuracy: one pass − eval mode |" in md


# -- the sentences, word for word ---------------------------------------------------------------
def test_the_answer_word_for_word():
    r = run(one=-0.01, gain=0.01, nll=-0.03)
    one, acc, nll = r.one_pass, r.mc("accuracy"), r.mc("NLL")
    text = lambda c: c.quantity.text(c.primary)  # noqa: E731
    held = lambda c: f"a {c.level_text} interval, Holm-corrected within its family"  # noqa: E731
    assert ex.context(r)["answer"] == (
        "One pass with dropout left on (its expected accuracy, the mean over the 100 single "
        f"passes drawn) changes test accuracy by {text(one)} over 10 seeds against eval mode "
        f"(worse; {held(one)}) and gives a different class for {ex.context(r)['flip']} of test "
        f"images from one pass to the next; averaging T = 100 passes changes accuracy by "
        f"{text(acc)} over 10 seeds (better; {held(acc)}) and multiplies NLL by {text(nll)} over "
        f"10 seeds (lower; {held(nll)}) at 100 forward passes per prediction instead of one.")
    assert "(better; a " in ex.context(run(one=0.01))["answer"].split(" and gives")[0]


def claim(c):
    return (f"{c.difference()} over 10 seeds; a {c.level_text} interval, Holm-corrected within "
            "its family")


def test_each_takeaway_word_for_word():
    r = run(one=-0.01, gain=0.01)
    assert ex.context(r)["takeaway"] == (
        "A single noisy pass is worse and not repeatable, but the Monte-Carlo average of T = 100 "
        f"passes beats eval mode here ({claim(r.mc('accuracy'))}), at 100 forward passes "
        "per prediction instead of one: dropout is off at test time for cost and determinism, "
        "and MC dropout is the option when the extra accuracy or uncertainty is worth it.")
    r = run(one=-0.01)
    assert ex.context(r)["takeaway"] == (
        f"Leaving dropout on makes predictions random and worse ({claim(r.one_pass)}); "
        "the average of T = 100 passes is not detectably different from eval mode in accuracy "
        f"({r.mc('accuracy').difference()}; {r.mc('accuracy').verdict('', '')}); in "
        f"calibration it has higher ECE ({claim(r.mc('ECE'))}), and each of "
        "the T passes costs eval mode's one pass plus the masks, while eval mode, with inverted "
        "dropout's 1/(1 − p) scaling, is not detectably less accurate than the average of T "
        "passes, in one pass: that is why dropout is switched off at test time.")
    assert "approximates" not in ex.context(r)["takeaway"]  # a null is no equivalence
    assert r.mc("accuracy").verdict("", "").startswith("no detectable difference at 10 seeds")
    # referee (full study): a calibration the average of T passes changes detectably is said
    # beside the accuracy (the ECE above is planted by the synthetic tables; the NLL is not)
    assert r.mc("ECE").claim and not r.mc("NLL").claim
    assert "NLL" not in ex.context(r)["takeaway"]
    lower = run(one=-0.01, nll=-0.05)
    assert lower.mc("NLL").claim and lower.mc("NLL").direction < 0
    assert (f"; in calibration it has lower NLL ({claim(lower.mc('NLL'))}) and higher ECE "
            f"({claim(lower.mc('ECE'))}), and each") in ex.context(lower)["takeaway"]
    quiet = run(one=-0.01, ece_gain=0.0)  # its absence: no calibration claim, nothing said
    assert not quiet.mc("ECE").claim and not quiet.mc("NLL").claim
    assert "calibration" not in ex.context(quiet)["takeaway"]
    r = run(gain=-0.01)
    assert ex.context(r)["takeaway"] == (
        f"Eval mode beats the Monte-Carlo average of T = 100 passes "
        f"({claim(r.mc('accuracy'))}) with one pass instead of 100: the deterministic "
        "pass is both the better and the cheaper choice.")
    r = run()
    assert ex.context(r)["takeaway"] == (
        "Eval mode and the Monte-Carlo average of T = 100 passes cannot be told apart at these "
        f"seeds ({r.mc('accuracy').verdict('', '')}), with one pass instead of 100, while single "
        "noisy passes are not even repeatable: the deterministic pass is the efficient choice.")
    r = run(seeds=[0, 1])
    assert ex.context(r)["takeaway"] == (
        "No takeaway on the Monte-Carlo average: no verdict: 2 seed pairs stable in both arms, "
        "at least 3 needed.")


def test_the_timing_sentence_word_for_word():
    r = run(times=lambda s: (0.5, 0.1))
    assert ex.context(r)["timing"] == (
        "Measured wall time per model for one pass over the test set: eval mode 500.0 ms (one "
        "timing, no interval), dropout on 100.0 ms (one timing, no interval). The two "
        "were not measured the same way (eval mode: one timed pass after a warm-up in eval mode "
        "only; dropout on: the mean of 100 timed passes, the first one cold), so their ratio is "
        "not a cost and is not given; the Monte-Carlo average of T passes costs T stochastic "
        "passes, each the eval pass's matrix products plus the masks.")


def test_several_measurements_are_printed_in_ms_with_their_interval():
    r = run(times=lambda s: (0.004, 0.0001) if s < 5 else (0.006, 0.0002))
    text = ex.seconds(r.timing.eval)
    assert text.startswith("4.9 ms [") and text.endswith("] (geometric mean of 2 measurements)")


def test_contrast_rows_say_higher_or_lower():
    r = run(one=-0.01, gain=0.01, nll=-0.03)
    verdicts = [d["verdict"] for d in ex.context(r)["diffs"]]
    assert verdicts == ["lower", "higher", "lower", "higher"]


def test_with_t1_the_one_pass_row_keeps_its_nll_and_ece():
    w = ex.context(run())
    row = next(t for t in w["table"] if t["condition"] == ex.ONE)
    assert row["nll"].startswith("0.4") and row["ece"].endswith("]") and "%" in row["ece"]
    assert w["flip"][-1] == "]" and len(w["flip"].split(" [")[0].split(".")[1]) == 3  # "dd%"


def test_check_reads_the_grid_and_a_config_without_exercise_1():
    inside = syn.config(experiments={"test_time": {"rates": [0.8, 0.0]}})
    ex.check(inside)  # in p1 x p2, not the swap pair
    cfg = syn.config()
    del cfg["experiments"]["layer_rates"]
    with pytest.raises(ConfigError, match="experiments.test_time.rates"):
        ex.check(cfg)
    for p in ("p1", "p2"):
        cfg = syn.config(experiments={"test_time": {"rates": [0.8, 0.0]}})
        del cfg["experiments"]["layer_rates"][p]
        with pytest.raises(ConfigError, match=r"\[0.8, 0.0\]"):
            ex.check(cfg)
    cfg = syn.config()
    del cfg["experiments"]["test_time"]["rates"]
    with pytest.raises(ConfigError, match=r"'experiments.test_time.rates': \[\] must be"):
        ex.check(cfg)


def test_the_confidence_level_of_the_config_is_used():
    mc, models = tables(one=-0.01, times=lambda s: (0.004, 0.0001) if s < 5 else (0.006, 2e-4))
    cfg = syn.config(analysis={"confidence": 0.9})
    r = ex.analyze(syn.results(cfg, pd.DataFrame(), pd.DataFrame(),
                               extra={"test_time": mc, "test_time_models": models}))
    levels = sorted(c.primary.level for c in r.against_eval.values())
    assert levels == pytest.approx([1 - 0.1 / k for k in (1, 2, 3, 4)])
    assert r.flip.level == r.spread.level == r.timing.eval.level == 0.9
    assert r.table[0].values["acc"].level == 0.9


def test_the_one_pass_row_reads_t1_and_the_small_rates_are_clipped():
    mc, models = tables()
    one = next(t for t in run().table if t.condition == ex.ONE)
    assert one.values["nll"].value == pytest.approx(  # a geometric mean (issue 31, 16)
        math.exp(np.log(mc.loc[mc["passes"] == 1, "nll"]).mean()))
    assert one.values["ece"].value == pytest.approx(mc.loc[mc["passes"] == 1, "ece"].mean())
    models["flip_rate"] = [0.0] * 9 + [0.05]
    models["single_acc_sd"] = [0.0] * 9 + [0.05]
    r = ex.analyze(syn.results(syn.config(), pd.DataFrame(), pd.DataFrame(),
                               extra={"test_time": mc, "test_time_models": models}))
    assert r.flip.lo == 0.0 and r.spread.lo == 0.0 and r.flip.hi < 0.05


def test_several_measurements_print_their_interval_in_ms():
    r = run(times=lambda s: (0.004, 0.0001) if s < 5 else (0.006, 0.0002))
    e = r.timing.eval
    assert ex.seconds(e) == (f"{1000 * e.value:.1f} ms [{1000 * e.lo:.1f}, {1000 * e.hi:.1f}] "
                             "(geometric mean of 2 measurements)")
    assert ex.context(r)["condition"] == COND


def test_the_glance_answer_without_a_difference_claims_no_equality():
    from dropout_study.exercises.test_time import EXERCISE

    none = EXERCISE.glance.answer_none
    assert "not detectably more accurate" in none and "no more accurate" not in none


def test_pass_to_pass_variation_is_called_disagreement_not_instability():
    r = run(one=-0.01)
    md = syn.section_markdown(ex.EXERCISE, ex.context(r), {"passes": "f.png"})
    assert "**Disagreement between passes.** One stochastic pass is not repeatable" in md
    assert "also unstable" not in md


def test_a_worse_single_pass_is_said_beside_the_headline_in_the_summary_row():
    """Referee read 5, 10: the section rests on one pass being worse than eval mode (a claim
    of the headline's Holm family), which neither the summary row nor the forest plot gave."""
    from dropout_study import glance

    r = run(one=-0.01)
    one, acc = r.one_pass, r.mc("accuracy")
    assert one.claim and one.direction < 0 and not acc.claim
    # the forest plot draws them with the headline, as the row names them
    assert ex.EXERCISE.beside(r) == [one, r.mc("ECE")]
    ctx = ex.context(r)
    row = glance.row(ex.EXERCISE, ctx, [(None, acc)], 0.95)
    line = row["lines"][0]
    ece = r.mc("ECE")  # the synthetic single pass plants a higher ECE of the average too
    assert ece.claim and ece.direction > 0 and not r.mc("NLL").claim
    assert line["effect"] == (f"{acc.summary(0.95)}; {one.label}: {one.summary(0.95)}; "
                              f"{ece.label}: {ece.summary(0.95)}")
    assert line["verdict"].endswith("; one pass worse than eval mode; the average: higher ECE")
    assert line["claim"]
    assert row["answer"].endswith("One pass with dropout left on is less accurate than eval "
                                  "mode (Holm-corrected with the average). The average of T = "
                                  "100 passes has higher ECE than eval mode (Holm-corrected "
                                  "with the accuracy).")
    # its absence: no claim for one pass nor in calibration, the headline alone
    flat = run(ece_gain=0.0)
    assert not flat.one_pass.claim and ex.EXERCISE.beside(flat) == []
    assert not flat.mc("ECE").claim and not flat.mc("NLL").claim
    assert ex.context(flat)["glance_words"] is None


def test_a_calibration_claim_of_the_average_is_in_the_summary_row():
    """Referee (full study, second read): the average of 100 passes had a lower NLL (x0.995)
    and ECE (x0.58), claims of the headline's family, which the summary row left out."""
    from dropout_study import glance

    r = run(nll=-0.05, ece_gain=0.0)
    nll, acc = r.mc("NLL"), r.mc("accuracy")
    assert nll.claim and nll.direction < 0 and not r.one_pass.claim and not acc.claim
    row = glance.row(ex.EXERCISE, ex.context(r), [(None, acc)], 0.95)
    assert row["lines"][0]["effect"] == f"{acc.summary(0.95)}; {nll.label}: {nll.summary(0.95)}"
    assert row["lines"][0]["verdict"].endswith("; the average: lower NLL")
    assert ex.EXERCISE.beside(r) == [nll]  # drawn on the forest plot, as the row names it
    assert row["answer"].endswith("The average of T = 100 passes has lower NLL than eval mode "
                                  "(Holm-corrected with the accuracy).")
    assert "One pass" not in row["answer"]
