"""Exercise 3's figure: the variance per hidden layer along training (log scales) and the
measured post-mask variance over the closed form."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ... import stats
from .analysis import CURVE_RUNS, Result, _activations

if TYPE_CHECKING:  # annotations only: Results.load reads the plan, which reads the registry
    from ...results import Results

def _per_epoch(g: pd.DataFrame, col: str, level: float) -> pd.DataFrame:  # pragma: no mutate block
    """Per epoch, the geometric mean over runs and its interval (positive, for log axes)."""
    rows = []
    for epoch, x in g.groupby("epoch"):
        e = stats.geometric_mean_ci(x[col], level)
        if e.n < CURVE_RUNS:  # one run left: the curve stops (the caption says where)
            continue
        rows.append({"epoch": max(float(epoch), 1e-3), "mean": e.value, "lo": e.lo, "hi": e.hi})
    return pd.DataFrame(rows, columns=["epoch", "mean", "lo", "hi"])


def draw(res: Results, r: Result, out: Path) -> dict[str, Path]:  # pragma: no mutate block
    from matplotlib.ticker import LogFormatterSciNotation, LogLocator, NullFormatter

    from ...plots import PALETTE, band, drawing_for_phone, panels, save

    acts = _activations(res)
    acts = acts[acts["stable_at"]]  # each epoch's stable runs, as in the analysis
    layers = [x.layer for x in r.layers]
    # short labels and one legend for the variance panels, below them: three panels side by
    # side have their text scaled up to read at the report's width (issue 31, referee 18)
    fig, axes = panels(len(layers) + 1, figsize=(4.2 * (len(layers) + 1), 4.8),
                       layout="constrained")
    handles = []
    for ax, layer in zip(axes, layers, strict=False):
        g = acts[acts["layer"] == layer]
        i, means = 0, []
        for cond in (r.off, r.on):
            gc = g[g["condition"] == cond]
            series = [("var_eval", "eval mode")] if cond == r.off else \
                [("var_pre", "train, before mask"), ("var_post", "train, after mask"),
                 ("var_eval", "eval mode")]
            for col, what in series:
                s = _per_epoch(gc, col, res.level)
                line = band(ax, s["epoch"], s["mean"], s["lo"], s["hi"], f"{cond}: {what}",
                            PALETTE[i % len(PALETTE)])
                if ax is axes[0]:
                    handles.append(line)
                means.append(s["mean"].to_numpy(dtype=float))
                i += 1
        span = np.concatenate(means)
        span = span[np.isfinite(span) & (span > 0)]
        if span.size:  # the means set the range; a two-seed band may leave it
            ax.set_ylim(span.min() / 3, span.max() * 3)
        ax.set_yscale("log")  # labels at 1, 2 and 5 times a power of ten (a factor 9 holds
        ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))  # two), not 3×, 4×, ...
        ax.yaxis.set_major_formatter(LogFormatterSciNotation(labelOnlyBase=False))
        ax.yaxis.set_minor_formatter(NullFormatter())
        ax.set_ylabel("variance (geometric mean)")
        ax.set_title(f"hidden layer {layer}")
    ax = axes[-1]
    drop = acts[acts["rate"] > 0]
    for i, layer in enumerate(layers):
        s = _per_epoch(drop[drop["layer"] == layer], "ratio", res.level)
        band(ax, s["epoch"], s["mean"], s["lo"], s["hi"], f"layer {layer}",
             PALETTE[i % len(PALETTE)])
    ax.axhline(1.0, color="black", lw=0.8)
    ax.set_ylabel("measured / closed form")
    ax.set_title("closed-form check")
    ax.legend(fontsize=9)
    for a in axes:
        a.set_xscale("log")
        a.xaxis.set_major_locator(LogLocator(numticks=4))  # 10^-2, 10^0, 10^2: no crowding
        a.xaxis.set_minor_formatter(NullFormatter())
        a.set_xlabel("epoch (log scale)")
    fig.legend(handles=handles, loc="outside lower center", fontsize=9,
               ncol=1 if drawing_for_phone() else 2)
    return {"variance": save(fig, out / "ex3_variance.png")}
