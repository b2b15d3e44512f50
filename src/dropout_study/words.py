"""Numbers into words: how every estimate is printed in the report.

A value that cannot be computed is said in words ("no run has a value"), never "nan" or
"n/a"; a difference is signed and an interval is never printed outside the range of its
quantity (the estimates arrive clipped, see ``stats.Estimate.clipped``).
"""

from __future__ import annotations

import math

from .stats import NOISE, Estimate


def _num(x: float, digits: int, signed: bool) -> str:
    if round(x, digits) == 0:  # never "-0.00" or "+0.00"
        x = 0.0
        signed = False
    return f"{x:{'+' if signed else ''}.{digits}f}"


def missing(e: Estimate) -> str | None:
    """Words for an estimate that has no value, or None if it has one."""
    if e.n == 0 or not math.isfinite(e.value):
        return "no value (no stable run to compute it from)"
    return None


EXTRA_DIGITS = 3  # at most this many more decimals to tell an interval's ends apart


def _interval(e: Estimate, digits: int, render, null: float | None = None) -> str | None:
    """``[lo, hi]`` for an estimate with an interval, with as many more decimals (up to
    ``EXTRA_DIGITS``) as its two ends need to differ in print, and, where the interval
    excludes ``null`` (0 for a difference, 1 for a ratio), for neither end to print as it
    ("[-0.43, 0.00]" beside a claim; referee, full study), the value with them; words
    instead of a degenerate one: no spread at all ("77.3% [77.3, 77.3]" from two equal runs),
    or an interval narrower than the last decimal shown. None: it has no interval."""
    if not e.has_interval:
        return None
    if math.isclose(e.lo, e.hi, rel_tol=1e-12, abs_tol=1e-15):  # equal, floating error aside
        return f"{render(e.value, digits)} (no spread: all {e.n} values equal)"
    away = null is not None and not (e.lo - NOISE <= null <= e.hi + NOISE)
    for d in range(digits, digits + EXTRA_DIGITS + 1):
        lo, hi = render(e.lo, d), render(e.hi, d)
        if lo != hi and not (away and render(null, d) in (lo, hi)):
            return f"{render(e.value, d)} [{lo}, {hi}]"
    return (f"{render(e.value, digits + EXTRA_DIGITS)} (its interval narrower than the last "
            "decimal)")


def number(e: Estimate, digits: int = 3, scale: float = 1.0, unit: str = "",
           signed: bool = False) -> str:
    """``value [lo, hi] unit``; one run gives a value without an interval, and says so; an
    interval whose ends print alike gets the decimals that tell them apart, or words."""
    if (words := missing(e)) is not None:
        return words
    u = f" {unit}" if unit and unit != "%" else unit

    def render(x: float, d: int) -> str:
        return _num(scale * x, d, signed)

    shown = _interval(e, digits, render, 0.0 if signed else None)
    if shown is None:
        v = render(e.value, digits)
        return f"{v}{u} (one seed, no interval)" if e.n == 1 else f"{v}{u}"
    if " [" not in shown:  # words: the unit goes with the value
        v, rest = shown.split(" ", 1)
        return f"{v}{u} {rest}"
    v, rest = shown.split(" [", 1)
    return f"{v}{u} [{rest}"


def pct(e: Estimate, digits: int = 1) -> str:
    """A proportion as a percentage: ``81.8% [79.9, 83.7]``."""
    return number(e, digits, 100.0, "%")


def pp(e: Estimate, digits: int = 2) -> str:
    """A difference of proportions in signed percentage points."""
    return number(e, digits, 100.0, "pp", signed=True)


def ratio(e: Estimate, digits: int = 2) -> str:
    """A ratio of positive quantities: ``x1.27 [1.25, 1.30]`` (more decimals where its ends
    would print alike, words where it has no spread)."""
    if (words := missing(e)) is not None:
        return words
    shown = _interval(e, digits, lambda x, d: f"{x:.{d}f}", 1.0)
    return f"x{e.value:.{digits}f}" if shown is None else f"x{shown}"


def measured(e: Estimate, significant: int = 2) -> str:
    """A measured ratio without an interval (e.g. one timing against another) to
    ``significant`` digits: ``x49``, ``x1.3``, ``x0.86``; more would claim a precision that
    the choice of timer alone does not support."""
    if (words := missing(e)) is not None:
        return words
    v = e.value
    if not v:
        return "x0"
    digits = significant - 1 - math.floor(math.log10(abs(v)))
    if math.floor(math.log10(abs(round(v, digits)))) > math.floor(math.log10(abs(v))):
        digits -= 1  # 9.96 rounds up to 10: one digit fewer after the point
    return f"x{round(v, digits):.{max(digits, 0)}f}"


def seeds(n: int) -> str:
    return f"{n} seed{'s' if n != 1 else ''}"


def seed_span(values) -> str:
    """Which seeds, as runs of consecutive ones: ``seeds 100–102``, ``seed 5``, ``seeds 0–9
    and 20–24`` (a study's seeds start at its ``seed_offset``, so a count alone would not say
    which were trained); ``no seeds`` for none."""
    xs = sorted({int(v) for v in values})
    if not xs:
        return "no seeds"
    runs: list[list[int]] = []
    for x in xs:
        if runs and x == runs[-1][-1] + 1:
            runs[-1].append(x)
        else:
            runs.append([x])
    parts = [str(r[0]) if len(r) == 1 else f"{r[0]}–{r[-1]}" for r in runs]
    return f"seed{'s' if len(xs) > 1 else ''} {join(parts)}"


def rate(k: int, n: int, e: Estimate) -> str:
    """An instability rate with its exact interval: ``3 of 20 (15% [3, 38])``."""
    if n == 0:
        return "no runs"
    return (f"{k} of {n} ({_percent(e.value, k in (0, n))}% [{_percent(e.lo, k == 0)}, "
            f"{_percent(e.hi, k == n)}])")


def _percent(x: float, bound: bool) -> str:
    """A rate's interval end in percent, to whole points unless that prints 0 or 100 where the
    end is not at that bound (``bound``: an exact interval reaches 0 only with no event, 100
    only with no other outcome): then with the decimals that tell it apart, or "<0.1" / ">99.9"
    (referee, full study: "1 of 10 (10% [0, 45])" printed the null as the lower end)."""
    v = 100 * x
    if bound or 0.5 <= v < 99.5:
        return f"{v:.0f}"
    if 0.05 <= v <= 99.95:
        return f"{v:.1f}"
    return "<0.1" if v < 50 else ">99.9"


def join(parts: list[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    parts = [p for p in parts if p]
    if len(parts) < 2:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]
