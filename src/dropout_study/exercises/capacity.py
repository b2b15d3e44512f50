"""Exercise 8: with wider hidden layers, is the benefit of dropout larger?

Trains the reference MLP with both hidden layers at each width of ``experiments.capacity``,
without dropout ((0, 0)) and with each dropout pair of its ``rates``. Reports, per width,
dropout − none paired by seed (a Holm family), and the trend: per seed, the slope of that
benefit against log2(width), with its interval over seeds (the same verdict rules). A trend
needs at least ``MIN_LEVELS`` widths (STUDY.md, "Words"): with fewer, no slope is fitted and the
answer is the per-width contrasts alone. The words of a trend follow the per-width contrasts
(a rising difference where dropout loses at every width is a shrinking cost, not a growing
benefit).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .. import presets, words
from ..contrast import Contrast, Quantity, Sample, compare
from ..contrast_words import agreement as compare_settings
from ..contrast_words import holm_family, nulls_resolution, nulls_said
from ..errors import ConfigError
from ..experiments import base_condition, rates_name
from .base import Exercise, GlanceWords
from .common import (
    ConditionRow,
    accuracy,
    baseline_caveat,
    bounded,
    design,
    points,
    rows_words,
    summarize,
)

if TYPE_CHECKING:  # annotations only: Results.load reads the plan, which reads the registry
    from ..results import Results

EXPERIMENT = "capacity"
COLUMNS = [accuracy("endpoint"), accuracy("last"), points("gap")]
SLOPE = Quantity("slope of dropout − none against log2(width)", unit="pp/doubling")
NONE = (0.0, 0.0)
MIN_LEVELS = 3  # a trend needs at least this many widths


def _pairs(block: dict) -> list[tuple[float, float]]:
    return [(float(a), float(b)) for a, b in block["rates"]]


def condition_name(width: int, rates: tuple[float, float]) -> str:
    return f"h={width},{rates_name(*rates)}"


def conditions(cfg: dict):
    """Hidden width x (no dropout, dropout)."""
    e = cfg["experiments"][EXPERIMENT]
    return [base_condition(cfg, EXPERIMENT, name=condition_name(w, r), hidden=int(w),
                           rates=tuple(r), factors={"width": int(w),
                                                    "dropout": "on" if any(r) else "off"})
            for w in e["widths"] for r in e["rates"]]


def check(cfg: dict) -> None:
    """Every width is compared with its own no-dropout run: (0, 0) and a dropout pair."""
    pairs = _pairs(cfg["experiments"][EXPERIMENT])
    if NONE not in pairs:
        raise ConfigError("config key 'experiments.capacity.rates': must include [0, 0] (the "
                          "no-dropout baseline each width's dropout is compared with)")
    if not any(any(p) for p in pairs):
        raise ConfigError("config key 'experiments.capacity.rates': must include a pair with "
                          "dropout (a rate above 0), to compare with [0, 0]")


@dataclass(frozen=True)
class Cell:
    condition: str
    width: int
    setting: str  # its rates, e.g. "p1=0.2,p2=0.5"


@dataclass(frozen=True)
class Result:
    design: dict
    widths: list[int]
    none: str  # the baseline's rates
    settings: list[str]  # the dropout pairs' rates, config order
    cells: list[Cell]
    table: list[ConditionRow]  # per condition, in the order of ``cells``
    benefit: dict[str, Contrast]  # "width w: dropout − none", a Holm family
    benefit_of: dict[tuple[str, int], str]  # (setting, width) -> its key in ``benefit``
    trend: dict[str, Contrast]  # setting -> slope of (dropout − none) per doubling of width
    level: float = 0.95  # the study's (a Holm step moves an interval's level from it)
    preset_departure: str = ""  # where this study runs fewer widths than the full one
    caveat: tuple[str, str] = ("", "")  # where lr makes no dropout fail: section, row


def slopes(samples: dict[int, Sample]) -> Sample:
    """Per seed, the least-squares slope of a − b against log2(width): a seed's slope needs a
    value at every width, and is stable where all that seed's runs are."""
    frames = {w: s.aligned() for w, s in samples.items()}
    x = np.log2(list(frames))
    diff = pd.DataFrame({w: df["a"] - df["b"] for w, df in frames.items()})
    # a seed's run that is missing is not an unstable one: its slope is NaN, and it is counted
    stable = pd.DataFrame({w: df["stable_a"].ne(False) & df["stable_b"].ne(False)
                           for w, df in frames.items()}).ne(False).all(axis=1)
    xc = x - x.mean()
    slope = diff.to_numpy() @ xc / (xc @ xc)  # NaN wherever a width is
    a = pd.Series(slope, index=diff.index)
    return Sample(a, pd.Series(0.0, index=a.index), stable, stable, shared=True)


def analyze(res: Results) -> Result:
    lvl, block = res.level, res.cfg["experiments"][EXPERIMENT]
    ends = res.ends(EXPERIMENT)
    present = set(ends["condition"])
    pairs = _pairs(block)
    none = rates_name(*NONE)
    settings = [rates_name(*p) for p in pairs if any(p)]
    widths = sorted(int(w) for w in block["widths"]
                    if any(condition_name(w, p) in present for p in pairs))
    cells = [Cell(condition_name(w, p), w, rates_name(*p)) for w in widths for p in pairs
             if condition_name(w, p) in present]
    family, keys, per_setting = {}, {}, {s: {} for s in settings}
    for s in settings:
        for w in widths:
            on, off = f"h={w},{s}", f"h={w},{none}"
            if on in present and off in present:
                keys[(s, w)] = f"width {w}: {s} − {none}"
                family[keys[(s, w)]] = per_setting[s][w] = Sample.of(ends, on, off)
    label = {s: f"slope of ({s} − {none}) per doubling of width" for s in settings}
    trend = compare({label[s]: slopes(per_setting[s]) for s in settings
                     if len(per_setting[s]) >= MIN_LEVELS}, lvl, SLOPE)
    caveat = baseline_caveat(ends, design(ends, res.k)["epochs"],
                             f"{none} at each of its {len(widths)} widths")
    return Result(design=design(ends, res.k), widths=widths, none=none, settings=settings,
                  caveat=caveat,
                  cells=cells, table=summarize(ends, [c.condition for c in cells], COLUMNS, lvl),
                  benefit=bounded(compare(family, lvl)), benefit_of=keys,
                  trend={s: trend[label[s]] for s in settings if label[s] in trend},
                  level=lvl, preset_departure=" ".join(x for x in (presets.departure(
                      res.cfg, EXPERIMENT, {
                          "widths": ("widths", f"too few for a trend, which needs at least "
                                     f"{MIN_LEVELS}" if len(widths) < MIN_LEVELS else
                                     "a trend from fewer widths")}),
                      presets.data_departure(res.cfg, "with fewer images a wide network "
                                             "overfits sooner, which is what dropout is "
                                             "said to counter")) if x))


def _widths_where(r: Result, setting: str, sign: int) -> list[str]:
    return [str(w) for w, c in _benefits(r, setting) if c.direction == sign]


def _benefits(r: Result, s: str) -> list[tuple[int, Contrast]]:
    """The setting's contrasts with no dropout, by width."""
    return [(w, r.benefit[r.benefit_of[(s, w)]]) for w in r.widths if (s, w) in r.benefit_of]


def _no_trend(r: Result, s: str) -> str:
    n = len(_benefits(r, s))
    return (f"with {n} width{'s' if n != 1 else ''} compared there is no trend to fit (a trend "
            f"needs at least {MIN_LEVELS})")


def _answer(r: Result, s: str) -> str:
    per_width = "; ".join(f"{w}: {c.quantity.text(c.primary)} over {words.seeds(c.pairs)} "
                          f"({c.verdict('dropout helps', 'dropout hurts')})"
                          for w, c in _benefits(r, s))
    if s not in r.trend:
        head = _no_trend(r, s)
        return (f"{head[0].upper()}{head[1:]}; dropout's effect per width (paired, {s} − "
                f"{r.none}): {per_width}.")
    t = r.trend[s]
    return (f"The slope of dropout − none (paired, {s} − {r.none}) against log₂(width) is "
            f"{t.quantity.text(t.primary)} over {words.seeds(t.pairs)} ("
            + t.verdict("dropout − none rises with width", "dropout − none falls with width")
            + f"); per width: {per_width}.")


def _takeaway(r: Result, s: str) -> str:
    helps, hurts = _widths_where(r, s, 1), _widths_where(r, s, -1)
    untested = [str(w) for w, c in _benefits(r, s) if not c.tested]
    if untested and len(untested) == len(_benefits(r, s)):
        per_width = "per width: no verdict at any width (too few stable seed pairs)"
    else:
        per_width = (f"per width, after Holm correction, {s} beats no dropout at "
                     f"{words.join(helps) or 'no width'} and loses at "
                     f"{words.join(hurts) or 'none'}"
                     + (" of the widths with a verdict" if untested else ""))
        nulls = [str(w) for w, c in _benefits(r, s) if c.tested and not c.claim]
        if nulls and (helps or hurts):  # the nulls' n and resolution, said of them alone
            said = nulls_said(c for _, c in _benefits(r, s))
            per_width += f"; at {words.join(nulls)}: {said}"
        elif nulls:
            per_width += nulls_resolution(c for _, c in _benefits(r, s))
        if untested:
            per_width += (f"; no verdict at {words.join(untested)} (too few stable seed "
                          "pairs)")
    t = r.trend.get(s)
    if t is None:
        head = _no_trend(r, s)
        return f"{head[0].upper()}{head[1:]}; {per_width}."
    if not t.tested:
        head = f"The trend with width gets {t.verdict('', '')}"
    elif t.direction > 0:
        head = ("The paired difference dropout − none rises with the width (the trend's "
                "interval excludes zero)")
        if hurts and not helps:  # a loss at every claimed width: a smaller cost, no benefit
            head += (": dropout costs less test accuracy in wider networks, but it does not "
                     "help at any width")
        elif helps and not hurts:
            head += ": dropout fares better, relative to no dropout, in wider networks"
        elif not helps:
            head += ", although no single width shows a difference after Holm correction"
    elif t.direction < 0:
        head = ("The paired difference dropout − none shrinks as the network widens (the "
                "trend's interval excludes zero)")
        if helps and not hurts:
            head += ": dropout helps less in wider networks"
        elif hurts and not helps:
            head += ": dropout costs more test accuracy in wider networks"
        elif not helps:
            head += ", although no single width shows a difference after Holm correction"
    else:
        head = ("At this training length and number of seeds the width does not detectably "
                f"change what dropout buys{t.resolution()}")
    return f"{head}; {per_width}."


def _width_verdict(c: Contrast) -> str:
    if not c.tested:
        return "no verdict"
    # a null with the smallest effect it would likely have found (referee read 4, 8)
    return c.short_verdict("dropout helps", "dropout hurts")


def instead(r: Result) -> list[Contrast]:
    """Where no trend is fitted, the per-width contrasts the summary row stands on (the forest
    plot draws them, as the row gives them); none where a trend is its headline."""
    if not r.benefit or not r.settings or r.settings[0] in r.trend:
        return []
    return [c for _, c in _benefits(r, r.settings[0])]


def glance_words(r: Result) -> dict | None:
    """The glance row's words where no trend can be fitted: the per-width verdicts the section
    gives, never "not answered" beside a section that answers (None where a trend is fitted
    or nothing is measured)."""
    if not r.benefit or not r.settings or r.settings[0] in r.trend:
        return None
    s = r.settings[0]
    got = _benefits(r, s)
    # each with its n and, where Holm moved it, its interval's level (issue 31, referee 8)
    effect = "; ".join(f"width {w}: {c.summary(r.level)}" for w, c in got)
    verdict = "; ".join(f"width {w}: {_width_verdict(c)}" for w, c in got)
    said = words.join([f"{_width_verdict(c)} at width {w} ({c.quantity.text(c.primary)})"
                       for w, c in got])
    head = _no_trend(r, s)
    return {"label": f"per width: {s} − {r.none}", "effect": effect,
            "verdict": verdict, "claim": any(c.claim for _, c in got),
            "answer": f"{head[0].upper()}{head[1:]}; per width ({s} − {r.none}, Holm): {said}."}


def _row_words(r: Result) -> dict | None:
    """``glance_words`` with what the row says after its answer: the widths beside a trend,
    the unstable-learning-rate caveat."""
    after = " ".join(x for x in (per_width(r), r.caveat[1]) if x)
    return (glance_words(r) or {}) | {"after": after} if after else glance_words(r)


def per_width(r: Result) -> str:
    """Beside a fitted trend, in the summary row, the verdict width by width (full study: a trend
    hid that it hurts at every width; quick: too few pairs is no null); "" without a trend."""
    if not r.settings or r.settings[0] not in r.trend:
        return ""
    by = {1: "dropout helps", -1: "dropout hurts", 0: "no detectable difference"}
    said = [(str(w), by[c.direction] if c.tested else "no verdict")
            for w, c in _benefits(r, r.settings[0])]
    parts = [f"{k} at width{'s' if len(ws) > 1 else ''} {words.join(ws)}"
             for k in (*by.values(), "no verdict") if (ws := [w for w, x in said if x == k])]
    return f"Width by width (Holm-corrected): {'; '.join(parts)}."


def agreement(a: Result, b: Result, setting_a: str, setting_b: str) -> str:
    """What the two settings say, and whether it is the same: the trends where both have one,
    else dropout − none width by width, at the widths both compared."""
    if not (a.settings and b.settings and a.benefit and b.benefit):
        return ""
    sa, sb = a.settings[0], b.settings[0]
    if sa in a.trend and sb in b.trend:
        return compare_settings(a.trend[sa], b.trend[sb], setting_a, setting_b)
    ca, cb = dict(_benefits(a, sa)), dict(_benefits(b, sb))
    common = [w for w in ca if w in cb]
    lacking = words.join([x for x, r, s in ((setting_a, a, sa), (setting_b, b, sb))
                          if s not in r.trend])
    head = (f"No trend is fitted at {lacking} (fewer than {MIN_LEVELS} widths), so the two "
            "settings are compared width by width")
    if not common:
        return f"{head}, but they share no width: they cannot be compared."
    said = {w: compare_settings(ca[w], cb[w], setting_a, setting_b) for w in common}
    return f"{head}. " + " ".join(  # "At width 64, the two ...", not "Width 64: The" (read 10)
        f"At width {w}, {said[w][:1].lower()}{said[w][1:]}" for w in common)


def _trend_words(t: Contrast) -> dict:
    if t.robust is None:
        robust = (f"{t.all_pairs} seeds have a slope, too few for a robustness line "
                  "(at least 8)")
    else:
        robust = (f"over all {t.all_pairs} seeds with a slope: median "
                  f"{t.quantity.text(t.robust)}, P(slope > 0) = {t.p_superior:.2f}"
                  + (f"; this disagrees with the primary verdict "
                     f"({t.disagreement('stable in all its cells')})" if t.disagrees else ""))
    return {"label": t.label, "diff": t.quantity.text(t.primary), "pairs": t.pairs,
            "level": (f"{t.level_text} interval" if t.primary.has_interval else
                      t.level_text),
            "verdict": t.verdict("dropout − none rises with width",
                                 "dropout − none falls with width"),
            "unstable": f"{t.unstable_a} of {t.runs_a}", "robustness": robust}


def context(r: Result) -> dict:
    if not r.benefit:
        nothing = ("No width has both a no-dropout and a dropout run, so dropout's benefit is "
                   "not measured (experiments.capacity.rates needs [0, 0] and a dropout pair).")
        answer = takeaway = nothing
    else:
        answer = " ".join(_answer(r, s) for s in r.settings)
        takeaway = " ".join(_takeaway(r, s) for s in r.settings)
    no_trend = [f"{s}: {_no_trend(r, s)}" for s in r.settings if s not in r.trend]
    return {**r.design, "widths": r.widths, "baseline": r.none, "settings": r.settings,
            "no_trend": no_trend,
            "table": rows_words(r.table, COLUMNS),
            "family": [c.row("dropout helps", "dropout hurts") for c in r.benefit.values()],
            "holm": holm_family(r.benefit), "min_levels": MIN_LEVELS,
            "trends": [_trend_words(t) for t in r.trend.values()],
            "glance_words": _row_words(r),
            "answer": answer, "takeaway": takeaway, "caveat": r.caveat[0],
            "departure": r.preset_departure}


def draw(res: Results, r: Result, out: Path) -> dict[str, Path]:  # pragma: no mutate block
    from ..plots import PALETTE, band, panels, save

    rows = {row.condition: row for row in r.table}
    fig, axes = panels(3, figsize=(16, 4.2))
    for i, s in enumerate([r.none, *r.settings]):
        cells = [c for c in r.cells if c.setting == s]
        xs = [c.width for c in cells]
        for ax, key in ((axes[0], "endpoint"), (axes[1], "gap")):
            e = [rows[c.condition].values[key] for c in cells]
            band(ax, xs, [100 * v.value for v in e], [100 * v.lo for v in e],
                 [100 * v.hi for v in e], "no dropout" if s == r.none else s, PALETTE[i],
                 joined=len(xs) >= MIN_LEVELS)  # fewer widths: no trend, so no line
        if s == r.none:
            continue
        benefits = _benefits(r, s)
        # joined only where a trend is fitted: two widths drawn as a line read as one
        axes[2].plot([w for w, _ in benefits], [100 * c.primary.value for _, c in benefits],
                     ls="-" if s in r.trend and r.trend[s].tested else "none",
                     color=PALETTE[i])  # joined only where the trend has a verdict
        # a contrast with its Holm interval where it was tested; one with too few stable seed
        # pairs (no verdict, outside the family) a hollow point without an interval
        tested = [(w, c.primary) for w, c in benefits if c.tested]
        axes[2].errorbar([w for w, _ in tested], [100 * v.value for _, v in tested],
                         yerr=[[100 * (v.value - v.lo) for _, v in tested],
                               [100 * (v.hi - v.value) for _, v in tested]],
                         fmt="o", capsize=4, color=PALETTE[i], label=s if tested else None)
        untested = [(w, c.primary) for w, c in benefits if not c.tested]
        if untested:
            axes[2].plot([w for w, _ in untested], [100 * v.value for _, v in untested], "o",
                         mfc="white", color=PALETTE[i], label=None if tested else s)
    axes[2].axhline(0, color="grey", lw=1)
    for ax, ylabel in zip(axes, ("test accuracy (%)", "train − test accuracy (pp)",
                                 "dropout − none (pp)"), strict=True):
        ax.set_xscale("log", base=2)
        ax.set_xlabel("hidden width")
        ax.set_ylabel(ylabel)
        ax.legend(fontsize=8)
    return {"capacity": save(fig, out / "ex8_capacity.png")}


EXERCISE = Exercise(
    number=8, key=EXPERIMENT, block=EXPERIMENT, reads=(EXPERIMENT,),
    title="Capacity: is dropout worth more in wider networks?",
    analyze=analyze, context=context, draw=draw, trains={EXPERIMENT: conditions}, check=check,
    editions=True, headline=lambda r: next(iter(r.trend.values()), None), agreement=agreement,
    instead=instead,
    glance=GlanceWords(
        question="Wider layers: is dropout worth more?",
        better="dropout − none rises with width", worse="dropout − none falls with width",
        answer_better="The paired difference dropout − none rises as the hidden layers widen.",
        answer_worse="The paired difference dropout − none falls as the hidden layers widen.",
        answer_none="No detectable trend of dropout − none with the width of the hidden layers.",
        absent=f"no trend to fit: a trend needs at least {MIN_LEVELS} widths, each with a "
               "no-dropout and a dropout run (the section gives each width's contrast)"))
