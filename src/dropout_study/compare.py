"""``dropout-study compare A B``: two studies' headline contrasts side by side.

A re-run of the study (on another device, with another seed offset) is checked against an
earlier one, e.g. the published study: for every exercise and setting that both results
folders answer, each side's headline estimate, and the difference B − A with its interval.
The runs of A and B are not paired with each other, so the difference is one of two
independent estimates: Welch's interval, from each side's standard error and degrees of
freedom (read back from its paired t-interval over n seed pairs, n − 1 degrees of freedom).
A ratio headline (a / b, compared on the log scale) is compared on the log scale too and
printed as the factor B / A. Nothing is corrected for the number of rows.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from scipy import stats as st

from . import words
from .config import edition_config
from .contrast import Contrast, Quantity, Ratio
from .errors import UserError
from .exercises import EXERCISES, NEWER
from .exercises.base import Exercise
from .glance import shown_label
from .results import Results
from .stats import Estimate

log = logging.getLogger(__name__)

# What a results folder holds (results/<preset>/, as the pipeline writes it) and compare reads
REQUIRED = ("config.json", "jobs.json", "metrics.parquet", "runs.parquet", "activations.parquet")
AGREE, DIFFER, NOT_COMPARABLE = "agree", "differ", "not comparable"


def load(folder: Path) -> Results:
    """A study's results folder with the config it was run with; a ``UserError`` names what
    is missing where the folder is not one."""
    if not folder.is_dir():
        raise UserError(f"{folder}: no such folder (a study's results folder, such as "
                        "results/full, was expected)")
    missing = [name for name in REQUIRED if not (folder / name).is_file()]
    if missing:
        raise UserError(f"{folder}: not a results folder: {', '.join(missing)} missing (the "
                        "study writes them to results/<preset>/)")
    try:
        cfg = json.loads((folder / "config.json").read_text())
    except ValueError as exc:
        raise UserError(f"{folder / 'config.json'}: not a JSON config ({exc})") from exc
    return Results.load(folder, cfg)


@dataclass(frozen=True)
class Headline:
    """An exercise's headline contrast at one setting of one study, or why it has none."""

    contrast: Contrast | None
    why: str = ""


def _analysis(ex: Exercise, res: Results) -> tuple[Any, str]:
    """The exercise's analysis of ``res``, or None and why it has none."""
    if not ex.enabled(res.cfg):
        return None, f"disabled (experiments.{ex.block}.enabled is false)"
    absent = [e for e in ex.reads if not res.has(e)]
    if absent:
        return None, f"no results for {', '.join(absent)}"
    try:
        return ex.analyze(res), ""
    except Exception as exc:  # noqa: BLE001 - one failing exercise is a row, not the end
        log.exception("exercise %s: analysis failed", ex.key)
        return None, f"analysis failed: {type(exc).__name__}: {exc}"


def _headline(ex: Exercise, res: Results) -> Headline:
    result, why = _analysis(ex, res)
    if result is None:
        return Headline(None, why)
    c = ex.headline(result) if ex.headline is not None else None
    if c is None:
        return Headline(None, ex.glance.absent if ex.glance else "no headline contrast")
    return Headline(c)


def headlines(res: Results) -> dict[tuple[str, str], Headline]:
    """Every exercise's headline per setting, keyed by (exercise key, setting): "" for an
    exercise with one setting; "older" and, where the study runs the newer edition's setting
    too, "newer" for one that can run at both."""
    newer_cfg = edition_config(res.cfg)
    newer = res.renamed(NEWER, newer_cfg) if newer_cfg is not None else None
    out = {}
    for ex in EXERCISES:
        if not ex.editions:
            out[ex.key, ""] = _headline(ex, res)
            continue
        out[ex.key, "older"] = _headline(ex, res)
        if newer is not None:
            out[ex.key, "newer"] = _headline(ex, newer)
    return out


@dataclass(frozen=True)
class Spread:
    """An estimate with its standard error and degrees of freedom (a t-distribution's)."""

    value: float
    se: float
    df: float
    n: int

    @classmethod
    def of(cls, e: Estimate) -> Spread | None:
        """Read back from a mean's t-interval over n values (n − 1 degrees of freedom) at its
        own level (a Holm-corrected one too): the half-width over t. The wider half is taken,
        as an interval may have been clipped on one side to the range of its quantity (one
        clipped on both sides gives too small an error). None without an interval (fewer
        than 2 values)."""
        if e.n < 2 or not math.isfinite(e.value) or not e.has_interval:
            return None
        half = max(e.value - e.lo, e.hi - e.value)
        return cls(e.value, half / st.t.ppf(0.5 + e.level / 2, e.n - 1), e.n - 1, e.n)

    def interval(self, level: float) -> Estimate:
        """The estimate with its t-interval at ``level``."""
        half = st.t.ppf(0.5 + level / 2, self.df) * self.se if self.se > 0 else 0.0
        return Estimate(self.value, self.value - half, self.value + half, self.n, level)


def difference(a: Spread, b: Spread) -> Spread:
    """B − A of two independent estimates: the standard errors add in quadrature, the degrees
    of freedom are Welch–Satterthwaite's (infinite where neither side has any spread)."""
    var = a.se ** 2 + b.se ** 2
    terms = [s.se ** 4 / s.df for s in (a, b) if s.se > 0]
    df = var ** 2 / sum(terms) if terms else math.inf
    return Spread(b.value - a.value, math.sqrt(var), df, a.n + b.n)


@dataclass(frozen=True)
class Row:
    """One exercise at one setting, compared. Values are on the contrast's own scale, printed
    as its quantity prints them: a difference (e.g. of fractions, × 100 in pp), or a log ratio
    (as a factor)."""

    number: int
    exercise: str
    setting: str
    headline: str  # "a − b", or "a / b" for a ratio
    quantity: Quantity
    a: Estimate | None  # A's headline at the comparison's level (uncorrected)
    b: Estimate | None
    diff: Estimate | None  # B − A with Welch's interval (log B − log A for a ratio)
    df: float  # Welch's degrees of freedom of the difference (NaN: none)
    verdict: str
    why: str = ""

    @property
    def ratio(self) -> bool:
        return isinstance(self.quantity, Ratio)


def _compared(ex: Exercise, setting: str, ha: Headline, hb: Headline, level: float) -> Row:
    """A and B's headlines of one exercise at one setting (at least one of them present)."""
    ca, cb = ha.contrast, hb.contrast
    c = ca if ca is not None else cb
    sa, sb = (Spread.of(x.primary) if x is not None else None for x in (ca, cb))
    # each side at the comparison's level; a headline without an interval as it is
    ea, eb = (s.interval(level) if s is not None else x.primary if x is not None else None
              for s, x in ((sa, ca), (sb, cb)))
    row = Row(ex.number, ex.key, setting, shown_label(c), c.quantity, ea, eb, None, math.nan,
              NOT_COMPARABLE)
    if ca is None or cb is None:
        return replace(row, why=f"A: {ha.why}" if ca is None else f"B: {hb.why}")
    if ca.label != cb.label or ca.quantity != cb.quantity:
        return replace(row, why=f"the headlines differ: A {shown_label(ca)}, "
                                f"B {shown_label(cb)}")
    if sa is None or sb is None:
        lacking = [f"{name} ({words.seeds(x.pairs)} stable in both arms)"
                   for name, s, x in (("A", sa, ca), ("B", sb, cb)) if s is None]
        return replace(row, why="no interval in " + " nor ".join(lacking))
    d = difference(sa, sb)
    e = d.interval(level)
    return replace(row, diff=e, df=d.df, verdict=AGREE if e.contains(0.0) else DIFFER)


def compare(a: Results, b: Results, level: float = 0.95) -> tuple[list[Row], list[str]]:
    """A row per exercise and setting that A or B answers, in report order, and the
    exercises (with setting) neither answers, each with why."""
    ha, hb = headlines(a), headlines(b)
    rows, neither = [], []
    for ex in EXERCISES:
        for setting in ("", "older", "newer"):
            key = (ex.key, setting)
            if key not in ha and key not in hb:
                continue
            x, y = ha.get(key, NOT_RUN), hb.get(key, NOT_RUN)
            if x.contrast is None and y.contrast is None:
                why = f"{x.why} in both" if x.why == y.why else f"A {x.why}; B {y.why}"
                neither.append(f"{ex.number} {ex.key}{f' ({setting})' if setting else ''}: "
                               f"{why}")
            else:
                rows.append(_compared(ex, setting, x, y, level))
    return rows, neither


NOT_RUN = Headline(None, "not run at this setting (no newer edition in its config)")


def agree_means(level: float) -> str:
    pct = f"{100 * level:g}%"
    return (f"agree: the {pct} interval of B − A contains 0 (for a ratio a / b: the interval "
            f"of the factor B / A contains 1); differ: it does not; not comparable: a side "
            "has no headline, or no interval (fewer than 2 seed pairs), or another one")


def reported_seeds(res: Results) -> list[int]:
    """The seeds of a study's reported runs (exercise 7's tuning runs aside), read from the
    runs: a replication at another ``seed_offset`` shows its fresh seeds here."""
    runs = res.runs
    if runs.empty:
        return []
    return sorted(int(s) for s in runs.loc[runs["experiment"] != "noise_tuning", "seed"].unique())


def header(a: Path, b: Path, ra: Results, rb: Results, level: float) -> list[str]:
    pct = f"{100 * level:g}%"

    def study(path: Path, res: Results) -> str:
        return f"{path} (preset {res.cfg.get('preset', '?')}, " \
               f"{words.seed_span(reported_seeds(res))})"

    return [f"A: {study(a, ra)}",
            f"B: {study(b, rb)}",
            f"Each side: its headline contrast, the estimate with its {pct} t-interval (not "
            "Holm-corrected: the report's may be wider) and n, the seed pairs stable in both "
            "arms.",
            f"B − A: Welch's {pct} interval from the two estimates (the runs of A and B are "
            "independent, not paired); for a ratio a / b the factor B / A, from the log scale.",
            agree_means(level) + "."]


def _text(e: Estimate, q: Quantity) -> str:
    """An estimate as its quantity prints it, unclipped (a difference of two differences
    may pass the range of one): signed, in its unit; a log ratio as a factor."""
    if isinstance(q, Ratio):
        return words.ratio(e.mapped(math.exp))
    return words.number(e, q.digits, q.scale, q.unit, signed=True)


def _side(e: Estimate | None, q: Quantity) -> str:
    return "none" if e is None else f"{_text(e, q)} (n={e.n})"


def _diff(row: Row) -> str:
    return "-" if row.diff is None else _text(row.diff, row.quantity)


HEADER = ["exercise", "setting", "headline", "A [CI] (n)", "B [CI] (n)", "B − A [CI]",
          "verdict", "why"]
NUMERIC = {3, 4, 5}  # right-aligned columns


def cells(row: Row) -> list[str]:
    return [f"{row.number} {row.exercise}", row.setting or "-", row.headline,
            _side(row.a, row.quantity), _side(row.b, row.quantity), _diff(row), row.verdict,
            row.why]


def aligned(head: list[str], rows: list[list[str]], right: set[int]) -> str:
    """Columns as wide as their widest cell, the ``right`` ones right-aligned."""
    table = [head, *rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(head))]

    def line(r: list[str]) -> str:
        return "  ".join(c.rjust(w) if i in right else c.ljust(w)
                         for i, (c, w) in enumerate(zip(r, widths, strict=True))).rstrip()

    return "\n".join([line(head), "  ".join("-" * w for w in widths), *map(line, rows)])


def render(lines: list[str], rows: list[Row], neither: list[str]) -> str:
    text = "\n".join(lines) + "\n\n" + aligned(HEADER, [cells(r) for r in rows], NUMERIC)
    if neither:
        text += "\n\nAnswered in neither folder:\n" + "\n".join(f"  {x}" for x in neither)
    return text


def _number(e: Estimate | None, q: Quantity) -> dict | None:
    """An estimate in the units printed: the quantity's (e.g. pp), or a factor for a ratio."""
    if e is None:
        return None
    f = math.exp if isinstance(q, Ratio) else (lambda x: q.scale * x)
    return {"value": f(e.value), "lo": f(e.lo), "hi": f(e.hi), "n": e.n}


def as_json(a: Path, b: Path, rows: list[Row], neither: list[str], level: float,
            seeds: dict[str, list[int]] | None = None) -> dict:
    return {"a": str(a), "b": str(b), "level": level, "agree": agree_means(level),
            "seeds": seeds or {},
            "rows": [{"number": r.number, "exercise": r.exercise, "setting": r.setting,
                      "headline": r.headline, "unit": "factor" if r.ratio else r.quantity.unit,
                      "a": _number(r.a, r.quantity), "b": _number(r.b, r.quantity),
                      "b_minus_a": _number(r.diff, r.quantity)
                      | {"df": r.df if math.isfinite(r.df) else None}
                      if r.diff is not None else None,
                      "verdict": r.verdict, "why": r.why} for r in rows],
            "neither": neither}


def run(a: Path, b: Path, level: float = 0.95, as_json_: bool = False) -> str:
    """The comparison of results folders ``a`` and ``b``, as the table or as JSON text."""
    if not 0 < level < 1:
        raise UserError(f"--level {level}: a confidence level between 0 and 1 was expected")
    ra, rb = load(a), load(b)
    rows, neither = compare(ra, rb, level)
    if as_json_:
        seeds = {"a": reported_seeds(ra), "b": reported_seeds(rb)}
        return json.dumps(as_json(a, b, rows, neither, level, seeds), indent=1)
    return render(header(a, b, ra, rb, level), rows, neither)
