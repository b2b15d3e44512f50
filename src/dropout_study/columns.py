"""Plain-text tables in aligned columns and durations in hours and minutes, as the command
line and ``status`` print them."""

from __future__ import annotations


def table(header: list[str], rows: list[list], right: int = 1) -> str:
    """Columns as wide as their widest cell; the first ``right`` columns left-aligned, the
    others right-aligned."""
    cells = [[str(c) for c in r] for r in [header, *rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) if i < right else c.rjust(w)
                       for i, (c, w) in enumerate(zip(r, widths, strict=True))).rstrip()
             for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def hours_minutes(seconds: float) -> str:
    h, rem = divmod(int(round(seconds)), 3600)
    return f"{h} h {rem // 60:02d} min" if h else f"{rem // 60} min {rem % 60:02d} s"
