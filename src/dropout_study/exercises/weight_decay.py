"""Exercise 5: dropout and weight decay, alone and together.

Trains the factorial dropout levels × weight decay λ (decay on the weight matrices only, not
the biases; λ = 0 and no dropout included), the same seeds in every cell. Reports each method
alone at its best, both together at their best — every "best", and which single method is the
better one, picked on the validation split only (``val_endpoint``), never on test — against no
regularisation and against the better single (a Holm family); and the interaction contrast
Δboth − (Δdropout + Δdecay) = (both + none) − (dropout + decay), paired by seed over the seeds
stable in all four cells, which decides the words:

- super-additive / diminishing / cancelling only when its interval excludes zero (diminishing
  and cancelling told apart by "both − none" and "both − better single");
- uninformative where the interaction is not detected and a single method (dropout or decay
  alone) has no detectable effect of its own: "no interaction" then says nothing;
- additive only when the interval supports it: no detectable interaction, both single effects
  detected, and the whole interval inside ± half the smaller single effect;
- otherwise "no detectable interaction" with the design's resolution.

Beside accuracy: the first layer's weight norm of each picked cell against no regularisation, a
ratio of positive quantities (geometric mean of the per-seed ratios, log-scale interval), each
a contrast with its n and resolution, Holm-corrected over the three (measured, not shown to be
the mechanism).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .. import presets, stats, words
from ..contrast import MIN_PAIRS, Contrast, Ratio, Sample, compare, compare_one
from ..contrast_words import holm_family
from ..errors import ConfigError
from ..experiments import base_condition, rates_name
from ..selection import grid_end, validation_ranking
from ..spec import Condition
from ..stats import Estimate
from .base import Exercise, GlanceWords
from .common import (
    ConditionRow,
    accuracy,
    baseline_caveat,
    bounded,
    bounded_one,
    design,
    nonnegative,
    rows_words,
    summarize,
)

if TYPE_CHECKING:  # annotations only: Results.load reads the plan, which reads the registry
    from ..results import Results

EXPERIMENT = "weight_decay"
COLUMNS = [accuracy("endpoint"), accuracy("val_endpoint"), nonnegative("weight_norm1"),
           nonnegative("weight_norm2")]
MIN_DECAYS = 5  # STUDY.md: weight decay over at least 5 values including 0
INTERACTION = "Δboth − (Δdropout + Δdecay)"
ALONE = {"dropout": "dropout alone", "decay": "decay alone", "both": "both"}
ROLES = {"none": "none", "dropout": "dropout alone (best)", "decay": "decay alone (best)",
         "both": "both (best)"}


def conditions(cfg: dict) -> list[Condition]:
    """Dropout levels × weight decay (on weights only), same seeds in every cell."""
    e = cfg["experiments"][EXPERIMENT]
    return [base_condition(cfg, EXPERIMENT, name=f"{rates_name(*r)},wd={wd:g}",
                           rates=tuple(r), weight_decay=float(wd),
                           factors={"dropout": rates_name(*r), "wd": float(wd)})
            for r in e["rates"] for wd in e["decay"]]


@dataclass(frozen=True)
class Result:
    design: dict
    levels: list[str]
    decays: list[float]
    table: list[ConditionRow]
    picked: dict[str, str]  # role (none, dropout, decay, both) -> cell, on validation
    val: dict[str, float]  # role -> the picked cell's mean validation accuracy
    better_single: str  # "dropout" or "decay": the higher validation accuracy
    effects: dict[str, Contrast]  # each picked cell − none, both − better single (Holm)
    interaction: Contrast  # (both + none) − (dropout + decay)
    none_norm: Estimate  # ‖W1‖ without regularisation
    norm_ratio: dict[str, Estimate]  # role -> ‖W1‖ of its cell / ‖W1‖ of none, paired
    norms: dict[str, Contrast]  # role -> the same as a contrast on the log scale (n, verdict;
    # Holm over the three roles)
    selection_note: str = ""  # a preset's smaller validation split, where it picks
    picked_decay: dict[str, float] = field(default_factory=dict)  # decay, both -> their λ
    caveat: tuple[str, str] = ("", "")  # where lr makes no regularisation fail: section, row

    def effect(self, role: str) -> Contrast:
        return self.effects[f"{ALONE[role]} − none"]

    @property
    def versus_single(self) -> Contrast:
        return self.effects[f"both − {self.better_single} alone"]


def pick(cells: pd.DataFrame, mask: pd.Series) -> str:
    """The cell ranked first on validation among ``mask`` (never test): stable cells before
    any with an unstable run, then by mean validation accuracy over all runs."""
    return str(cells[mask].sort_values(["stable", "val"], ascending=[False, False],
                                       kind="stable").index[0])


def interaction_sample(ends: pd.DataFrame, picked: dict[str, str]) -> Sample:
    """a = both + none, b = dropout + decay per seed; stable only where all four runs are (one
    stability for both sums: ``shared``, so no rate difference sets a seed against itself)."""
    v = {r: ends[ends["condition"] == c].set_index("seed") for r, c in picked.items()}
    ok = v["both"]["stable"] & v["none"]["stable"] & v["dropout"]["stable"] \
        & v["decay"]["stable"]
    return Sample(v["both"]["endpoint"] + v["none"]["endpoint"],
                  v["dropout"]["endpoint"] + v["decay"]["endpoint"], ok, ok, shared=True)


def norm_ratio(ends: pd.DataFrame, cell: str, none: str, level: float) -> Estimate:
    """‖W1‖ of ``cell`` over ‖W1‖ of ``none``, paired over the seeds stable in both."""
    df = Sample.of(ends, cell, none, "weight_norm1").aligned()
    both = df[df["both"]]
    return stats.log_ratio(both["a"], both["b"], level)


NORM = Ratio(what="first-layer weight norm")


def norm_sample(ends: pd.DataFrame, cell: str, none: str) -> Sample:
    """‖W1‖ of ``cell`` against ‖W1‖ of ``none`` by seed, on the log scale."""
    s = Sample.of(ends, cell, none, "weight_norm1")
    return Sample(np.log(s.a.where(s.a > 0)), np.log(s.b.where(s.b > 0)), s.stable_a,
                  s.stable_b, s.collapse_a, s.collapse_b)


def norm_contrasts(ends: pd.DataFrame, picked: dict[str, str], level: float
                   ) -> dict[str, Contrast]:
    """Per role (dropout, decay, both): ‖W1‖ of its picked cell / ‖W1‖ of none, each a contrast
    on the log scale with its n, verdict and resolution, Holm-corrected over the three (a
    sentence that calls one a change rests on the corrected interval)."""
    none = picked["none"]
    family = compare({f"{picked[r]} / {none}": norm_sample(ends, picked[r], none) for r in ALONE},
                     level, NORM)
    return {r: family[f"{picked[r]} / {none}"] for r in ALONE}


def uninformative(effects: dict[str, Contrast], interaction: Contrast) -> str:
    """Why the interaction says nothing, or "": a single method (dropout or decay alone) with
    no detectable effect of its own on test accuracy (STUDY.md, "Words"). This holds whether
    or not the interaction's interval excludes zero: additive, diminishing and cancelling all
    presuppose two single effects to add."""
    if not interaction.tested:
        return ""
    quiet = [(role, effects[f"{ALONE[role]} − none"]) for role in ("dropout", "decay")
             if not effects[f"{ALONE[role]} − none"].claim]
    if not quiet:
        return ""
    said = words.join([f"{ALONE[role]} − none is {c.quantity.text(c.primary)} over "
                       f"{words.seeds(c.pairs)} ({c.verdict('', '')})" for role, c in quiet])
    return (f"the interaction is uninformative: {said}, so with a factor that has no detectable "
            "effect of its own the interaction contrast cannot say whether the effects add, "
            "diminish or cancel")


def informed(interaction: Contrast, why: str) -> Contrast:
    """The interaction as the report uses it: an uninformative one carries no claim (its
    number is still shown, with why it says nothing)."""
    return replace(interaction, uninformative=why, claim=interaction.claim and not why)


def analyze(res: Results) -> Result:
    lvl = res.level
    ends = res.ends(EXPERIMENT)
    ok = ends[ends["stable"]]
    cells = (ends.groupby("condition")
             .agg(dropout=("factor_dropout", "first"), wd=("factor_wd", "first"),
                  rate1=("rate1", "first"), rate2=("rate2", "first"))
             .join(validation_ranking(ends)[["val", "stable"]]))
    off = cells["rate1"].eq(0) & cells["rate2"].eq(0)
    nodecay = cells["wd"].eq(0)
    picked = {"none": pick(cells, off & nodecay), "dropout": pick(cells, ~off & nodecay),
              "decay": pick(cells, off & ~nodecay), "both": pick(cells, ~off & ~nodecay)}
    val = {r: float(cells.loc[c, "val"]) for r, c in picked.items()}
    better = "dropout" if val["dropout"] >= val["decay"] else "decay"
    none = picked["none"]
    family = {f"{ALONE[r]} − none": Sample.of(ends, picked[r], none) for r in ALONE}
    family[f"both − {better} alone"] = Sample.of(ends, picked["both"], picked[better])
    order = list(cells.sort_values(["rate1", "rate2", "wd"]).index)
    effects = bounded(compare(family, lvl))
    # (both + none) − (dropout + decay): a difference of two sums of two accuracies
    interaction = bounded_one(compare_one(INTERACTION, interaction_sample(ends, picked), lvl),
                              2.0)
    return Result(
        design=design(ends, res.k), levels=sorted(cells["dropout"].unique()),
        caveat=baseline_caveat(ends, design(ends, res.k)["epochs"]),
        decays=sorted(float(x) for x in cells["wd"].unique()),
        table=summarize(ends, order, COLUMNS, lvl), picked=picked, val=val,
        better_single=better, effects=effects,
        interaction=informed(interaction, uninformative(effects, interaction)),
        none_norm=COLUMNS[2].summarize(ok.loc[ok["condition"] == none, "weight_norm1"], lvl),
        picked_decay={r: float(cells.loc[picked[r], "wd"]) for r in ("decay", "both")},
        norm_ratio={r: norm_ratio(ends, picked[r], none, lvl)
                    for r in ALONE},
        norms=norm_contrasts(ends, picked, lvl),
        selection_note=presets.selection_departure(res.cfg))


# -- words -----------------------------------------------------------------------------------
def additive(r: Result) -> bool:
    """No detectable interaction, both single effects detected, and the interval excludes any
    interaction as large as half the smaller of them."""
    c, d1, d2 = r.interaction, r.effect("dropout"), r.effect("decay")
    if not (c.tested and not c.claim and d1.claim and d2.claim):
        return False
    margin = 0.5 * min(abs(d1.primary.value), abs(d2.primary.value))
    return -margin < c.primary.lo and c.primary.hi < margin


def kind(r: Result) -> str:
    c = r.interaction
    if not c.tested:
        return (f"no verdict: {c.pairs} seed{'s' if c.pairs != 1 else ''} stable in all four "
                f"cells, at least {MIN_PAIRS} needed")
    if c.uninformative:
        return f"{c.uninformative} ({c.difference()} over {words.seeds(c.pairs)})"
    if additive(r):
        return (f"additive: no detectable interaction at {words.seeds(c.pairs)}, and none as "
                "large as half the smaller single effect fits the interval")
    if not c.claim:
        return f"no detectable interaction at {words.seeds(c.pairs)}{c.resolution()}"
    if c.direction == 1:
        return "super-additive: together they do more than the sum of their effects"
    both, single, name = r.effect("both"), r.versus_single, r.better_single
    if both.direction < 0:
        return "cancelling: together they do worse than neither"
    if both.direction == 0:
        return (f"cancelling: together not detectably better than neither "
                f"({both.difference()} over {words.seeds(both.pairs)}{both.resolution()})")
    if single.direction < 0:
        return (f"diminishing: together better than neither, but worse than {name} alone")
    if single.direction > 0:
        return "diminishing returns: together better than either, but less than the sum"
    return (f"diminishing: together better than neither, but less than the sum and not "
            f"detectably better than {name} alone")


def norm_change(c: Contrast) -> str:
    """What a method does to the weight norm, with its n and the design's resolution."""
    where = f"{words.ratio(c.primary.mapped(math.exp), 3)} over {words.seeds(c.pairs)}"
    if c.pairs == 0:
        return "has no seed pair stable in both cells to compare it"
    if not c.tested:
        return f"gives no verdict on it ({where}; {c.verdict('', '')})"
    if c.claim:
        return f"{'grows' if c.direction > 0 else 'shrinks'} it ({where})"
    return f"does not detectably change it ({where}{c.resolution()})"


def _takeaway(r: Result) -> str:
    c, n = r.interaction, r.interaction.pairs
    mech = (f"In the first layer's weight norm (Frobenius; measured beside accuracy, not shown "
            f"to be the mechanism; none {words.number(r.none_norm, 2)} over "
            f"{r.none_norm.n} stable run{'s' if r.none_norm.n != 1 else ''}): paired against no "
            f"regularisation (ratio cell / none, {holm_family(r.norms, 'ratios', 'cells')}), "
            f"dropout alone "
            f"{norm_change(r.norms['dropout'])}, decay alone {norm_change(r.norms['decay'])}, "
            f"both together {norm_change(r.norms['both'])}. ")
    if not c.tested:
        return mech + f"On accuracy, the interaction gets {kind(r)}."
    if c.uninformative:
        return mech + f"On accuracy, {c.uninformative} ({c.difference()})."
    if c.direction:
        return mech + f"On accuracy, {kind(r)} ({c.difference()})."
    if additive(r):
        return mech + (f"On accuracy their effects add up: {c.difference()}, an interval "
                       "inside half the smaller single effect.")
    return mech + (f"On accuracy, no detectable interaction at {words.seeds(n)}"
                   f"{c.resolution()}; these seeds cannot tell the sum of the two effects from "
                   "their joint effect.")


def interaction_row(c: Contrast) -> dict:
    """The interaction's table row; an uninformative one says so, not "no difference"."""
    row = c.row("together more than the sum", "together less than the sum")
    if c.uninformative:
        row["verdict"] = ("uninformative (no claim): a single method has no detectable effect "
                          "of its own")
    return row


def decay_ends(r: Result) -> str:
    """The picks (decay alone, both) whose λ is an end of the decays tried, in a sentence
    (referee read 8); "" where each lies inside them."""
    tried = [x for x in r.decays if x > 0]
    ends = [f"{ROLES[role].removesuffix(' (best)')} at λ = {lam:g} (the {end} it tried)"
            for role, lam in r.picked_decay.items() if (end := grid_end(tried, lam))]
    if not ends:
        return ""
    return (f"Picked at an end of the decays tried: {words.join(ends)}; a better decay beyond "
            "those tried is not excluded, and the comparisons stand at the decays picked.")


def few_decays(decays: list[float]) -> str:
    """A sentence when the factorial runs fewer decay values than the protocol asks for."""
    if len(decays) >= MIN_DECAYS:
        return ""
    return (f"This preset runs {len(decays)} decay values, fewer than the {MIN_DECAYS} "
            "(including 0) the protocol asks for: the best decay is picked from a coarse grid.")


def _apart(r: Result) -> int:
    """Decimals that print the two single methods' validation scores apart (one at least): the
    better one is picked by them (referee, full study: "dropout alone 86.9%, decay alone
    86.9%")."""
    a, b = (100 * r.val[k] for k in ("dropout", "decay"))
    return next((d for d in range(1, 4) if f"{a:.{d}f}" != f"{b:.{d}f}"), 4)


def context(r: Result) -> dict:
    c = r.interaction
    answer = (f"Interaction contrast {INTERACTION} = {c.quantity.text(c.primary)} "
              f"({words.seeds(c.pairs)} stable in all four cells): {kind(r)}.")
    roles = {cell: ROLES[role] for role, cell in r.picked.items()}
    table = rows_words(r.table, COLUMNS)
    for row in table:
        row["role"] = roles.get(row["condition"], "")
    return {**r.design, "levels": r.levels, "decays": [f"{x:g}" for x in r.decays],
            "table": table, "better_single": r.better_single,
            "val": {k: f"{100 * v:.{_apart(r)}f}%" for k, v in r.val.items()},
            "effects": [e.row("higher", "lower") for e in r.effects.values()],
            "holm": holm_family(r.effects),
            "interaction": interaction_row(c),
            "few_decays": " ".join(x for x in (few_decays(r.decays), decay_ends(r),
                                               r.selection_note) if x),
            "interaction_text": c.quantity.text(c.primary), "kind": kind(r),
            "answer": answer, "takeaway": _takeaway(r), "caveat": r.caveat[0],
            "glance_words": {"after": r.caveat[1]} if r.caveat[1] else None}


def draw(res: Results, r: Result, out: Path) -> dict[str, Path]:  # pragma: no mutate block
    from ..plots import lines_with_bands, panels, save, zero_on_log_x

    ends = res.ends(EXPERIMENT).copy()
    positive = ends.loc[ends["factor_wd"] > 0, "factor_wd"]
    floor = positive.min() / 10 if len(positive) else 1e-6
    ends["wd_plot"] = ends["factor_wd"].where(ends["factor_wd"] > 0, floor)
    xlabel = "weight decay λ (log scale)"
    fig, axes = panels(2, figsize=(12, 4.2))
    lines_with_bands(axes[0], ends, "wd_plot", "factor_dropout", "endpoint", res.level,
                     xlabel, "test accuracy (%)", 100, bounds=(0.0, 1.0))
    lines_with_bands(axes[1], ends, "wd_plot", "factor_dropout", "weight_norm1", res.level,
                     xlabel, "‖W1‖ (Frobenius), final",
                     bounds=(0.0, float("inf")))
    row = {t.condition: t for t in r.table}
    marks = {}  # the validation picks, as the analysis made them, by where they are drawn
    for role, cell in r.picked.items():
        x = ends.loc[ends["condition"] == cell, "wd_plot"].iloc[0]
        marks.setdefault(x, []).append((100 * row[cell].values["endpoint"].value, role))
    for x, points in marks.items():
        # picks at one decay (none and dropout alone share λ = 0): the higher one labelled
        # above its star, the next below, any other to the right, so no label covers another
        for i, (y, role) in enumerate(sorted(points, reverse=True)):
            axes[0].plot(x, y, "k*", ms=10, zorder=5)
            axes[0].annotate(role, (x, y), textcoords="offset points", fontsize=8,
                             xytext=((4, 6), (4, -14), (10, -4))[min(i, 2)])
    for ax in axes:
        zero_on_log_x(ax, floor, positive)
    return {"grid": save(fig, out / "ex5_decay.png")}


def check(cfg: dict) -> None:
    """The factorial needs its no-decay and its no-dropout cells."""
    wd = cfg["experiments"][EXPERIMENT]
    if 0 not in wd.get("decay", []):
        raise ConfigError("config key 'experiments.weight_decay.decay': must include 0 "
                          "(the no-decay cells of the factorial)")
    if [0, 0] not in [list(map(float, r)) for r in wd.get("rates", [])]:
        raise ConfigError("config key 'experiments.weight_decay.rates': must include "
                          "[0, 0] (the no-dropout cells of the factorial)")


EXERCISE = Exercise(
    number=5, key=EXPERIMENT, block=EXPERIMENT, reads=(EXPERIMENT,),
    title="Dropout and weight decay, alone and together",
    analyze=analyze, context=context, draw=draw, trains={EXPERIMENT: conditions},
    apart="an interaction, a difference of two paired differences, in which what the four cells "
          "share cancels",
    check=check, editions=True, headline=lambda r: r.interaction,
    glance=GlanceWords(
        question="Dropout plus weight decay: additive?",
        better="more than additive", worse="less than additive",
        answer_better="Together, dropout and weight decay do more than the sum of their "
                      "separate effects.",
        answer_worse="Together, dropout and weight decay do less than the sum of their "
                     "separate effects (the section says whether they diminish or cancel).",
        answer_none="No interaction detected between dropout and weight decay, each of which "
                    "has a detectable effect of its own."))
