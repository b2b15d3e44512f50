"""Drawing helpers the exercises share: thin wrappers over the statistics, PNG files out."""

from __future__ import annotations

import io
import math
import textwrap
import warnings
from contextlib import contextmanager
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from PIL import Image  # noqa: E402

from . import stats  # noqa: E402
from .frame import phone_path  # noqa: E402

sns.set_theme(context="notebook", style="whitegrid")
DPI = 110
PALETTE = sns.color_palette("deep")


SHOWN_INCHES = 8.0  # about the width at which the report shows a figure (its text column)
# A phone's column: about 360 CSS px (a 390 px screen less the margins). A figure drawn this
# wide shows 1 pt as 360 / (4.2 x 72) = 1.2 px there, so 9 pt, the smallest text of a phone
# figure, reads as 11 px. Drawn at 1.5 times the report's DPI: about two pixels of the
# image to a CSS pixel there, for a phone's denser screen (twice as many would add another
# half to the page's size).
PHONE_INCHES = 4.2
PHONE_DPI = round(1.5 * DPI)
PHONE_MIN_PT = 9.0
# The widest a phone figure may come out (its tight bounding box adds a margin; text that
# spills past the figure would widen it and shrink everything else on the phone's screen)
PHONE_MAX_PIXELS = round((PHONE_INCHES + 0.3) * PHONE_DPI)
# The texts that overlap on each figure written (``overlapping_texts``), by its path, as
# ``save`` laid it out: a legible figure has none (the exercises' figure tests read it)
OVERLAPS: dict[str, list[tuple[str, str]]] = {}
_phone = False  # inside for_phone(): figures are drawn stacked, for a phone's width


@contextmanager
def for_phone():
    """Inside it, ``panels`` stacks a figure's panels at a phone's width and ``save`` writes
    the figure beside its wide self as ``NAME.phone.png`` (see ``phone_path``)."""
    global _phone
    was, _phone = _phone, True
    try:
        yield
    finally:
        _phone = was


def drawing_for_phone() -> bool:
    return _phone


def panels(n: int, figsize: tuple[float, float], **kw):
    """A figure of ``n`` panels: side by side at ``figsize`` for the report's column, or (in
    ``for_phone()``) stacked one above the other at a phone's width, each panel keeping
    about its shape. Returns ``(fig, axes)`` as ``plt.subplots(1, n)`` does."""
    if not _phone:
        return plt.subplots(1, n, figsize=figsize, **kw)
    width, height = figsize
    kw.pop("gridspec_kw", None)  # widths of side-by-side panels mean nothing stacked
    kw.setdefault("layout", "constrained")
    panel = min(1.0, max(0.65, height / (width / n))) * PHONE_INCHES
    fig, axes = plt.subplots(n, 1, figsize=(PHONE_INCHES, panel * n), **kw)
    return fig, axes


def legible(fig) -> float:
    """Scale every text of a figure wider than the report's column so that, shrunk to the
    column, it reads at the size of a figure drawn for it; returns the factor (at most 2)."""
    factor = min(2.0, max(1.0, fig.get_figwidth() / SHOWN_INCHES))
    if factor > 1.0:
        for text in fig.findobj(matplotlib.text.Text):
            text.set_fontsize(text.get_fontsize() * factor)
        if fig.get_layout_engine() is None:
            with warnings.catch_warnings():  # a layout it cannot improve stays as it was
                warnings.simplefilter("ignore")
                fig.tight_layout()
    return factor


def texts_drawn(fig) -> list:
    """Every text a reader sees on a drawn figure: titles, axis labels, the tick labels inside
    each axis's view, legend entries and titles, the figure's title."""
    out = [fig._suptitle] if fig._suptitle is not None else []
    for ax in fig.axes:
        out += [ax.title, ax._left_title, ax._right_title, ax.xaxis.label, ax.yaxis.label]
        for axis, (lo, hi) in ((ax.xaxis, ax.get_xlim()), (ax.yaxis, ax.get_ylim())):
            lo, hi = min(lo, hi), max(lo, hi)
            out += [t for t in axis.get_ticklabels() + axis.get_ticklabels(minor=True)
                    if lo <= t.get_position()[axis is ax.yaxis] <= hi]
        legend = ax.get_legend()
        if legend is not None and legend.get_visible():
            out += [legend.get_title(), *legend.get_texts()]
        out += list(ax.texts)  # annotations: the labels of marked points
    return [t for t in out if t.get_visible() and t.get_text().strip()]


def overlapping_texts(fig) -> list[tuple[str, str]]:
    """The pairs of texts of a figure (``texts_drawn``) whose boxes overlap by more than a
    pixel, as it is laid out now: a legible figure has none."""
    fig.draw_without_rendering()
    renderer = fig.canvas.get_renderer()
    boxes = [(t.get_text(), t.get_window_extent(renderer).expanded(1.0, 1.0).padded(-1.0))
             for t in texts_drawn(fig)]
    return [(a, b) for i, (a, box) in enumerate(boxes) for b, other in boxes[i + 1:]
            if box.overlaps(other)]


def wrap(text: str, inches: float, points: float) -> str:
    """``text`` in lines that fit ``inches`` at a font of ``points`` (a character of the
    report's sans-serif is about 0.6 of its size wide); mathtext is left whole."""
    chars = max(12, int(inches * 72 / (0.6 * points)))
    if len(text) <= chars or "$" in text:
        return text
    return "\n".join(textwrap.wrap(text, chars, break_on_hyphens=False))


def phone_legible(fig) -> None:
    """No text of a phone figure smaller than ``PHONE_MIN_PT``; titles and axis labels wrapped
    to the length of their axes, the figure's title to its width."""
    for text in fig.findobj(matplotlib.text.Text):
        if text.get_text() and text.get_fontsize() < PHONE_MIN_PT:
            text.set_fontsize(PHONE_MIN_PT)
    # the panels' sizes after the layout, measured without the legends: an unwrapped legend
    # wider than its panel collapses a constrained layout (every panel's width to zero)
    legends = [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None]
    for legend in legends:
        legend.set_visible(False)
    fig.draw_without_rendering()
    for legend in legends:
        legend.set_visible(True)
    width, height = fig.get_size_inches()
    for ax in fig.axes:
        box = ax.get_position()
        for text, inches in ((ax.title, box.width * width), (ax.xaxis.label, box.width * width),
                             (ax.yaxis.label, box.height * height)):
            text.set_text(wrap(text.get_text(), inches, text.get_fontsize()))
        legend = ax.get_legend()  # a legend's entries, to most of their panel's width
        for text in legend.get_texts() if legend is not None else []:
            text.set_text(wrap(text.get_text(), 0.7 * box.width * width, text.get_fontsize()))
    if fig._suptitle is not None:
        fig._suptitle.set_text(wrap(fig._suptitle.get_text(), 0.95 * width,
                                    fig._suptitle.get_fontsize()))


def save(fig, path: Path) -> Path:
    """Write ``fig`` to ``path`` (in ``for_phone()``: to its ``phone_path``); returns where."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if _phone:
        path = phone_path(path)
        phone_legible(fig)
        if fig.get_layout_engine() is None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=PHONE_DPI, bbox_inches="tight")
        # 256 colours, no dithering: a third of the bytes, no difference to see in a plot
        image = Image.open(buf).convert("RGB")
        image.quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(
            path, format="png", optimize=True)
    else:
        legible(fig)
        fig.savefig(path, dpi=DPI, bbox_inches="tight")
    OVERLAPS[str(path)] = overlapping_texts(fig)
    plt.close(fig)
    return path


def band(ax, x, mean, lo, hi, label, color=None, style="-", joined=True):
    """A line with its interval band; not ``joined`` (too few levels for a trend: two points
    joined read as one), points with their intervals as bars."""
    if len(x) == 0:  # no stable run to draw: the legend says so
        return ax.plot([], [], style, label=f"{label} (no stable run)", color=color)[0]
    if not joined:
        mean, lo, hi = (np.asarray(v, dtype=float) for v in (mean, lo, hi))
        return ax.errorbar(x, mean, yerr=[mean - lo, hi - mean], fmt="o", capsize=4,
                           color=color, label=label)
    line = ax.plot(x, mean, style, label=label, color=color)[0]
    ax.fill_between(x, lo, hi, alpha=0.25, color=line.get_color(), linewidth=0)
    return line


def per_x(values: pd.DataFrame, x: str, y: str, level: float,
          bounds: tuple[float, float] | None = None, log: bool = False,
          summarize=None) -> pd.DataFrame:
    """Mean and interval of ``y`` at each ``x``, the interval kept inside ``bounds``; with
    ``log`` (a positive quantity on a log axis), the geometric mean and its interval from the
    log scale, which stays above zero and so on the axis; ``summarize(values, level)``: the
    estimate a table prints for the quantity, so the band is the table's interval."""
    rows = []
    for v, g in values.groupby(x):
        e = (summarize(g[y], level) if summarize is not None else
             stats.geometric_mean_ci(g[y], level) if log else
             stats.mean_ci(g[y], level, bounds))
        rows.append({x: v, "mean": e.value, "lo": e.lo, "hi": e.hi, "n": e.n})
    return pd.DataFrame(rows, columns=[x, "mean", "lo", "hi", "n"]).astype(
        {"mean": float, "lo": float, "hi": float})


def lines_with_bands(ax, data: pd.DataFrame, x: str, hue: str, y: str, level: float,
                     xlabel: str, ylabel: str, scale: float = 1.0, labels=None,
                     bounds: tuple[float, float] | None = None) -> None:
    """One line per ``hue`` over ``x`` with its interval band (stable runs only)."""
    if "stable" in data:
        data = data[data["stable"]]
    for i, (key, g) in enumerate(data.groupby(hue)):
        s = per_x(g, x, y, level, bounds)
        band(ax, s[x], scale * s["mean"], scale * s["lo"], scale * s["hi"],
             (labels or {}).get(key, key), PALETTE[i % len(PALETTE)])
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8)


def zero_on_log_x(ax, zero_at: float, positive) -> None:
    """A log x axis whose leftmost point, ``zero_at`` (below the smallest of ``positive``),
    stands for 0: its tick says "0", the others are the decades the positive values span,
    and there are no minor ticks (which would put values between 0 and the first decade)."""
    from matplotlib.ticker import NullLocator

    values = [float(v) for v in positive if v > 0]
    decades = (range(math.ceil(math.log10(min(values)) - 1e-9),
                     math.floor(math.log10(max(values)) + 1e-9) + 1) if values else range(0))
    ax.set_xscale("log")
    ax.set_xticks([zero_at, *(10.0 ** k for k in decades)],
                  ["0", *(f"$10^{{{k}}}$" for k in decades)])
    ax.xaxis.set_minor_locator(NullLocator())
