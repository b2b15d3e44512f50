"""Numbers into words: how every estimate is printed in the report.

A value that cannot be computed is said in words ("no run has a value"), never "nan" or
"n/a"; a difference is signed and an interval is never printed outside the range of its
quantity (the estimates arrive clipped, see ``stats.Estimate.clipped``).
"""

from __future__ import annotations

import math

from .stats import Estimate


def _num(x: float, digits: int, signed: bool) -> str:
    if round(x, digits) == 0:  # never "-0.00" or "+0.00"
        x = 0.0
        signed = False
    return f"{x:{'+' if signed else ''}.{digits}f}"


def missing(e: Estimate) -> str | None:
    """Words for an estimate that has no value, or None if it has one."""
    if e.n == 0 or not math.isfinite(e.value):
        return "no value (no seed is stable in every arm)"
    return None


def number(e: Estimate, digits: int = 3, scale: float = 1.0, unit: str = "",
           signed: bool = False) -> str:
    """``value [lo, hi] unit``; one run gives a value without an interval, and says so."""
    if (words := missing(e)) is not None:
        return words
    u = f" {unit}" if unit and unit != "%" else unit
    v = _num(scale * e.value, digits, signed)
    if not e.has_interval:
        return f"{v}{u} (one seed, no interval)" if e.n == 1 else f"{v}{u}"
    lo, hi = (_num(scale * x, digits, signed) for x in (e.lo, e.hi))
    return f"{v}{u} [{lo}, {hi}]"


def pct(e: Estimate, digits: int = 1) -> str:
    """A proportion as a percentage: ``81.8% [79.9, 83.7]``."""
    return number(e, digits, 100.0, "%")


def pp(e: Estimate, digits: int = 2) -> str:
    """A difference of proportions in signed percentage points."""
    return number(e, digits, 100.0, "pp", signed=True)


def ratio(e: Estimate, digits: int = 2) -> str:
    """A ratio of positive quantities: ``x1.27 [1.25, 1.30]``."""
    if (words := missing(e)) is not None:
        return words
    if not e.has_interval:
        return f"x{e.value:.{digits}f}"
    return f"x{e.value:.{digits}f} [{e.lo:.{digits}f}, {e.hi:.{digits}f}]"


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
    return f"{k} of {n} ({100 * e.value:.0f}% [{100 * e.lo:.0f}, {100 * e.hi:.0f}])"


def join(parts: list[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    parts = [p for p in parts if p]
    if len(parts) < 2:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]
