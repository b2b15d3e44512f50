"""Exercise 1: change the dropout rates of the two hidden layers; in particular, swap them.

Trains the reference MLP over the p1 × p2 grid (and the swapped pair if the grid lacks it).
Reports each cell against no dropout (a Holm family), the swap as a paired contrast, and dropout
on one layer only, first layer against second, at every rate of the grid (a Holm family: a
claim at one rate is corrected for the rates it is one of).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from .. import presets, words
from ..contrast import (
    Contrast,
    Sample,
    compare,
    condition_contrast,
)
from ..contrast_words import family_tally, holm_family
from ..experiments import base_condition, rates_name
from ..selection import validation_ranking
from .base import Exercise, GlanceWords
from .common import (
    ConditionRow,
    accuracy,
    baseline_caveat,
    bounded,
    bounded_one,
    design,
    points,
    rows_words,
    summarize,
)

if TYPE_CHECKING:  # annotations only: Results.load reads the plan, which reads the registry
    from ..results import Results

EXPERIMENT = "layer_rates"
PROTOCOL_RATES = (0.0, 0.2, 0.5, 0.8)  # STUDY.md: the grid p1 × p2 over these, on each layer
COLUMNS = [accuracy("endpoint"), accuracy("last"), points("gap")]


def rate_pairs(block: dict) -> list[tuple[float, float]]:
    """The grid p1 × p2, then the swap pair and its mirror if the grid lacks them."""
    pairs = [(float(a), float(b)) for a in block["p1"] for b in block["p2"]]
    a, b = (float(x) for x in block["swap"])
    return pairs + [p for p in ((a, b), (b, a)) if p not in pairs]


def conditions(cfg: dict):
    block = cfg["experiments"][EXPERIMENT]
    return [base_condition(cfg, EXPERIMENT, name=rates_name(p1, p2), rates=(p1, p2),
                           save_weights=True, factors={"p1": p1, "p2": p2})
            for p1, p2 in rate_pairs(block)]


@dataclass(frozen=True)
class Result:
    design: dict
    p1: list[float]
    p2: list[float]
    table: list[ConditionRow]
    selected: str  # picked on the validation split
    selected_val: float
    against_none: dict[str, Contrast]  # each setting − no dropout, a Holm family
    swap: Contrast  # swapped − original
    swap_last: Contrast  # the same on the last epoch alone
    one_layer: dict[float, Contrast]  # rate p -> (p, 0) − (0, p), one Holm family over p
    grid: list[str] = field(default_factory=list)  # the grid cells that were run
    extra: list[str] = field(default_factory=list)  # conditions run outside the grid (swap)
    selected_runs: int = 0  # the runs of the selected setting (its score is over all of them)
    selected_stable: bool = True  # all its runs stable (else no setting had all its runs)
    preset: str = "full"  # the preset that ran it
    selection_note: str = ""  # a preset's smaller validation split, where it picks
    caveat: tuple[str, str] = ("", "")  # where lr makes no dropout fail: section, row

    @property
    def one_layer_by_label(self) -> dict[str, Contrast]:
        return {c.label: c for c in self.one_layer.values()}

    @property
    def better(self) -> list[str]:
        return [k for k, c in self.against_none.items() if c.direction > 0]

    @property
    def worse(self) -> list[str]:
        return [k for k, c in self.against_none.items() if c.direction < 0]


def analyze(res: Results) -> Result:
    block, lvl = res.cfg["experiments"][EXPERIMENT], res.level
    ends = res.ends(EXPERIMENT)
    cells = (ends.groupby("condition")
             .agg(p1=("factor_p1", "first"), p2=("factor_p2", "first")))
    ranking = validation_ranking(ends)
    order = list(cells.sort_values(["p1", "p2"]).index)
    none = rates_name(0.0, 0.0)
    family = ({f"{c} − {none}": Sample.of(ends, c, none) for c in order if c != none}
              if none in order else {})  # a grid without the (0, 0) cell has no baseline
    a, b = (float(x) for x in block["swap"])
    original, swapped = rates_name(a, b), rates_name(b, a)
    present = set(order)
    rates = sorted({float(x) for x in block["p1"]} & {float(x) for x in block["p2"]} - {0.0})
    rates = [p for p in rates if {rates_name(p, 0.0), rates_name(0.0, p)} <= present]
    single = {p: Sample.of(ends, rates_name(p, 0.0), rates_name(0.0, p)) for p in rates}
    one_layer = bounded(compare({_one_label(p): smp for p, smp in single.items()}, lvl))
    grid = [rates_name(float(x), float(y)) for x in block["p1"] for y in block["p2"]
            if rates_name(float(x), float(y)) in present]
    return Result(
        design=design(ends, res.k), caveat=baseline_caveat(ends, design(ends, res.k)["epochs"]),
        p1=sorted({float(x) for x in block["p1"] for y in block["p2"]
                   if rates_name(float(x), float(y)) in present}),
        p2=sorted({float(y) for x in block["p1"] for y in block["p2"]
                   if rates_name(float(x), float(y)) in present}),
        table=summarize(ends, order, COLUMNS, lvl),
        grid=grid, extra=[c for c in order if c not in grid],
        selected_runs=int(ranking["runs"].iloc[0]),
        selected_stable=bool(ranking["stable"].iloc[0]),
        selected=str(ranking.index[0]), selected_val=float(ranking["val"].iloc[0]),
        against_none=bounded(compare(family, lvl)),
        swap=bounded_one(condition_contrast(ends, swapped, original, lvl)),
        swap_last=bounded_one(condition_contrast(ends, swapped, original, lvl, column="last")),
        one_layer={p: one_layer[_one_label(p)] for p in rates},
        preset=res.cfg.get("preset", "full"),
        selection_note=presets.selection_departure(res.cfg))


def _one_label(p: float) -> str:
    return f"{rates_name(p, 0.0)} − {rates_name(0.0, p)}"


def _takeaway(r: Result) -> str:
    parts = [("Each dropout setting − no dropout: "
              + family_tally(r.against_none, "beat no dropout", "do worse"))
             if r.against_none else
             "The grid has no (0, 0) cell, so no setting is compared with no dropout"]
    if r.one_layer:
        parts.append(_one_layer(r))
    if r.swap.claim:
        winner = r.swap.label.split(" − ")[0 if r.swap.direction > 0 else 1]
        parts.append(f"the order of the rates matters: {winner} wins")
    else:
        parts.append(f"the order of the two rates: {r.swap.verdict('', '')}")
    text = "; ".join(parts) + "."
    split = [c for c in (r.swap, *r.one_layer.values(), *r.against_none.values())
             if c.disagrees]
    if split:
        # the claims are counted above; each says why its line can disagree (referee, full
        # study: "no claim stands alone" withdrew two of the 10 it had just counted)
        text += (" The robustness line over all seeds, at the same level, does not bear out "
                 + words.join([f"{c.label} ({c.disagreement()})" for c in split]) + ".")
    return text


def departure(r: Result) -> str:
    """Where the grid that was run is smaller than the protocol's, said where it applies (a
    preset's grid); "" where it covers it."""
    want = set(PROTOCOL_RATES)
    if want <= set(r.p1) and want <= set(r.p2):
        return ""
    grid = ", ".join(f"{p:g}" for p in PROTOCOL_RATES)
    return (f"This study (preset {r.preset}) departs from the protocol's grid here: it runs "
            f"p1 ∈ {{{', '.join(f'{p:g}' for p in r.p1)}}} × p2 ∈ "
            f"{{{', '.join(f'{p:g}' for p in r.p2)}}}, not {{{grid}}}²; the rates it lacks "
            "are not compared" + ("; the full study is the answer." if r.preset != "full"
                                  else "."))


def _one_layer(r: Result) -> str:
    """Dropout on one layer only, first − second layer, at each rate of the grid: one Holm
    family, so that a rate's claim rests on the interval corrected for the rates it is one
    of."""
    def claimed(p: float, c: Contrast) -> str:
        cheaper = "cheaper" if c.direction > 0 else "costlier"
        return (f"at p = {p:g} it is {cheaper} on the first layer than on the second "
                f"({c.difference()}, over {words.seeds(c.pairs)})")

    if len(r.one_layer) == 1:
        [(p, c)] = r.one_layer.items()
        if c.claim:
            return f"dropout on one layer only: {claimed(p, c)}"
        return (f"dropout at p = {p:g} on one layer only, first − second layer: "
                f"{c.verdict('', '')} ({c.difference()})")
    rates = words.join([f"{p:g}" for p in r.one_layer])
    text = (f"dropout on one layer only, first − second layer, at p = {rates} (one Holm family): "
            + family_tally(r.one_layer_by_label, "cheaper on the first layer",
                           "costlier on the first layer"))
    claims = [claimed(p, c) for p, c in r.one_layer.items() if c.claim]
    return text + (f" ({'; '.join(claims)})" if claims else "")


def context(r: Result) -> dict:
    swapped, original = r.swap.label.split(" − ")
    answer = (f"Swapping the rates ({swapped} − {original}) changes the test accuracy (mean of "
              f"the last {r.design['k']} epochs) by {r.swap.quantity.text(r.swap.primary)} over "
              f"{words.seeds(r.swap.pairs)}: "
              + r.swap.verdict(f"{swapped} is better", f"{original} is better") + ".")
    sel = next(row for row in r.table if row.condition == r.selected)
    pick = (f"the mean over all {r.selected_runs} of its runs; a setting with an unstable run "
            "ranks below every stable one" if r.selected_stable else
            f"the mean over all {r.selected_runs} of its runs; no setting has all its runs "
            "stable, so the pick ranks unstable settings by that mean alone")
    return {**r.design, "p1": r.p1, "p2": r.p2, "n_cells": len(r.table),
            "n_grid": len(r.grid), "full_grid": len(r.grid) == len(r.p1) * len(r.p2),
            "grid": r.grid, "extra": r.extra, "pick": pick,
            "table": rows_words(r.table, COLUMNS),
            "selected": r.selected, "selected_val": f"{100 * r.selected_val:.1f}%",
            "selected_test": words.pct(sel.values["endpoint"]),
            "family": [c.row("better than none", "worse than none")
                       for c in r.against_none.values()],
            "swap": r.swap.row(f"{swapped} is better", f"{original} is better"),
            "one_layer": [c.row("cheaper on the first layer", "costlier on the first layer")
                          for c in r.one_layer.values()],
            "swap_last": r.swap_last.quantity.text(r.swap_last.primary),
            "holm": {"family": holm_family(r.against_none),
                     "one_layer": holm_family(r.one_layer_by_label)},
            "departure": " ".join(x for x in (departure(r), r.selection_note) if x),
            "answer": answer, "takeaway": _takeaway(r), "caveat": r.caveat[0],
            "glance_words": {"after": r.caveat[1]} if r.caveat[1] else None}


def averaged_over(ends: pd.DataFrame) -> str:
    """What a heatmap cell averages, from the runs: "mean of 3 seeds" where every cell has all
    its seeds stable, else "mean of its stable runs (2–3)" (the fewest and most over cells)."""
    per_cell = ends.groupby(["factor_p1", "factor_p2"])["stable"].sum().astype(int)
    seeds = int(ends["seed"].nunique())
    lo, hi = int(per_cell.min()), int(per_cell.max())
    if lo == hi == seeds:
        return f"mean of {seeds} seeds"
    return f"mean of its stable runs ({lo}–{hi})" if lo != hi else \
        f"mean of its {lo} stable run{'s' if lo != 1 else ''}"


def cells(stable: pd.DataFrame, col: str, seeds: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Figure 2's p1 × p2 grid of ``col`` (in points) over the stable runs, and each cell's
    label: its value, marked * where it averages fewer stable runs than ``seeds`` (referee
    read 8: a 2-run cell was unmarked)."""
    grid = pd.pivot_table(stable, index="factor_p1", columns="factor_p2", values=col,
                          aggfunc="mean") * 100
    runs = pd.pivot_table(stable, index="factor_p1", columns="factor_p2", values=col,
                          aggfunc="count").reindex_like(grid)
    return grid, (grid.map(lambda v: f"{v:.1f}")
                  + runs.map(lambda n: "*" if n < seeds else ""))


def draw(res: Results, r: Result, out: Path) -> dict[str, Path]:  # pragma: no mutate block
    import seaborn as sns

    from ..plots import panels, save

    ends = res.ends(EXPERIMENT)
    over, seeds = averaged_over(ends), ends["seed"].nunique()
    ends = ends[ends["stable"]]
    fig, axes = panels(2, figsize=(11, 4.6), layout="constrained")
    for ax, col, title, cmap in ((axes[0], "endpoint", "test accuracy (%)", "viridis"),
                                 (axes[1], "gap", "train − test accuracy (pp)", "magma_r")):
        grid, marks = cells(ends, col, seeds)
        sns.heatmap(grid, annot=marks.to_numpy(), fmt="", cmap=cmap, ax=ax,
                    cbar_kws={"label": title})
        ax.set_xlabel("p2 (after hidden layer 2)")
        ax.set_ylabel("p1 (after hidden layer 1)")
        ax.set_title(f"{title}\n{over}")  # two lines: side by side, one would run into the next
    return {"heatmaps": save(fig, out / "ex1_heatmaps.png")}


EXERCISE = Exercise(
    number=1, key=EXPERIMENT, block=EXPERIMENT, reads=(EXPERIMENT,),
    title="Changing and swapping the dropout rates of the two layers",
    analyze=analyze, context=context, draw=draw, trains={EXPERIMENT: conditions},
    editions=True, headline=lambda r: r.swap,
    glance=GlanceWords(
        question="Change the two layers' rates; swap them?",
        better="{a} is better", worse="{b} is better",
        answer_better="The order of the rates matters: {a} beats {b}.",
        answer_worse="The order of the rates matters: {b} beats {a}.",
        answer_none="Swapping the two rates makes no detectable difference to test accuracy."))
