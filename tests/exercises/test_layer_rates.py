"""Exercise 1's claims on synthetic tables with planted effects."""

import pytest

from dropout_study import words
from dropout_study.contrast import Sample, compare_one
from dropout_study.exercises import layer_rates as ex
from tests import synthetic as syn

SEEDS = list(range(10))
GRID = {"p1": [0.0, 0.5], "p2": [0.0, 0.5], "swap": [0.2, 0.5]}
ORIGINAL, SWAPPED, NONE = "p1=0.2,p2=0.5", "p1=0.5,p2=0.2", "p1=0,p2=0"


def run(swap_effect=0.0, none_effect=0.0, diverged=None, nan=None, seeds=SEEDS, grid=GRID,
        heavy_effect=0.0, last_effect=0.0, confidence=0.95, effects=None):
    """Every cell at 0.85 plus a per-seed offset shared by all cells (pairing removes it);
    the swapped cell gets ``swap_effect`` over the original, no dropout ``none_effect``."""
    conds = {ex.rates_name(a, b): {"rate1": a, "rate2": b, "factor_p1": a, "factor_p2": b}
             for a, b in ex.rate_pairs(grid)}

    def acc(cond, seed, epoch):
        if nan and (cond, seed) == nan:
            return float("nan")
        jitter = syn.noise(seed, 0.02) + syn.noise(seed, 0.002, cond)
        return (0.85 + jitter + (swap_effect if cond == SWAPPED else 0.0)
                + (last_effect if cond == SWAPPED and epoch == 4 else 0.0)
                + (heavy_effect if cond == "p1=0.5,p2=0" else 0.0)
                + (none_effect if cond == NONE else 0.0)
                + (effects or {}).get(cond, {}).get(seed, 0.0))  # a cell's own, per seed

    cfg = syn.config(experiments={"layer_rates": grid}, analysis={"confidence": confidence})
    metrics, runs = syn.run_tables("layer_rates", conds, seeds, 4, acc, diverged)
    return ex.analyze(syn.results(cfg, metrics, runs))


@pytest.mark.parametrize("effect", [0.01, -0.01])
def test_a_planted_swap_effect_is_found_with_its_sign(effect):
    r = run(swap_effect=effect)
    assert r.swap.label == f"{SWAPPED} − {ORIGINAL}"
    assert r.swap.primary.value == pytest.approx(effect, abs=2e-3)  # jitter ±0.002
    assert r.swap.primary.contains(effect)
    assert r.swap.pairs == 10 and r.swap.claim
    words = ex.context(r)
    winner = SWAPPED if effect > 0 else ORIGINAL
    assert f"{winner} is better" in words["answer"]
    assert f"by {'+' if effect > 0 else '-'}{r.swap.quantity.text(r.swap.primary)[1:]}" \
        in words["answer"]
    assert f"the order of the rates matters: {winner} wins" in words["takeaway"]


def test_no_planted_swap_effect_gives_no_claim_with_its_resolution():
    r = run()
    assert not r.swap.claim and r.swap.direction == 0
    assert r.swap.primary.contains(0.0)
    answer = ex.context(r)["answer"]
    assert "no detectable difference at 10 seeds" in answer
    assert "would likely be missed" in answer


def test_settings_against_no_dropout_form_a_holm_family_with_the_sign_of_the_effect():
    r = run(none_effect=-0.03)  # every dropout setting beats no dropout by 3 points
    assert set(r.against_none) == {f"{c} − {NONE}" for c in
                                   ["p1=0,p2=0.5", "p1=0.5,p2=0", "p1=0.5,p2=0.5",
                                    ORIGINAL, SWAPPED]}
    for c in r.against_none.values():
        assert c.primary.value == pytest.approx(0.03, abs=4e-3) and c.direction == 1
    levels = sorted(c.primary.level for c in r.against_none.values())
    assert levels == pytest.approx([1 - 0.05 / k for k in (1, 2, 3, 4, 5)])  # Holm's steps
    assert len(r.better) == 5 and not r.worse
    assert "after Holm correction 5 beat no dropout;" in ex.context(r)["takeaway"]


def test_a_diverged_seed_leaves_the_primary_contrast_and_is_counted():
    r = run(swap_effect=0.01, diverged={(SWAPPED, 3): 2})
    assert r.swap.pairs == 9
    assert (r.swap.unstable_a, r.swap.runs_a, r.swap.unstable_b) == (1, 10, 0)
    assert "1 of 10" in r.swap.instability()
    row = next(t for t in r.table if t.condition == SWAPPED)
    assert (row.runs, row.unstable, row.n("endpoint")) == (10, 1, 9)


def test_a_nan_endpoint_leaves_the_pair_out():
    r = run(swap_effect=0.01, nan=(ORIGINAL, 5))
    assert r.swap.pairs == 9 and r.swap.claim


def test_a_single_surviving_seed_gives_no_verdict():
    dead = {(SWAPPED, s): 1 for s in SEEDS[1:]}
    r = run(swap_effect=0.05, diverged=dead)
    assert r.swap.pairs == 1 and not r.swap.tested and not r.swap.claim
    assert "no verdict: 1 seed pair stable in both arms, at least 3 needed" in \
        ex.context(r)["answer"]


def test_the_cell_picked_is_the_best_on_validation():
    r = run(swap_effect=0.02)
    assert r.selected == SWAPPED
    assert r.selected_val == pytest.approx(0.87, abs=0.01)


def test_one_layer_contrast_compares_first_layer_with_second():
    r = run()
    assert list(r.one_layer) == [0.5]
    assert r.one_layer[0.5].label == "p1=0.5,p2=0 − p1=0,p2=0.5"


def test_the_conditions_are_the_grid_plus_the_swap_pair_with_saved_weights():
    cfg = syn.config(experiments={"layer_rates": GRID})
    conds = ex.conditions(cfg)
    assert [c.name for c in conds] == [NONE, "p1=0,p2=0.5", "p1=0.5,p2=0", "p1=0.5,p2=0.5",
                                       ORIGINAL, SWAPPED]
    assert conds[4].rates == (0.2, 0.5) and conds[5].rates == (0.5, 0.2)
    assert dict(conds[5].factors) == {"p1": 0.5, "p2": 0.2}
    assert all(c.save_weights and c.experiment == "layer_rates" for c in conds)
    assert {c.lr for c in conds} == {cfg["training"]["lr"]}
    in_grid = dict(GRID, swap=[0.0, 0.5])  # the swap pair already in the grid: not repeated
    assert len(ex.rate_pairs(in_grid)) == 4


def test_a_grid_without_the_no_dropout_cell_has_no_family():
    r = run(grid={"p1": [0.2, 0.5], "p2": [0.5], "swap": [0.2, 0.5]})
    assert r.against_none == {} and r.better == [] and r.worse == []
    assert r.one_layer == {}  # no (p, 0) and (0, p) cells
    assert ex.context(r)["takeaway"].startswith("The grid has no (0, 0) cell, so no setting is "
                                                "compared with no dropout")


def test_no_one_layer_contrast_without_dropout_in_the_grid():
    r = run(grid={"p1": [0.0], "p2": [0.0, 0.5], "swap": [0.2, 0.5]})
    assert r.one_layer == {}


@pytest.mark.parametrize("effect, word", [(0.02, "cheaper"), (-0.02, "costlier")])
def test_dropout_on_the_first_layer_against_the_second(effect, word):
    r = run(heavy_effect=effect)
    c = r.one_layer[0.5]
    assert c.claim and c.primary.value == pytest.approx(effect, abs=2e-3)
    assert (f"dropout on one layer only: at p = 0.5 it is {word} on the first layer than on "
            f"the second ({c.difference()}, over {c.pairs} seeds)"
            ) in ex.context(r)["takeaway"]
    assert "heavy dropout" not in ex.context(r)["takeaway"]  # the one rate tested, by name


def test_the_confidence_level_comes_from_the_config():
    r = run(confidence=0.9)
    assert r.swap.primary.level == pytest.approx(0.9)
    assert r.swap_last.primary.level == pytest.approx(0.9)
    assert r.one_layer[0.5].primary.level == pytest.approx(0.9)
    assert max(c.primary.level for c in r.against_none.values()) == pytest.approx(1 - 0.1 / 5)


def test_the_last_epoch_swap_is_its_own_contrast():
    r = run(last_effect=0.03)
    assert r.swap_last.label == r.swap.label
    assert r.swap_last.primary.value == pytest.approx(0.03, abs=2e-3)
    assert r.swap.primary.value == pytest.approx(0.01, abs=2e-3)  # 0.03 over 1 of 3 epochs
    assert ex.context(r)["swap_last"] == r.swap_last.quantity.text(r.swap_last.primary)


def test_the_words_in_full():
    r = run(swap_effect=0.02)
    w = ex.context(r)
    assert (w["k"], w["seeds"], w["epochs"], w["runs"], w["unstable"]) == (3, 10, 4, 60, 0)
    assert w["p1"] == [0.0, 0.5] and w["p2"] == [0.0, 0.5] and w["n_cells"] == 6
    assert w["selected"] == SWAPPED and w["selected_val"] == f"{100 * r.selected_val:.1f}%"
    sel = next(t for t in w["table"] if t["condition"] == SWAPPED)
    assert w["selected_test"] == sel["endpoint"] and sel["runs"] == 10
    assert len(w["family"]) == 5 and w["family"][0]["contrast"].endswith(f" − {NONE}")
    assert w["swap"]["contrast"] == f"{SWAPPED} − {ORIGINAL}"
    assert w["swap"]["verdict"] == f"{SWAPPED} is better"
    assert w["answer"] == (
        f"Swapping the rates ({SWAPPED} − {ORIGINAL}) changes the test accuracy (mean of the "
        f"last 3 epochs) by {r.swap.quantity.text(r.swap.primary)} over 10 seeds: {SWAPPED} is "
        "better.")
    c = r.one_layer[0.5]
    heavy = (f"dropout on one layer only: at p = 0.5 it is "
             f"{'cheaper' if c.direction > 0 else 'costlier'} on the first layer than on the "
             f"second ({c.difference()}, over {c.pairs} seeds)" if c.claim else
             f"dropout at p = 0.5 on one layer only, first − second layer: {c.verdict('', '')} "
             f"({c.difference()})")
    assert (len(r.better), len(r.worse)) == (1, 0)
    assert w["takeaway"].startswith(
        "Each dropout setting − no dropout: all 5 contrasts are testable; after Holm correction "
        "1 beat no dropout and 4 show no detectable difference (none larger than ")
    assert w["takeaway"].endswith(
        f" pp would likely be missed); {heavy}; the order of the rates matters: {SWAPPED} "
        "wins.")


# -- issue 22: words with their n, the grid that was run -----------------------------------
DROPOUT_CELLS = ["p1=0,p2=0.5", "p1=0.5,p2=0", "p1=0.5,p2=0.5", ORIGINAL, SWAPPED]


def test_a_family_with_nothing_testable_says_so_and_reads_nothing_from_its_pairs():
    """Finding 4 of issue 22: "0 beat no dropout and 0 do worse" where nothing was testable.
    Issue 31 (referee, 3): the takeaway then read from 2 seed pairs per contrast which side of
    zero each lay on, with their spans, and detailed only the one-sided ones: a number from
    fewer than 3 pairs set against another as a finding (revision 4). It says none is
    testable, and no more."""
    dead = {(c, s): 1 for c in DROPOUT_CELLS for s in (1,)}  # 2 stable pairs of 3 per contrast
    r = run(none_effect=0.05, seeds=[0, 1, 2], diverged=dead)
    assert not any(c.tested for c in r.against_none.values())
    take = ex.context(r)["takeaway"]
    assert take.startswith("Each dropout setting − no dropout: none of the 5 contrasts is "
                           "testable: at most 2 seed pairs stable in both arms, 3 needed;")
    assert "0 beat" not in take and "0 do worse" not in take
    for said in ("What the data show", "below zero", "above zero", "both ways", f" − {NONE}: -"):
        assert said not in take
    assert not hasattr(r, "one_way") and not hasattr(r, "few")


def test_a_primary_verdict_the_robustness_line_does_not_support_is_said():
    """Ten seeds: the swap helps by 1 point on the 7 stable pairs, but the 3 unstable
    seeds' values (kept in the robustness line) pull the median the other way."""
    conds = {ex.rates_name(a, b): {"rate1": a, "rate2": b, "factor_p1": a, "factor_p2": b}
             for a, b in ex.rate_pairs(GRID)}

    def acc(cond, seed, epoch):
        base = 0.85 + syn.noise(seed, 0.02) + syn.noise(seed, 0.002, cond)
        return base + (0.01 if cond == SWAPPED else 0.0) + (
            -0.3 if cond == SWAPPED and seed in (2, 5, 7, 8, 9) and epoch >= 3 else 0.0)

    cfg = syn.config(experiments={"layer_rates": GRID})
    metrics, runs = syn.run_tables("layer_rates", conds, SEEDS, 4, acc)
    r = ex.analyze(syn.results(cfg, metrics, runs))
    assert r.swap.claim and r.swap.disagrees
    take = ex.context(r)["takeaway"]
    split = [c for c in (r.swap, *r.against_none.values()) if c.disagrees]
    assert r.swap in split and r.swap.pairs == 5 and r.swap.all_pairs == 10
    assert take.endswith("The robustness line over all seeds, at the same level, does not bear "
                         "out " + words.join([f"{c.label} ({c.disagreement()})" for c in split])
                         + ".")
    assert (f"{SWAPPED} − {ORIGINAL} (the primary rests on the 5 seeds stable in both arms "
            "alone, the robustness line on all 10)") in take
    assert "no claim stands alone" not in take  # it is counted as a claim, and stays one
    assert "bear out" not in ex.context(run(swap_effect=0.01))["takeaway"]


def test_what_was_run_is_the_grid_of_the_data_plus_the_swap_pair():
    """Finding 12: the newer edition's 6 conditions (a 2 × 2 grid and the swap pair) were
    described as "every (p1, p2) ... : 6 conditions"."""
    r = run()
    w = ex.context(r)
    assert w["grid"] == [NONE, "p1=0,p2=0.5", "p1=0.5,p2=0", "p1=0.5,p2=0.5"]
    assert w["extra"] == [ORIGINAL, SWAPPED] and w["full_grid"] and w["n_grid"] == 4
    md = syn.section_markdown(ex.EXERCISE, w, {"heatmaps": "figures/ex1.png"})
    assert ("for every (p1, p2) with p1 in\n0.0, 0.5 and p2 in 0.0, 0.5 (4 grid cells), plus\n"
            f"{ORIGINAL} and {SWAPPED} outside the grid (the swap pair): 6\nconditions") in md
    inside = run(grid={"p1": [0.2, 0.5], "p2": [0.2, 0.5], "swap": [0.2, 0.5]})
    w = ex.context(inside)
    assert w["extra"] == [] and w["n_grid"] == 4 and w["n_cells"] == 4
    md = syn.section_markdown(ex.EXERCISE, w, {"heatmaps": "figures/ex1.png"})
    assert "outside the grid" not in md and "(4 grid cells): 4\nconditions" in md


def test_a_grid_cell_that_was_not_run_is_not_described():
    res_grid = {"p1": [0.0, 0.5, 0.8], "p2": [0.0, 0.5], "swap": [0.2, 0.5]}
    conds = {ex.rates_name(a, b): {"rate1": a, "rate2": b, "factor_p1": a, "factor_p2": b}
             for a, b in ex.rate_pairs(res_grid) if a != 0.8}  # the config's 0.8 row not run
    cfg = syn.config(experiments={"layer_rates": res_grid})
    metrics, runs = syn.run_tables("layer_rates", conds, SEEDS, 4,
                                   lambda c, s, e: 0.85 + syn.noise(s, 0.02, c))
    r = ex.analyze(syn.results(cfg, metrics, runs))
    assert r.p1 == [0.0, 0.5] and r.p2 == [0.0, 0.5] and len(r.grid) == 4


def test_the_validation_pick_says_its_mean_is_over_all_runs_and_how_unstable_ones_rank():
    w = ex.context(run(swap_effect=0.02))
    assert w["pick"] == ("the mean over all 10 of its runs; a setting with an unstable run "
                         "ranks below every stable one")
    md = syn.section_markdown(ex.EXERCISE, w, {"heatmaps": "figures/ex1.png"})
    assert f"is {SWAPPED} (validation accuracy" in md and w["pick"] in md.replace("\n", " ")
    dead = {(c, 0): 1 for c in [NONE, *DROPOUT_CELLS]}  # every setting has an unstable run
    w = ex.context(run(diverged=dead))
    assert w["pick"].endswith("no setting has all its runs stable, so the pick ranks unstable "
                              "settings by that mean alone")


def test_no_interval_leaves_the_range_of_a_difference_of_accuracies():
    """Finding 12: at 2 seeds the last epoch's swap printed "+3.10 pp [−128.92, +135.12]"."""
    conds = {ex.rates_name(a, b): {"rate1": a, "rate2": b, "factor_p1": a, "factor_p2": b}
             for a, b in ex.rate_pairs(GRID)}

    def acc(cond, seed, epoch):
        if cond == SWAPPED and epoch == 4:
            return 0.99 if seed == 0 else 0.76  # +14 and −9 points on the last epoch
        return 0.85

    cfg = syn.config(experiments={"layer_rates": GRID})
    metrics, runs = syn.run_tables("layer_rates", conds, [0, 1], 4, acc)
    r = ex.analyze(syn.results(cfg, metrics, runs))
    e = r.swap_last.primary
    assert e.n == 2 and e.lo == -1.0 and e.hi == 1.0  # the t-interval is [−1.44, +1.49]
    assert ex.context(r)["swap_last"] == "+2.50 pp [-100.00, +100.00]"
    for c in (r.swap, *r.one_layer.values(), *r.against_none.values()):
        assert -1.0 <= c.primary.lo <= c.primary.hi <= 1.0


# -- issue 31: a claim at one rate rests on the family of rates it is one of -----------------
FULL = {"p1": [0.0, 0.2, 0.5, 0.8], "p2": [0.0, 0.2, 0.5, 0.8], "swap": [0.2, 0.5]}


def test_one_layer_dropout_is_a_holm_family_over_the_grid_s_rates():
    """Issue 31, finding 4: the takeaway called (0.8, 0) − (0, 0.8) "costlier on the first
    layer (-5.11 pp [-8.62, -1.61])", one of three one-layer rates tested alone, p = 0.024
    (Holm over the three: no claim). Planted: that difference on 3 seeds, p between 0.05/3 and
    0.05, the other two rates without one."""
    spread = {0: 0.0137, 1: 0.0, 2: -0.0137}
    quiet = {0: 0.01, 1: -0.01, 2: 0.0}  # the other two rates: pairs both ways
    effects = {"p1=0.8,p2=0": {s: -0.05 + d for s, d in spread.items()},
               "p1=0.2,p2=0": quiet, "p1=0.5,p2=0": quiet}
    r = run(seeds=[0, 1, 2], grid=FULL, effects=effects)
    assert list(r.one_layer) == [0.2, 0.5, 0.8]
    c = r.one_layer[0.8]
    alone = compare_one(c.label, Sample.of(_ends([0, 1, 2], FULL, effects), "p1=0.8,p2=0",
                                           "p1=0,p2=0.8"))
    assert 0.05 / 3 < alone.primary.p < 0.05 and alone.claim  # alone, it would be a claim
    assert not c.claim and c.primary.level == pytest.approx(1 - 0.05 / 3)
    take = ex.context(r)["takeaway"]
    assert "than on the second" not in take  # no rate is called cheaper or costlier
    assert ("dropout on one layer only, first − second layer, at p = 0.2, 0.5 and 0.8 (one Holm "
            "family): all 3 contrasts are testable; after Holm correction all 3 show no "
            "detectable difference") in take
    md = syn.section_markdown(ex.EXERCISE, ex.context(r), {"heatmaps": "figures/ex1.png"})
    assert f"| {c.label} | {c.quantity.text(c.primary)} | 3 | 98.33% |" in md


def test_a_one_layer_claim_that_survives_the_family_is_said_with_its_rate():
    r = run(grid=FULL, effects={"p1=0.8,p2=0": {s: -0.05 for s in SEEDS}})
    c = r.one_layer[0.8]
    assert c.claim and c.direction < 0
    assert [p for p, x in r.one_layer.items() if x.claim] == [0.8]
    assert (f"(at p = 0.8 it is costlier on the first layer than on the second "
            f"({c.difference()}, over 10 seeds))") in ex.context(r)["takeaway"]


def _ends(seeds, grid, effects):
    conds = {ex.rates_name(a, b): {"rate1": a, "rate2": b, "factor_p1": a, "factor_p2": b}
             for a, b in ex.rate_pairs(grid)}

    def acc(cond, seed, epoch):
        return (0.85 + syn.noise(seed, 0.02) + syn.noise(seed, 0.002, cond)
                + effects.get(cond, {}).get(seed, 0.0))

    cfg = syn.config(experiments={"layer_rates": grid})
    metrics, runs = syn.run_tables("layer_rates", conds, seeds, 4, acc)
    return syn.results(cfg, metrics, runs).ends("layer_rates")


def test_a_grid_smaller_than_the_protocol_s_is_said_as_a_departure():
    """Issue 31, finding 7 (more of its kind): the quick preset's newer edition runs the grid
    {0, 0.5}², a part of the protocol's {0, 0.2, 0.5, 0.8}², without saying so."""
    words = ex.context(run())
    assert words["departure"] == (
        "This study (preset full) departs from the protocol's grid here: it runs p1 ∈ {0, 0.5} "
        "× p2 ∈ {0, 0.5}, not {0, 0.2, 0.5, 0.8}²; the rates it lacks are not compared.")
    assert syn.in_section(ex.EXERCISE, words, words["departure"], {"heatmaps": "figures/ex1.png"})
    full = ex.context(run(grid=FULL, seeds=[0, 1, 2]))
    assert full["departure"] == ""


def _grid_ends(diverged=None, seeds=(0, 1, 2)):
    conds = {ex.rates_name(a, b): {"rate1": a, "rate2": b, "factor_p1": a, "factor_p2": b}
             for a, b in ex.rate_pairs(GRID)}
    cfg = syn.config(experiments={"layer_rates": GRID})
    metrics, runs = syn.run_tables("layer_rates", conds, list(seeds), 4,
                                   lambda c, s, e: 0.85 + syn.noise(s, 0.02), diverged)
    return syn.results(cfg, metrics, runs).ends("layer_rates")


def test_figure_2_says_what_a_cell_averages_from_its_stable_runs():
    """Referee 4, 4: "mean of 3 seeds" where a cell is the mean of its 2 stable runs."""
    assert ex.averaged_over(_grid_ends()) == "mean of 3 seeds"
    ends = _grid_ends(diverged={(NONE, 1): 2})
    assert int(ends.loc[ends["condition"] == NONE, "stable"].sum()) == 2
    assert ex.averaged_over(ends) == "mean of its stable runs (2–3)"
    # referee read 8: the cell of 2 stable runs is marked in the grid, the others not
    grid, marks = ex.cells(ends[ends["stable"]], "endpoint", 3)
    stable = ends[ends["stable"] & ends["condition"].eq(NONE)]
    assert marks.loc[0.0, 0.0] == f"{100 * stable['endpoint'].mean():.1f}*"
    assert grid.loc[0.0, 0.0] == pytest.approx(100 * stable["endpoint"].mean())
    assert (marks.drop(index=0.0).map(lambda t: "*" not in t)).all().all()
    _, clean = ex.cells(_grid_ends().query("stable"), "endpoint", 3)
    assert not clean.map(lambda t: t.endswith("*")).any().any()


def test_the_figure_is_drawn_legibly(tmp_path):
    """Referee read 3 (more of its kind): the two heatmaps' titles ran into each other and
    into the first panel's label."""
    from dropout_study import plots

    conds = {ex.rates_name(a, b): {"rate1": a, "rate2": b, "factor_p1": a, "factor_p2": b}
             for a, b in ex.rate_pairs(GRID)}
    metrics, runs = syn.run_tables("layer_rates", conds, SEEDS, 4,
                                   lambda c, s, e: 0.85 + syn.noise(s, 0.02, c))
    res = syn.results(syn.config(experiments={"layer_rates": GRID}), metrics, runs)
    out = ex.draw(res, ex.analyze(res), tmp_path)
    assert out["heatmaps"].exists()
    assert plots.OVERLAPS[str(out["heatmaps"])] == []
