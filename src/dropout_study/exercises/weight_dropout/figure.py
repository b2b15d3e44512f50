"""Exercise 6's figure: test accuracy over the rate sweep per method (a marker at each
method's rate) and the measured training cost per model-epoch (log scale)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .analysis import EXPERIMENT, Result, method_name

if TYPE_CHECKING:  # annotations only: Results.load reads the plan, which reads the registry
    from ...results import Results

TICK = {"dropout": "activation\ndropout", "dropconnect": "DropConnect,\nper example",
        "dropconnect_gaussian": "Gaussian\napproximation",
        "dropconnect_batch": "DropConnect,\nper minibatch"}  # short axis labels


def star_offsets(points: list[tuple[str, float]], step: float) -> list[float]:
    """Horizontal offsets for markers drawn at the same rate, so that none hides another
    (in order, centred on the rate, ``step`` apart); 0 for a marker alone at its rate."""
    out = []
    for i, (_, p) in enumerate(points):
        same = [j for j, (_, q) in enumerate(points) if q == p]
        out.append((same.index(i) - (len(same) - 1) / 2) * step)
    return out



def draw(res: Results, r: Result, out: Path) -> dict[str, Path]:  # pragma: no mutate block
    from matplotlib.ticker import FuncFormatter, NullFormatter

    from ...plots import PALETTE, drawing_for_phone, lines_with_bands, panels, save

    ends = res.ends(EXPERIMENT)
    fig, axes = panels(2, figsize=(13, 4.4), gridspec_kw={"width_ratios": [3, 2], "wspace": 0.3})
    labels = {m: method_name(m) for m in r.methods}
    shown = sorted(ends.loc[ends["stable"], "factor_method"].unique())  # as lines_with_bands
    colour = {m: PALETTE[i % len(PALETTE)] for i, m in enumerate(shown)}
    lines_with_bands(axes[0], ends, "factor_p", "factor_method", "endpoint", res.level,
                     "drop probability p (both layers)", "test accuracy (%)", 100, labels,
                     bounds=(0.0, 1.0))
    rows = {row.condition: row for row in r.table}
    picked = [(m, r.cells[cond][1]) for m, cond in r.selected.items()]
    gap = 0.02 * (max(r.rates) - min(r.rates) or 1.0)
    shapes = {m: s for m, s in zip(r.methods, "*DsP^v", strict=False)}
    for (m, p), dx in zip(picked, star_offsets(picked, gap), strict=True):
        e = rows[r.selected[m]].values["endpoint"]  # one marker per method, none hidden
        axes[0].plot(p + dx, 100 * e.value, shapes.get(m, "*"), ms=12 if shapes.get(m) == "*"
                     else 8, color=colour.get(m, "k"), markeredgecolor="black", zorder=4)
        if len(r.method_rates.get(m, ())) == 1 and e.has_interval:  # no band: its bar
            axes[0].errorbar(p + dx, 100 * e.value, yerr=[[100 * (e.value - e.lo)],
                                                          [100 * (e.hi - e.value)]],
                             fmt="none", ecolor=colour.get(m, "k"), capsize=4, zorder=3)
    axes[0].set_title("test accuracy (markers: each\nmethod's rate)", loc="left")
    axes[0].set_xticks(sorted(r.rates))  # the rates run, not a crowd of others
    # below the panel (on a phone, below the figure): inside, it hid a curve (referee reads
    # 4 and 5)
    if drawing_for_phone():
        axes[0].get_legend().remove()
        fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", fontsize=8)
    else:
        axes[0].legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2)
    # the cost panel lies on its side: a method's name is read level, one above the other
    for i, t in enumerate(r.timing):
        axes[1].plot([t.seconds.value], [i], "o", color=colour.get(t.method, "k"))
    axes[1].set_xscale("log")  # a time is positive: its interval comes from the log scale
    plain = FuncFormatter(lambda v, _: f"{v:g}")
    axes[1].xaxis.set_major_formatter(plain)
    axes[1].xaxis.set_minor_formatter(plain)
    axes[1].set_yticks(np.arange(len(r.timing)),
                       [TICK.get(t.method, t.method) for t in r.timing], fontsize=8)
    low, high = axes[1].get_xlim()
    if high > 10 * low:  # over a decade: the minor ticks' labels would overlap
        axes[1].xaxis.set_minor_formatter(NullFormatter())
    axes[1].set_ylim(len(r.timing) - 0.5, -0.5)  # the first method on top
    axes[1].set_xlabel("training seconds per model-epoch (log scale)")
    axes[1].set_title("cost, measured (one job each)"  # short: it sits beside the other title
                      if all(t.jobs == 1 for t in r.timing) else "cost, measured")
    return {"sweep": save(fig, out / "ex6_sweep.png")}
