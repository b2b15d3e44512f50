"""Exercise 3's claims on synthetic activation tables with planted variances."""

import math
import re

import numpy as np
import pandas as pd
import pytest

from dropout_study import plots
from dropout_study.exercises import activation_variance as ex
from tests import synthetic as syn

SEEDS = list(range(10))
EPOCHS = 12
PROBES = [0.0, 0.25] + [float(e) for e in range(1, EPOCHS + 1)]  # early steps, then epochs
OFF, ON = "p1=0,p2=0", "p1=0.2,p2=0.5"
RATES = {OFF: (0.0, 0.0), ON: (0.2, 0.5)}
CONDS = {OFF: {"rate1": 0.0, "rate2": 0.0, "factor_dropout": "off"},
         ON: {"rate1": 0.2, "rate2": 0.5, "factor_dropout": "on"}}
MEAN = 0.2  # E[h] before the mask


def alternating(seed: int, size: float) -> float:
    """+size or −size by the seed's parity: spread, and a mean of exactly 0 over even seeds."""
    return size * (-1) ** seed


def var_off(layer, seed, epoch):
    """The no-dropout model's variance: it grows over training and varies by seed."""
    return 0.05 * layer * (1 + 0.1 * epoch) * math.exp(syn.noise(seed, 0.3))


def activations(seeds=SEEDS, eval_ratio=None, mismatch=None, diverged=None, probes=PROBES):
    """Rows as ``train._probe`` writes them. The dropout model's pre-mask variance is 0.8 times
    the other's; its post-mask variance is the closed form times ``mismatch(layer, seed,
    epoch)`` (1: the formula holds); its eval-mode variance is ``eval_ratio[layer]`` times the
    no-dropout model's, with a per-seed jitter of alternating sign. A diverged run has NaN
    statistics from its divergence epoch on."""
    eval_ratio = eval_ratio or {1: 1.0, 2: 1.0}
    mismatch = mismatch or (lambda layer, seed, epoch: 1.0)
    diverged = diverged or {}
    rows = []
    for cond, rates in RATES.items():
        for seed in seeds:
            for epoch in probes:
                for layer in (1, 2):
                    p, v = rates[layer - 1], var_off(layer, seed, epoch)
                    if cond == OFF:
                        pre = post = ev = v
                    else:
                        pre = 0.8 * v
                        post = ex.closed_form(pre, MEAN, p) * mismatch(layer, seed, epoch)
                        ev = eval_ratio[layer] * v * math.exp(alternating(seed, 0.05))
                    row = {"condition": cond, "seed": seed, "step": int(epoch * 40),
                           "epoch": epoch, "layer": layer, "rate": p, "mean_pre": MEAN,
                           "var_pre": pre, "mean_post": MEAN, "var_post": post,
                           "mean_eval": MEAN, "var_eval": ev, "experiment": "long_training",
                           "job": "j000"}
                    dead = diverged.get((cond, seed))
                    if dead is not None and epoch >= dead:
                        row.update({k: math.nan for k in row if k.startswith(("mean_", "var_"))})
                    rows.append(row)
    return pd.DataFrame(rows)


def results(seeds=SEEDS, diverged=None, confidence=0.95, **kw):
    metrics, runs = syn.run_tables("long_training", CONDS, seeds, EPOCHS,
                                   lambda c, s, e: 0.85, diverged)
    cfg = syn.config(experiments={"long_training": {"rates": [[0, 0], [0.2, 0.5]],
                                                    "epochs": EPOCHS}},
                     data={"probe_size": 256}, analysis={"confidence": confidence})
    return syn.results(cfg, metrics, runs, activations(seeds, diverged=diverged, **kw))


def run(**kw):
    return ex.analyze(results(**kw))


def layer(r, n):
    return next(x for x in r.layers if x.layer == n)


def test_the_closed_form():
    assert ex.closed_form(0.1, 0.2, 0.5) == pytest.approx((0.1 + 0.5 * 0.04) / 0.5)
    assert ex.closed_form(0.1, 0.2, 0.0) == pytest.approx(0.1)


# -- the closed-form check ----------------------------------------------------------------------
def test_activations_that_satisfy_the_closed_form_give_a_ratio_of_one():
    r = run()
    assert [c.layer for c in r.check] == [1, 2]
    for c in r.check:
        assert c.ratio.value == pytest.approx(1.0, abs=1e-12)
        assert c.ratio.n == 10 and c.points == 10 * len(PROBES)
        assert c.max_dev == pytest.approx(0.0, abs=1e-12)
        assert c.agrees and not c.deviates
    words = ex.context(r)
    assert words["takeaway"].startswith(
        "The mask raises the variance by what the closed form predicts from the pre-mask mean and "
        "variance, within 2% (measured/predicted layer 1: x1.0000")
    assert "deviation" not in words["takeaway"]
    assert words["check"][0] == {"layer": 1, "ratio": "x1.0000 [1.0000, 1.0000]",
                                 "points": 140, "max_dev": "0.000"}


def test_activations_that_break_the_closed_form_are_flagged():
    r = run(mismatch=lambda layer, seed, epoch: 1.05 if layer == 2 else 1.0)
    one, two = r.check
    assert one.ratio.value == pytest.approx(1.0) and one.agrees
    assert two.ratio.value == pytest.approx(1.05) and two.deviates and not two.agrees
    assert two.max_dev == pytest.approx(0.05)
    takeaway = ex.context(r)["takeaway"]
    assert takeaway.startswith("The measured post-mask variance departs from what the closed "
                               "form predicts")
    assert "layer 2: x1.0500" in takeaway
    assert "— a deviation beyond 2% that needs investigating" in takeaway
    assert "within 2%" not in takeaway


def test_a_small_deviation_inside_the_tolerance_is_not_flagged():
    r = run(mismatch=lambda layer, seed, epoch: 1.015)
    assert all(c.agrees and not c.deviates for c in r.check)
    assert "within 2%" in ex.context(r)["takeaway"]
    r = run(mismatch=lambda layer, seed, epoch: 1.025)
    assert all(c.deviates for c in r.check)


def test_a_check_whose_interval_is_wider_than_the_tolerance_says_so():
    r = run(mismatch=lambda layer, seed, epoch: math.exp(alternating(seed, 0.05)))
    for c in r.check:
        assert c.ratio.value == pytest.approx(1.0, abs=1e-9)  # per run: exp(±0.05)
        assert c.ratio.lo < 0.98 and c.ratio.hi > 1.02
        assert not c.agrees and not c.deviates
        assert c.max_dev == pytest.approx(math.exp(0.05) - 1)
    takeaway = ex.context(r)["takeaway"]
    assert "is consistent with the closed form" in takeaway
    assert "but its intervals are wider than ±2%" in takeaway
    assert "deviation" not in takeaway and "within 2%" not in takeaway


def test_the_check_reads_only_the_layers_with_dropout():
    res = results()
    acts = res.activations
    acts.loc[(acts["condition"] == OFF), "var_post"] *= 3  # no mask there: not checked
    r = ex.analyze(res)
    assert all(c.ratio.value == pytest.approx(1.0) for c in r.check)


# -- the eval-mode ratio, dropout / none -----------------------------------------------------------
def test_eval_mode_ratios_have_their_direction_in_words():
    r = run(eval_ratio={1: 0.5, 2: 2.0})
    one, two = layer(r, 1).eval_ratio, layer(r, 2).eval_ratio
    assert one.label == two.label == f"{ON} − {OFF}"
    assert one.primary.value == pytest.approx(math.log(0.5))  # log(on / off): on − off
    assert two.primary.value == pytest.approx(math.log(2.0))
    assert one.primary.contains(math.log(0.5)) and two.primary.contains(math.log(2.0))
    assert one.direction == -1 and two.direction == 1 and one.pairs == two.pairs == 10
    words = ex.context(r)
    assert re.search(r"layer 1: no dropout [\d.]+ → [\d.]+, dropout [\d.]+ → [\d.]+; there the "
                     r"dropout model's is x0\.50 \[0\.4\d, 0\.5\d\] the other's \(smaller\)",
                     words["answer"])
    assert re.search(r"the dropout model's is x2\.00 \[1\.\d\d, 2\.\d\d\] the other's \(larger\)",
                     words["answer"])
    assert [t["eval_verdict"] for t in words["table"]] == ["smaller", "larger"]
    assert words["table"][0]["eval_ratio"].startswith("x0.50 [")


def test_no_planted_eval_difference_gives_no_direction():
    r = run()
    for x in r.layers:
        assert x.eval_ratio.primary.value == pytest.approx(0.0, abs=1e-12)
        assert not x.eval_ratio.claim
    answer = ex.context(r)["answer"]
    assert "(larger)" not in answer and "(smaller)" not in answer
    assert "the other's (no detectable difference at 10 seeds: none larger than a factor 1." \
        in answer


def test_eval_ratios_are_a_holm_family_over_layers():
    r = run(eval_ratio={1: 0.5, 2: 2.0})
    levels = sorted(x.eval_ratio.primary.level for x in r.layers)
    assert levels == pytest.approx([0.95, 0.975])
    assert {t["eval_level"] for t in ex.context(r)["table"]} == {"95.00%", "97.50%"}


def test_two_seeds_give_no_verdict_on_the_eval_ratio():
    r = run(seeds=[0, 1], eval_ratio={1: 0.5, 2: 2.0})
    for x in r.layers:
        assert x.eval_ratio.pairs == 2 and not x.eval_ratio.claim
    answer = ex.context(r)["answer"]
    assert answer.count("(no verdict: 2 seed pairs stable in both arms, at least 3 needed)") == 2
    assert "(larger)" not in answer and "(smaller)" not in answer


# -- the table at the horizon ---------------------------------------------------------------------
def test_the_variances_at_the_end_are_geometric_means_with_positive_intervals():
    r = run(eval_ratio={1: 0.5, 2: 2.0})
    assert r.at_end and r.horizon == EPOCHS
    for n in (1, 2):
        x = layer(r, n)
        off = [var_off(n, s, EPOCHS) for s in SEEDS]
        assert x.off_eval.value == pytest.approx(math.exp(np.mean(np.log(off))))
        assert x.on_pre.value == pytest.approx(0.8 * x.off_eval.value)
        assert all(e.lo > 0 and e.n == 10 for e in (x.off_eval, x.on_pre, x.on_post, x.on_eval))
        p = RATES[ON][n - 1]
        amp = [ex.closed_form(0.8 * v, MEAN, p) / (0.8 * v) for v in off]
        assert x.amplification.value == pytest.approx(math.exp(np.mean(np.log(amp))))
        assert x.predicted.value == pytest.approx(x.amplification.value)
        assert x.amplification.lo > 1  # the mask raises the variance
        cross = [ex.closed_form(0.8 * v, MEAN, p) / v for v in off]
        assert x.train_ratio.value == pytest.approx(math.exp(np.mean(np.log(cross))))
    words = ex.context(r)
    assert words["answer"].startswith(
        "At the end of training (12 epochs), dropout's mask multiplies the train-time variance "
        "of the dropout model's activations by layer 1: x")
    assert "Against the no-dropout model's activations the train-time variance is layer 1: x" \
        in words["answer"]
    row = words["table"][0]
    assert row["on_var_pre"].startswith(f"{layer(r, 1).on_pre.value:.3f} [")
    assert row["amplification"] == f"x{layer(r, 1).amplification.value:.2f} " \
        f"[{layer(r, 1).amplification.lo:.2f}, {layer(r, 1).amplification.hi:.2f}]"


def test_the_design_numbers():
    r = run()
    assert (r.off, r.on) == (OFF, ON)
    assert r.seeds == 10 and r.probe_points == len(PROBES) and r.probe_size == 256
    assert r.marks == [0.0, 1.0, 10.0, 12.0]
    assert ex.context(r)["marks"] == ["0", "1", "10", "12"]


# -- divergence --------------------------------------------------------------------------------
def test_a_diverged_run_moves_the_horizon_before_its_divergence():
    r = run(diverged={(OFF, 3): 9}, eval_ratio={1: 0.5, 2: 2.0})
    assert r.horizon == 7.0 and not r.at_end and r.last_epoch == EPOCHS
    assert r.marks == [0.0, 1.0, 7.0, 10.0, 12.0]
    assert all(x.eval_ratio.pairs == 10 and x.off_eval.n == 10 for x in r.layers)
    assert r.excluded == [f"{OFF} seed 3 (diverged at epoch 9)"]
    words = ex.context(r)
    assert words["answer"].startswith(
        "At epoch 7, two epochs before the first run diverged (all seeds alive), dropout's mask")
    assert "In eval mode, from initialisation to epoch 7, the variance goes" in words["answer"]
    off1 = next(e for e in words["evolution"] if e["layer"] == 1 and e["condition"] == OFF)
    assert off1["cells"][-1].endswith(" (n=9)") and not off1["cells"][2].endswith(")")
    on1 = next(e for e in words["evolution"] if e["layer"] == 1 and e["condition"] == ON)
    assert not any(c.endswith("(n=9)") for c in on1["cells"])
    assert words["horizon"] == "7" and words["at_end"] is False and words["last_epoch"] == "12"


def test_the_evolution_reads_the_eval_variance_at_each_mark():
    r = run()
    e = next(e for e in r.evolution if e.layer == 2 and e.condition == OFF)
    for mark, cell in zip(r.marks, e.cells, strict=True):
        vals = [var_off(2, s, mark) for s in SEEDS]
        assert cell.value == pytest.approx(math.exp(np.mean(np.log(vals))))
        assert cell.lo > 0
    assert [(x.layer, x.condition) for x in r.evolution] == [(1, OFF), (1, ON), (2, OFF), (2, ON)]
    text = ex.context(r)["answer"]
    first = [var_off(2, s, 0.0) for s in SEEDS]
    assert f"layer 2: no dropout {math.exp(np.mean(np.log(first))):.3f} → " in text


# -- the figure and the template -----------------------------------------------------------------
def test_the_bands_are_positive_for_log_axes(tmp_path, monkeypatch):
    drawn = []
    original = plots.band

    def band(ax, x, mean, lo, hi, label, color=None, style="-"):
        drawn.append((label, np.asarray(x), np.asarray(lo)))
        return original(ax, x, mean, lo, hi, label, color, style)

    monkeypatch.setattr(plots, "band", band)
    res = results(seeds=[0, 1, 2], eval_ratio={1: 0.5, 2: 2.0})
    out = ex.draw(res, ex.analyze(res), tmp_path)
    assert out["variance"].exists()
    assert [d[0] for d in drawn[:4]] == [f"{OFF}: eval mode", f"{ON}: train, before mask",
                                         f"{ON}: train, after mask", f"{ON}: eval mode"]
    assert [d[0] for d in drawn[-2:]] == ["layer 1", "layer 2"]
    assert len(drawn) == 10
    assert all(np.all(lo > 0) for _, _, lo in drawn)
    assert all(np.all(x > 0) and len(x) == len(PROBES) for _, x, _ in drawn)  # epoch 0 on log


def test_the_template_renders_the_answer():
    r = run(diverged={(OFF, 3): 9}, eval_ratio={1: 0.5, 2: 2.0})
    words = ex.context(r)
    md = syn.section_markdown(ex.EXERCISE, words, {"variance": "figures/ex3.png"})
    assert words["answer"] in md and words["takeaway"] in md
    assert "At epoch 7, two epochs before the" in md
    assert f"Diverged runs: {OFF} seed 3 (diverged at epoch 9)" in md
    assert "layer 1: x0.50 [" in md and "| variance at epoch 7 |" in md
    assert not re.search(r"\bnan\b", md.lower())


def test_the_exercise_record():
    e = ex.EXERCISE
    assert (e.number, e.key, e.block, e.reads) == (3, "activation_variance", "long_training",
                                                   ("long_training",))
    assert e.trains == {} and e.title == "The variance of the activations along training"


def test_the_answer_and_takeaway_word_for_word():
    r = run(eval_ratio={1: 0.5, 2: 2.0})
    one, two = layer(r, 1), layer(r, 2)
    words = ex.context(r)

    def ratio(e):
        return f"x{e.value:.2f} [{e.lo:.2f}, {e.hi:.2f}]"

    def evo(n, x, direction):
        cells = {e.condition: e.cells for e in r.evolution if e.layer == n}
        c = x.eval_ratio.primary
        return (f"layer {n}: no dropout {cells[OFF][0].value:.3f} → {cells[OFF][3].value:.3f}, "
                f"dropout {cells[ON][0].value:.3f} → {cells[ON][3].value:.3f}; there the dropout "
                f"model's is {ratio(c.mapped(math.exp))} the other's ({direction})")

    assert words["answer"] == (
        "At the end of training (12 epochs), dropout's mask multiplies the train-time variance of "
        f"the dropout model's activations by layer 1: {ratio(one.amplification)} (closed form "
        f"{ratio(one.predicted)}); layer 2: {ratio(two.amplification)} (closed form "
        f"{ratio(two.predicted)}). Against the no-dropout model's activations the train-time "
        f"variance is layer 1: {ratio(one.train_ratio)}; layer 2: {ratio(two.train_ratio)}. In "
        f"eval mode, from initialisation to epoch 12, the variance goes {evo(1, one, 'smaller')}; "
        f"{evo(2, two, 'larger')}.")
    assert words["takeaway"] == (
        "The mask raises the variance by what the closed form predicts from the pre-mask mean and "
        "variance, within 2% (measured/predicted layer 1: x1.0000 [1.0000, 1.0000], layer 2: "
        "x1.0000 [1.0000, 1.0000]); the extra variance is noise that exists only in training: in "
        "eval mode the network sees none of it, and the comparison of the two trained networks "
        "there is the eval-mode ratio above.")
    def cell(e):
        return f"{e.value:.3f} [{e.lo:.3f}, {e.hi:.3f}]"

    assert words["table"][1] == {
        "layer": 2, "off_var_eval": cell(two.off_eval), "on_var_pre": cell(two.on_pre),
        "on_var_post": cell(two.on_post), "on_var_eval": cell(two.on_eval),
        "amplification": ratio(two.amplification),
        "amplification_predicted": ratio(two.predicted), "train_ratio": ratio(two.train_ratio),
        "eval_ratio": ratio(two.eval_ratio.primary.mapped(math.exp)),
        "eval_level": f"{100 * two.eval_ratio.primary.level:.2f}%", "eval_verdict": "larger",
        "eval_robustness": two.eval_ratio.robustness()}
    assert words["evolution"][0]["cells"][0] == cell(r.evolution[0].cells[0])
    assert (words["off"], words["on"], words["seeds"], words["probe_points"],
            words["probe_size"], words["excluded"]) == (OFF, ON, 10, len(PROBES), 256, [])


def test_the_unresolved_check_word_for_word():
    r = run(mismatch=lambda layer, seed, epoch: math.exp(alternating(seed, 0.05)))
    c = r.check[0].ratio
    assert ex.context(r)["takeaway"].startswith(
        "The measured post-mask variance is consistent with the closed form (measured/predicted "
        f"layer 1: x{c.value:.4f} [{c.lo:.4f}, {c.hi:.4f}], layer 2: x")
    assert "), but its intervals are wider than ±2%; the extra variance is noise that exists " \
        "only in training" in ex.context(r)["takeaway"]


def test_a_missing_value_is_said_in_words():
    from dropout_study.stats import Estimate

    assert ex._value(Estimate(math.nan, n=0)) == "no value"
    assert ex._value(Estimate(0.12345, n=1)) == "0.123"


def test_every_interval_is_at_the_configured_level():
    r = run(confidence=0.9, eval_ratio={1: 0.5, 2: 2.0})
    for x in r.layers:
        for e in (x.off_eval, x.on_pre, x.on_post, x.on_eval, x.amplification, x.predicted,
                  x.train_ratio):
            assert e.level == pytest.approx(0.9)
        assert sorted(y.eval_ratio.primary.level for y in r.layers) == pytest.approx([0.9, 0.95])
    assert all(c.ratio.level == pytest.approx(0.9) for c in r.check)
    assert all(cell.level == pytest.approx(0.9) for e in r.evolution for cell in e.cells)


def test_a_divergence_in_the_second_epoch_puts_the_horizon_at_the_first():
    r = run(diverged={(OFF, 3): 2})
    assert r.horizon == 1.0 and r.marks == [0.0, 1.0, 10.0, 12.0]


def test_the_evolution_marks_the_epochs_that_were_probed():
    probes = [0.0, 1.0, 5.0, 20.0, 30.0, 40.0]  # no probe at epoch 10
    r = ex.analyze(results(probes=probes))
    assert r.marks == [0.0, 1.0, 30.0, 40.0]
    assert r.last_epoch == 40.0 and r.at_end
    r = ex.analyze(results(probes=[0.0, 1.0, 10.0, 31.0]))
    assert r.marks == [0.0, 1.0, 10.0, 31.0]


def test_cells_with_fewer_seeds_say_how_many():
    seeds = [0, 1, 2]
    r = run(seeds=seeds, diverged={(OFF, 0): 10, (OFF, 1): 10, (OFF, 2): 11})
    assert r.horizon == 8.0 and r.marks == [0.0, 1.0, 8.0, 10.0, 12.0]
    off1 = next(e for e in ex.context(r)["evolution"] if e["layer"] == 1
                and e["condition"] == OFF)
    assert off1["cells"][3].endswith(" (n=1)") and "one seed, no interval" in off1["cells"][3]
    assert off1["cells"][4] == "no value (no stable run has one)"
    assert not off1["cells"][2].endswith(")")
