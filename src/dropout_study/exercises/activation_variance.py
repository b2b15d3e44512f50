"""Exercise 3: the variance of the activations in each hidden layer, with and without dropout.

Trains nothing: it reads the activation statistics that the ``long_training`` runs (exercise
2) log on a fixed probe batch along training (see ``train.activation_stats``). Reports, per
hidden layer at a horizon where every seed of both models is alive, the variance before and
after the dropout mask (train mode) and in eval mode, as geometric means over seeds; the mask's
amplification and the cross-model ratios (paired by seed, on the log scale); the eval-mode
ratio dropout / none as a Holm family over layers; how the eval-mode variance evolves; and the
check of the measured post-mask variance against the closed form
Var[h′] = (Var[h] + p·E[h]²)/(1 − p).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from .. import stats, words
from ..contrast import Contrast, Ratio, Sample, compare
from ..results import Results
from ..stats import Estimate
from .base import Exercise, GlanceWords
from .long_training import arms

EXPERIMENT = "long_training"
TOLERANCE = 0.02  # measured / closed form within 2%: the check passes
EVAL = Ratio(what="eval-mode activation variance")


def closed_form(var_pre, mean_pre, p):
    """Var[h′] for h′ = h·m/(1 − p), m ~ Bernoulli(1 − p) independent of h."""
    return (var_pre + p * mean_pre ** 2) / (1 - p)


@dataclass(frozen=True)
class Layer:
    """One hidden layer at the horizon: geometric means over seeds, ratios paired by seed."""

    layer: int
    off_eval: Estimate  # no dropout (train mode equals eval mode there)
    on_pre: Estimate  # dropout model, train mode, before the mask
    on_post: Estimate  # dropout model, train mode, after the mask
    on_eval: Estimate  # dropout model, eval mode
    amplification: Estimate  # after / before the mask, within the dropout model
    predicted: Estimate  # the closed form / before the mask
    train_ratio: Estimate  # dropout model after its mask / no dropout
    eval_ratio: Contrast  # log eval variance, dropout − none (a Holm family over layers)


@dataclass(frozen=True)
class Check:
    layer: int
    ratio: Estimate  # measured / closed form: geometric mean over runs of each run's geometric
    # mean over its probe points
    points: int
    max_dev: float  # largest |measured / closed form − 1| at a single probe point

    @property
    def agrees(self) -> bool:
        """Within the tolerance, interval included."""
        e = self.ratio
        ends = (e.lo, e.hi) if e.has_interval else (e.value,)
        return all(abs(x - 1) <= TOLERANCE for x in ends)

    @property
    def deviates(self) -> bool:
        """The estimate itself is beyond the tolerance."""
        return abs(self.ratio.value - 1) > TOLERANCE


@dataclass(frozen=True)
class Evolution:
    layer: int
    condition: str
    cells: list[Estimate]  # eval-mode variance at each of ``Result.marks``


@dataclass(frozen=True)
class Result:
    off: str
    on: str
    seeds: int
    probe_points: int
    probe_size: int
    horizon: float  # the last epoch, or two before the first divergence
    last_epoch: float
    marks: list[float]  # the epochs of the evolution table
    layers: list[Layer]
    check: list[Check]
    evolution: list[Evolution]
    excluded: list[str]  # the diverged runs, in words

    @property
    def at_end(self) -> bool:
        return self.horizon == self.last_epoch


def _activations(res: Results) -> pd.DataFrame:
    acts = res.activations
    acts = acts[acts["experiment"] == EXPERIMENT].copy()
    acts["predicted"] = closed_form(acts["var_pre"], acts["mean_pre"], acts["rate"])
    acts["ratio"] = acts["var_post"] / acts["predicted"]
    return acts


def _check(acts: pd.DataFrame, level: float) -> list[Check]:
    drop = acts[acts["rate"] > 0]
    out = []
    for layer, g in drop.groupby("layer"):
        per_run = g.groupby(["condition", "seed"])["ratio"].apply(
            lambda r: float(np.exp(np.log(r).mean())))
        out.append(Check(int(layer), stats.geometric_mean_ci(per_run, level), len(g),
                         float((g["ratio"] - 1).abs().max())))
    return out


def analyze(res: Results) -> Result:
    lvl = res.level
    off, on = arms(res.cfg)
    acts = _activations(res)
    runs = res.runs[res.runs["experiment"] == EXPERIMENT]
    excluded = [f"{r.condition} seed {r.seed} (diverged at epoch {r.diverged_epoch:g})"
                for r in runs[runs["diverged"]].itertuples()]
    last_epoch = float(acts["epoch"].max())
    # Compare where every run of both models is alive and sane: two epochs before the first
    # divergence (a run blows up within the epoch before it is marked; measured on quick:
    # layer-2 variance 0.16 two epochs before, 161 one epoch before), or the end of training.
    div = runs.loc[runs["diverged"], "diverged_epoch"]
    horizon = last_epoch if div.empty else max(1.0, float(div.min()) - 2)
    final = acts[acts["epoch"] == horizon]

    layers, family = [], {}
    for layer, g in final.groupby("layer"):
        pre, post, ev, pred = (g.pivot_table(index="seed", columns="condition", values=c)
                               .reindex(columns=[off, on])
                               for c in ("var_pre", "var_post", "var_eval", "predicted"))
        key = str(int(layer))
        family[key] = Sample(np.log(ev[on]), np.log(ev[off]), ev[on].notna(), ev[off].notna())
        layers.append(dict(
            layer=int(layer), off_eval=stats.geometric_mean_ci(ev[off], lvl),
            on_pre=stats.geometric_mean_ci(pre[on], lvl),
            on_post=stats.geometric_mean_ci(post[on], lvl),
            on_eval=stats.geometric_mean_ci(ev[on], lvl),
            amplification=stats.log_ratio(post[on], pre[on], lvl),
            predicted=stats.log_ratio(pred[on], pre[on], lvl),
            train_ratio=stats.log_ratio(post[on], ev[off], lvl)))
    contrasts = compare(family, lvl, EVAL)
    layers = [Layer(**d, eval_ratio=replace(contrasts[str(d["layer"])], label=f"{on} − {off}"))
              for d in layers]

    # the evolution in eval mode: at initialisation, after the first epoch, and later on
    epochs = sorted(acts["epoch"].unique())
    marks = sorted({float(epochs[0]), horizon, last_epoch}
                   | {float(e) for e in (1, 10, 30) if e in epochs and e < last_epoch})
    evolution = [Evolution(int(layer), cond, [
        stats.geometric_mean_ci(g.loc[(g["condition"] == cond) & (g["epoch"] == e), "var_eval"],
                                lvl) for e in marks])
        for layer, g in acts.groupby("layer") for cond in (off, on)]
    return Result(off=off, on=on, seeds=int(runs["seed"].nunique()),
                  probe_points=int(acts["step"].nunique()),
                  probe_size=int(res.cfg["data"]["probe_size"]), horizon=horizon,
                  last_epoch=last_epoch, marks=marks, layers=layers,
                  check=_check(acts, lvl), evolution=evolution, excluded=excluded)


# -- words -------------------------------------------------------------------------------------
def _value(e: Estimate) -> str:
    return f"{e.value:.3f}" if e.n else "no value"


def _direction(c: Contrast) -> str:
    return c.verdict("larger", "smaller")


def _evolution_text(r: Result, layer: Layer) -> str:
    first, at = 0, r.marks.index(r.horizon)
    parts = [f"{'no dropout' if e.condition == r.off else 'dropout'} "
             f"{_value(e.cells[first])} → {_value(e.cells[at])}"
             for e in r.evolution if e.layer == layer.layer]
    c = layer.eval_ratio
    return (f"layer {layer.layer}: {', '.join(parts)}; there the dropout model's is "
            f"{c.quantity.text(c.primary)} the other's ({_direction(c)})")


def _takeaway(r: Result) -> str:
    ratios = ", ".join(f"layer {c.layer}: {words.ratio(c.ratio, 4)}" for c in r.check)
    if any(c.deviates for c in r.check):
        head = ("The measured post-mask variance departs from what the closed form predicts from "
                f"the pre-mask mean and variance (measured/predicted {ratios}) — a deviation "
                f"beyond {100 * TOLERANCE:g}% that needs investigating")
    elif all(c.agrees for c in r.check):
        head = ("The mask raises the variance by what the closed form predicts from the pre-mask "
                f"mean and variance, within {100 * TOLERANCE:g}% (measured/predicted {ratios})")
    else:
        head = ("The measured post-mask variance is consistent with the closed form "
                f"(measured/predicted {ratios}), but its intervals are wider than "
                f"±{100 * TOLERANCE:g}%")
    return (head + "; the extra variance is noise that exists only in training: in eval mode "
            "the network sees none of it, and the comparison of the two trained networks there "
            "is the eval-mode ratio above.")


def context(r: Result) -> dict:
    when = (f"At the end of training ({r.last_epoch:g} epochs)" if r.at_end else
            f"At epoch {r.horizon:g}, two epochs before the first run diverged (all seeds "
            "alive)")
    amp = "; ".join(f"layer {x.layer}: {words.ratio(x.amplification)} (closed form "
                    f"{words.ratio(x.predicted)})" for x in r.layers)
    cross = "; ".join(f"layer {x.layer}: {words.ratio(x.train_ratio)}" for x in r.layers)
    answer = (f"{when}, dropout's mask multiplies the train-time variance of the dropout model's "
              f"activations by {amp}. Against the no-dropout model's activations the train-time "
              f"variance is {cross}. In eval mode, from initialisation to epoch {r.horizon:g}, "
              "the variance goes " + "; ".join(_evolution_text(r, x) for x in r.layers) + ".")
    table = [{"layer": x.layer, "off_var_eval": words.number(x.off_eval, 3),
              "on_var_pre": words.number(x.on_pre, 3),
              "on_var_post": words.number(x.on_post, 3),
              "on_var_eval": words.number(x.on_eval, 3),
              "amplification": words.ratio(x.amplification),
              "amplification_predicted": words.ratio(x.predicted),
              "train_ratio": words.ratio(x.train_ratio),
              "eval_ratio": x.eval_ratio.quantity.text(x.eval_ratio.primary),
              "eval_level": f"{100 * x.eval_ratio.primary.level:.2f}%",
              "eval_verdict": _direction(x.eval_ratio),
              "eval_robustness": x.eval_ratio.robustness()} for x in r.layers]
    return {"off": r.off, "on": r.on, "seeds": r.seeds, "probe_points": r.probe_points,
            "probe_size": r.probe_size, "horizon": f"{r.horizon:g}", "at_end": r.at_end,
            "last_epoch": f"{r.last_epoch:g}", "marks": [f"{e:g}" for e in r.marks],
            "table": table,
            "check": [{"layer": c.layer, "ratio": words.ratio(c.ratio, 4), "points": c.points,
                       "max_dev": f"{c.max_dev:.3f}"} for c in r.check],
            "evolution": [{"layer": e.layer, "condition": e.condition, "cells": [
                words.number(v, 3) + (f" (n={v.n})" if 0 < v.n < r.seeds else "")
                for v in e.cells]} for e in r.evolution],
            "excluded": r.excluded, "answer": answer, "takeaway": _takeaway(r)}


def _per_epoch(g: pd.DataFrame, col: str, level: float) -> pd.DataFrame:  # pragma: no mutate block
    """Per epoch, the geometric mean over runs and its interval (positive, for log axes)."""
    rows = []
    for epoch, x in g.groupby("epoch"):
        e = stats.geometric_mean_ci(x[col], level)
        rows.append({"epoch": max(float(epoch), 1e-3), "mean": e.value, "lo": e.lo, "hi": e.hi})
    return pd.DataFrame(rows, columns=["epoch", "mean", "lo", "hi"])


def draw(res: Results, r: Result, out: Path) -> dict[str, Path]:  # pragma: no mutate block
    from ..plots import PALETTE, band, panels, save

    acts = _activations(res)
    layers = [x.layer for x in r.layers]
    fig, axes = panels(len(layers) + 1, figsize=(5.4 * (len(layers) + 1), 4.4),
                             layout="constrained")
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
                band(ax, s["epoch"], s["mean"], s["lo"], s["hi"], f"{cond}: {what}",
                     PALETTE[i % len(PALETTE)])
                means.append(s["mean"].to_numpy(dtype=float))
                i += 1
        span = np.concatenate(means)
        span = span[np.isfinite(span) & (span > 0)]
        if span.size:  # the means set the range; a two-seed band may leave it
            ax.set_ylim(span.min() / 3, span.max() * 3)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("epoch (log scale; first points are early steps)")
        ax.set_ylabel("variance over probe examples x units (geometric mean)")
        ax.set_title(f"hidden layer {layer}")
        ax.legend(fontsize=7)
    ax = axes[-1]
    drop = acts[acts["rate"] > 0]
    for i, layer in enumerate(layers):
        s = _per_epoch(drop[drop["layer"] == layer], "ratio", res.level)
        band(ax, s["epoch"], s["mean"], s["lo"], s["hi"], f"layer {layer}",
             PALETTE[i % len(PALETTE)])
    ax.axhline(1.0, color="black", lw=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("epoch (log scale)")
    ax.set_ylabel("measured / closed-form variance (geometric mean)")
    ax.set_title("closed-form check (dropout model)")
    ax.legend(fontsize=8)
    return {"variance": save(fig, out / "ex3_variance.png")}


def headline(r: Result) -> Contrast | None:
    """The first hidden layer's eval-mode variance, dropout / none (a ratio, log scale)."""
    return r.layers[0].eval_ratio if r.layers else None


EXERCISE = Exercise(
    number=3, key="activation_variance", block=EXPERIMENT, reads=(EXPERIMENT,),
    title="The variance of the activations along training",
    analyze=analyze, context=context, draw=draw, headline=headline,
    glance=GlanceWords(
        question="Activation variance, with vs without dropout?",
        better="higher with dropout", worse="lower with dropout",
        answer_better="In eval mode the dropout model's first-layer activations vary more than "
                      "the no-dropout model's; the mask's extra variance exists in training only.",
        answer_worse="In eval mode the dropout model's first-layer activations vary less than "
                     "the no-dropout model's; the mask's extra variance exists in training only.",
        answer_none="In eval mode the two models' first-layer activation variances cannot be "
                    "told apart; the mask's extra variance exists in training only."))
