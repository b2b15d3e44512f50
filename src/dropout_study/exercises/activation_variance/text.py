"""Exercise 3's words: the report's answer, takeaway and tables from its ``Result``."""

from __future__ import annotations

import math

from ... import words
from ...contrast import Contrast
from ...contrast_words import holm_family
from ...stats import Estimate
from ..common import unstable_lr
from .analysis import CURVE_RUNS, HEADLINE_EPOCH, READ_AT, TOLERANCE, Layer, Result


def _value(e: Estimate) -> str:
    return f"{e.value:.3f}" if e.n else "no value"


def _direction(c: Contrast) -> str:
    return c.verdict("larger", "smaller")


def _runs(n: int) -> str:
    return f"{n} run{'s' if n != 1 else ''}" if n else "no run"


def _ratio_text(c: Contrast) -> str:
    """``x0.84 [0.72, 0.98] over n seed pairs`` (the pairs stable in both models there)."""
    if c.pairs == 0:
        return "no value (no seed pair stable in both models)"
    return (f"{c.quantity.text(c.primary)} over {c.pairs} seed pair{'s' if c.pairs != 1 else ''}"
            " stable in both")


def _evolution_text(r: Result, layer: Layer) -> str:
    first, at = 0, r.marks.index(r.horizon)
    parts = [f"{'no dropout' if e.condition == r.off else 'dropout'} "
             f"{_value(e.cells[first])} → {_value(e.cells[at])}"
             for e in r.evolution if e.layer == layer.layer]
    c = layer.eval_ratio
    return (f"layer {layer.layer}: {', '.join(parts)}; there the ratio dropout / none is "
            f"{_ratio_text(c)} ({_direction(c)})")


def _takeaway(r: Result) -> str:
    ratios = ", ".join(f"layer {c.layer}: {words.ratio(c.ratio, 4)}" for c in r.check)
    if any(c.deviates for c in r.check):
        head = ("The measured post-mask variance departs from what the closed form predicts from "
                f"the pre-mask mean and variance (measured/predicted {ratios}) — a deviation "
                f"beyond {100 * TOLERANCE:g}% that needs investigating")
    elif all(c.agrees for c in r.check):
        # the words follow the numbers: how close the intervals come, and how far single
        # probe points stray (they may pass the tolerance that the means are held to)
        far = max(max(abs(c.ratio.lo - 1), abs(c.ratio.hi - 1)) if c.ratio.has_interval
                  else abs(c.ratio.value - 1) for c in r.check)
        worst = max(r.check, key=lambda c: c.max_dev)
        beyond = (f", beyond the ±{100 * TOLERANCE:g}% the means are held to"
                  if worst.max_dev > TOLERANCE else "")
        head = ("The mask raises the variance by what the closed form predicts from the pre-mask "
                f"mean and variance (measured/predicted {ratios}; geometric means over the "
                f"probe points and runs, each interval within ±{percent(far)} of 1, inside the "
                f"check's tolerance of ±{100 * TOLERANCE:g}%); single probe points deviate from "
                f"it by up to {percent(worst.max_dev)} (layer {worst.layer}){beyond}")
    else:
        head = ("The measured post-mask variance is consistent with the closed form "
                f"(measured/predicted {ratios}), but its intervals are wider than "
                f"±{100 * TOLERANCE:g}%")
    return (head + "; the extra variance is noise that exists only in training: in eval mode "
            "the network sees none of it, and the comparison of the two trained networks there "
            "is the eval-mode ratio above.")


def percent(x: float) -> str:
    """A small fraction as a percentage to two significant digits (``0.22%``, ``2.1%``)."""
    v = 100 * abs(x)
    if v == 0:
        return "0%"
    return f"{v:.{max(0, 1 - math.floor(math.log10(v)))}f}%"


def caveat(r: Result) -> str:
    """The protocol's caveat, from the run counts: where the learning rate makes the
    no-dropout baseline unstable, the answer is one about an unstable learning rate, not the
    exercise; "" where every no-dropout run is stable."""
    return unstable_lr(r.off_unstable, r.seeds, r.off, r.lr, r.last_epoch)[0]


def thin(r: Result) -> str:
    """Which epochs a curve of the figure leaves out (fewer than ``CURVE_RUNS`` runs stable
    there), in words, with the stretch at the end where it stops; "" where none."""
    said = []
    for c, few in r.thin_at.items():
        stop = (f"; its last point is at epoch {r.stops_at[c]:g}" if c in r.stops_at
                else "")  # referee read 4: "it stops at epoch 98" where 97 was the last
        said.append(f"the {'no-dropout' if c == r.off else 'dropout'} curves ({c}) leave out "
                    f"the {len(few)} epoch{'s' if len(few) != 1 else ''} where fewer than "
                    f"{CURVE_RUNS} of their runs are stable (the first at epoch {few[0]:g}"
                    f"{stop})")
    text = words.join(said)
    return f" {text[0].upper()}{text[1:]}." if said else ""


def rule(r: Result) -> str:
    """How the epochs were fixed, in words (the same rule whatever the results)."""
    fixed = ", ".join(f"{e:g}" for e in READ_AT)
    return (f"The epochs the ratios are read at were fixed before any result was seen: epochs "
            f"{fixed} and the last ({r.last_epoch:g}), those beyond the end of training left "
            f"out; the headline is epoch {HEADLINE_EPOCH} (the reference model's training "
            f"length), or the last epoch where training is shorter. At each epoch only the runs "
            f"stable there count (the instability rule on the window that ends at that epoch).")


def _instability(c: Contrast, epoch: float) -> str:
    return c.instability().replace("unstable at the endpoint, diverged or never trained",
                                   f"unstable at epoch {epoch:g}, diverged or not yet trained "
                                   "by then")


def holm_over(ratios: dict) -> str:
    """What the Holm correction of the eval-mode ratios runs over: the testable ones only (at
    least ``MIN_PAIRS`` seed pairs stable in both models), the others get no verdict."""
    return holm_family(ratios, "layer × epoch ratios", "models")


def context(r: Result) -> dict:
    when = (f"At the end of training (epoch {r.last_epoch:g})" if r.at_end else
            f"At epoch {r.horizon:g} (the headline epoch; training ran to {r.last_epoch:g})")
    amp = "; ".join(f"layer {x.layer}: {words.ratio(x.amplification)} over "
                    f"{_runs(x.amplification.n)} (closed form {words.ratio(x.predicted)})"
                    for x in r.layers)
    train = {f"layer {x.layer}": x.train_ratio for x in r.layers}
    cross = "; ".join(f"layer {x.layer}: {_ratio_text(x.train_ratio)} "
                      f"({_direction(x.train_ratio)})" for x in r.layers)
    answer = (f"{when}, over the runs stable there, dropout's mask multiplies the train-time "
              f"variance of the dropout model's activations by {amp} (ratio after / before, "
              f"within each run). Against the no-dropout model's activations the train-time "
              f"variance is {cross} (ratio dropout / none, paired by seed; "
              f"{holm_family(train, 'layers', 'models')}). In eval mode, from initialisation "
              f"to epoch {r.horizon:g}, the variance goes "
              + "; ".join(_evolution_text(r, x) for x in r.layers) + ".")
    def cell(v) -> str:  # a mean over fewer runs than seeds says over how many (referee 9)
        return words.number(v, 3) + (f" (n={v.n})" if 1 < v.n < r.seeds else "")

    table = [{"layer": x.layer, "off_var_eval": cell(x.off_eval),
              "on_var_pre": cell(x.on_pre),
              "on_var_post": cell(x.on_post),
              "on_var_eval": cell(x.on_eval),
              "amplification": words.ratio(x.amplification),
              "amplification_predicted": words.ratio(x.predicted),
              "train_ratio": x.train_ratio.quantity.text(x.train_ratio.primary),
              "train_pairs": x.train_ratio.pairs,
              "train_level": x.train_ratio.level_text,
              "eval_ratio": x.eval_ratio.quantity.text(x.eval_ratio.primary),
              "eval_level": x.eval_ratio.level_text,
              "eval_verdict": _direction(x.eval_ratio),
              "eval_robustness": x.eval_ratio.robustness()} for x in r.layers]
    over = [{"layer": layer, "epoch": f"{e:g}", "ratio": _ratio_text(c),
             "pairs": c.pairs, "level": c.level_text,
             "verdict": _direction(c), "instability": _instability(c, e),
             "robustness": c.robustness()} for (layer, e), c in r.ratios.items()]
    return {"off": r.off, "on": r.on, "seeds": r.seeds, "lr": f"{r.lr:g}",
            "probe_points": r.probe_points,
            "probe_size": r.probe_size, "horizon": f"{r.horizon:g}", "at_end": r.at_end,
            "last_epoch": f"{r.last_epoch:g}", "marks": [f"{e:g}" for e in r.marks],
            "read": [f"{e:g}" for e in r.read], "rule": rule(r), "n_ratios": len(r.ratios),
            "holm_over": holm_over(r.ratios),
            "table": table, "ratios": over,
            "check": [{"layer": c.layer, "ratio": words.ratio(c.ratio, 4), "points": c.points,
                       "max_dev": f"{c.max_dev:.3f}"} for c in r.check],
            "evolution": [{"layer": e.layer, "condition": e.condition,
                           "cells": [cell(v) for v in e.cells]} for e in r.evolution],
            "excluded": r.excluded, "collapsed": r.collapsed, "window": r.k,
            # the summary row says where the answer stands (referee read 6, 2)
            "glance_words": ({"after": unstable_lr(r.off_unstable, r.seeds, r.off, r.lr,
                                                   r.last_epoch)[1]}
                             if r.off_unstable else None),
            "answer": answer, "caveat": caveat(r), "thin": thin(r),
            "curve_runs": CURVE_RUNS, "takeaway": _takeaway(r)}
