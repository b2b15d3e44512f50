"""Exercise 3: the variance of the activations in each hidden layer, with and without dropout.

Trains nothing: it reads the activation statistics that the ``long_training`` runs (exercise
2) log on a fixed probe batch along training (see ``train.activation_stats``). Every quantity
read at an epoch uses the runs stable at that epoch (``instability.stable_epochs``), and the
epochs are fixed in advance (``READ_AT`` and the last; the headline at ``HEADLINE_EPOCH``),
never chosen from the outcome. Reports, per hidden layer at the headline epoch, the variance
before and after the dropout mask (train mode) and in eval mode, as geometric means over runs;
the mask's amplification and the cross-model ratios a / b (paired by seed, on the log scale);
the eval-mode ratio dropout / none at every epoch read, one Holm family over layers × epochs;
how the eval-mode variance evolves; and the check of the measured post-mask variance against
the closed form Var[h′] = (Var[h] + p·E[h]²)/(1 − p).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .. import stats, words
from ..contrast import MIN_PAIRS, Contrast, Ratio, Sample, compare
from ..instability import stable_epochs
from ..stats import Estimate
from .base import Exercise, GlanceWords
from .long_training import arms

if TYPE_CHECKING:  # annotations only: Results.load reads the plan, which reads the registry
    from ..results import Results

EXPERIMENT = "long_training"
TOLERANCE = 0.02  # measured / closed form within 2%: the check passes
READ_AT = (1, 5, 10)  # the epochs ratios are read at (with the last), fixed in advance
HEADLINE_EPOCH = 10  # the reference model's training length (the last, where shorter)
EVAL = Ratio(what="eval-mode activation variance")
TRAIN = Ratio(what="train-time activation variance (dropout after its mask)")


def closed_form(var_pre, mean_pre, p):
    """Var[h′] for h′ = h·m/(1 − p), m ~ Bernoulli(1 − p) independent of h."""
    return (var_pre + p * mean_pre ** 2) / (1 - p)


@dataclass(frozen=True)
class Layer:
    """One hidden layer at the headline epoch: geometric means over the runs stable there,
    ratios paired by seed over the pairs stable in both."""

    layer: int
    off_eval: Estimate  # no dropout (train mode equals eval mode there)
    on_pre: Estimate  # dropout model, train mode, before the mask
    on_post: Estimate  # dropout model, train mode, after the mask
    on_eval: Estimate  # dropout model, eval mode
    amplification: Estimate  # after / before the mask, within the dropout model
    predicted: Estimate  # the closed form / before the mask
    train_ratio: Contrast  # log train-time variance, dropout after its mask / none (Holm
    # over the layers): a comparison of two models, so with its n and its verdict
    eval_ratio: Contrast  # log eval variance, dropout / none, at the headline epoch


@dataclass(frozen=True)
class Check:
    layer: int
    ratio: Estimate  # measured / closed form: geometric mean over runs of each run's geometric
    # mean over its probe points (those where the run is stable)
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
    cells: list[Estimate]  # eval-mode variance at each of ``Result.marks``, stable runs only


@dataclass(frozen=True)
class Result:
    off: str
    on: str
    seeds: int
    probe_points: int
    probe_size: int
    horizon: float  # the headline epoch: HEADLINE_EPOCH, or the last if training is shorter
    last_epoch: float
    read: list[float]  # the epochs the ratios are read at (READ_AT and the last, probed ones)
    marks: list[float]  # the epochs of the evolution table: the initialisation and ``read``
    layers: list[Layer]
    ratios: dict[tuple[int, float], Contrast]  # (layer, epoch) -> eval ratio (one Holm family)
    check: list[Check]
    evolution: list[Evolution]
    excluded: list[str]  # runs unstable or diverged by the rule, in words

    @property
    def at_end(self) -> bool:
        return self.horizon == self.last_epoch


def _activations(res: Results) -> pd.DataFrame:
    """The probe rows of the experiment, each with the closed form and whether its run is
    stable at the probe's epoch (``stable_at``: the rule on the window that ends at the last
    completed epoch; a probe inside the first epoch has nothing completed to judge, and counts
    as stable while its run has values)."""
    acts = res.activations
    acts = acts[acts["experiment"] == EXPERIMENT].copy()
    acts["predicted"] = closed_form(acts["var_pre"], acts["mean_pre"], acts["rate"])
    acts["ratio"] = acts["var_post"] / acts["predicted"]
    metrics = res.metrics[res.metrics["experiment"] == EXPERIMENT]
    stab = stable_epochs(metrics, res.k)[["condition", "seed", "epoch", "stable_at"]]
    acts["done"] = np.floor(acts["epoch"].astype(float)).astype(int)
    stab = stab.assign(done=stab["epoch"].astype(int)).drop(columns="epoch")
    acts = acts.merge(stab, on=["condition", "seed", "done"], how="left")
    acts["stable_at"] = acts["stable_at"].astype("boolean").fillna(acts["done"] < 1)
    return acts.drop(columns="done")


def read_epochs(probed: list[float]) -> list[float]:
    """The epochs a ratio is read at, fixed before any result is seen: ``READ_AT`` and the
    last probed epoch, those beyond the last left out (clipped to the run length)."""
    last = max(probed)
    return sorted({float(e) for e in READ_AT if e < last and e in probed} | {last})


def headline_epoch(probed: list[float]) -> float:
    """``HEADLINE_EPOCH`` (the reference model's training length) where it was probed, else
    the last probed epoch (a shorter run)."""
    return float(HEADLINE_EPOCH) if HEADLINE_EPOCH in probed else float(max(probed))


def _check(acts: pd.DataFrame, level: float) -> list[Check]:
    drop = acts[(acts["rate"] > 0) & acts["stable_at"]]
    out = []
    for layer, g in drop.groupby("layer"):
        per_run = g.groupby(["condition", "seed"])["ratio"].apply(
            lambda r: float(np.exp(np.log(r).mean())))
        out.append(Check(int(layer), stats.geometric_mean_ci(per_run, level), len(g),
                         float((g["ratio"] - 1).abs().max())))
    return out


def _at(acts: pd.DataFrame, epoch: float, layer: int, col: str, seeds: list[int],
        cond: str) -> tuple[pd.Series, pd.Series]:
    """One model's ``col`` at (epoch, layer) by seed, and whether each run is stable there (a
    run without a row, e.g. diverged, is not)."""
    g = acts[(acts["epoch"] == epoch) & (acts["layer"] == layer) & (acts["condition"] == cond)]
    g = g.set_index("seed").reindex(seeds)
    return g[col].astype(float), g["stable_at"].astype("boolean").fillna(False).astype(bool)


def _train_sample(acts: pd.DataFrame, epoch: float, layer: int, seeds: list[int], on: str,
                  off: str) -> Sample:
    """The dropout model's train-time variance after its mask against the no-dropout model's,
    by seed, on the log scale (a model without dropout has the same variance in train and eval
    mode)."""
    a, sa = _at(acts, epoch, layer, "var_post", seeds, on)
    b, sb = _at(acts, epoch, layer, "var_eval", seeds, off)
    return Sample(np.log(a.where(a > 0)), np.log(b.where(b > 0)), sa, sb)


def analyze(res: Results) -> Result:
    lvl = res.level
    off, on = arms(res.cfg)
    acts = _activations(res)
    ends = res.ends(EXPERIMENT)
    seeds = sorted(int(s) for s in ends["seed"].unique())
    excluded = []
    for r in ends.sort_values(["condition", "seed"]).itertuples():
        if r.unstable:
            if r.never_trained:
                excluded.append(f"{r.condition} seed {r.seed} (never trained)")
                continue
            what = "diverged" if r.diverged_run else "unstable at its endpoint"
            excluded.append(f"{r.condition} seed {r.seed} ({what} from epoch "
                            f"{r.unstable_epoch:g})")
    probed = sorted(float(e) for e in acts["epoch"].unique())
    last_epoch = max(probed)
    horizon = headline_epoch(probed)
    read = read_epochs(probed)
    layers_n = sorted(int(x) for x in acts["layer"].unique())

    family, keys = {}, {}
    for e in read:
        for layer in layers_n:
            a, sa = _at(acts, e, layer, "var_eval", seeds, on)
            b, sb = _at(acts, e, layer, "var_eval", seeds, off)
            keys[(layer, e)] = f"layer {layer}, epoch {e:g}"
            family[keys[(layer, e)]] = Sample(np.log(a.where(a > 0)), np.log(b.where(b > 0)),
                                              sa, sb)
    contrasts = compare(family, lvl, EVAL)
    ratios = {k: replace(contrasts[name], label=f"{on} / {off}") for k, name in keys.items()}

    train = compare({f"layer {layer}": _train_sample(acts, horizon, layer, seeds, on, off)
                     for layer in layers_n}, lvl, TRAIN)
    layers = []
    for layer in layers_n:
        def at(col: str, cond: str, layer: int = layer) -> pd.Series:
            v, ok = _at(acts, horizon, layer, col, seeds, cond)
            return v.where(ok)

        pre, post, ev_on = at("var_pre", on), at("var_post", on), at("var_eval", on)
        pred, ev_off = at("predicted", on), at("var_eval", off)
        layers.append(Layer(
            layer=layer, off_eval=stats.geometric_mean_ci(ev_off, lvl),
            on_pre=stats.geometric_mean_ci(pre, lvl),
            on_post=stats.geometric_mean_ci(post, lvl),
            on_eval=stats.geometric_mean_ci(ev_on, lvl),
            amplification=stats.log_ratio(post, pre, lvl),
            predicted=stats.log_ratio(pred, pre, lvl),
            train_ratio=replace(train[f"layer {layer}"], label=f"{on} / {off}"),
            eval_ratio=ratios[(layer, horizon)]))

    # the evolution in eval mode: at initialisation, then at the epochs read
    marks = sorted(({probed[0]} if probed[0] < 1 else set()) | set(read))
    ok = acts[acts["stable_at"]]
    evolution = [Evolution(layer, cond, [
        stats.geometric_mean_ci(ok.loc[(ok["layer"] == layer) & (ok["condition"] == cond)
                                       & (ok["epoch"] == e), "var_eval"], lvl) for e in marks])
        for layer in layers_n for cond in (off, on)]
    return Result(off=off, on=on, seeds=len(seeds),
                  probe_points=int(acts["step"].nunique()),
                  probe_size=int(res.cfg["data"]["probe_size"]), horizon=horizon,
                  last_epoch=last_epoch, read=read, marks=marks, layers=layers, ratios=ratios,
                  check=_check(acts, lvl), evolution=evolution, excluded=excluded)


# -- words -------------------------------------------------------------------------------------
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
        head = ("The mask raises the variance by what the closed form predicts from the pre-mask "
                f"mean and variance, within {100 * TOLERANCE:g}% (measured/predicted {ratios})")
    else:
        head = ("The measured post-mask variance is consistent with the closed form "
                f"(measured/predicted {ratios}), but its intervals are wider than "
                f"±{100 * TOLERANCE:g}%")
    return (head + "; the extra variance is noise that exists only in training: in eval mode "
            "the network sees none of it, and the comparison of the two trained networks there "
            "is the eval-mode ratio above.")


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
    n, tested = len(ratios), sum(c.tested for c in ratios.values())
    if tested == 0:
        return (f"none of the {n} layer × epoch ratios has the {MIN_PAIRS} seed pairs stable in "
                "both models a verdict needs, so none is tested or corrected")
    if tested == n:
        return f"Holm-corrected over all {n} layer × epoch ratios"
    return (f"Holm-corrected over the {tested} of the {n} layer × epoch ratios with at least "
            f"{MIN_PAIRS} seed pairs stable in both models; the other {n - tested} get no "
            "verdict")


def context(r: Result) -> dict:
    when = (f"At the end of training (epoch {r.last_epoch:g})" if r.at_end else
            f"At epoch {r.horizon:g} (the headline epoch; training ran to {r.last_epoch:g})")
    amp = "; ".join(f"layer {x.layer}: {words.ratio(x.amplification)} over "
                    f"{_runs(x.amplification.n)} (closed form {words.ratio(x.predicted)})"
                    for x in r.layers)
    cross = "; ".join(f"layer {x.layer}: {_ratio_text(x.train_ratio)} "
                      f"({_direction(x.train_ratio)})" for x in r.layers)
    answer = (f"{when}, over the runs stable there, dropout's mask multiplies the train-time "
              f"variance of the dropout model's activations by {amp} (ratio after / before, "
              f"within each run). Against the no-dropout model's activations the train-time "
              f"variance is {cross} (ratio dropout / none, paired by seed, Holm-corrected over "
              f"the layers). In eval mode, from initialisation to epoch "
              f"{r.horizon:g}, the variance goes "
              + "; ".join(_evolution_text(r, x) for x in r.layers) + ".")
    table = [{"layer": x.layer, "off_var_eval": words.number(x.off_eval, 3),
              "on_var_pre": words.number(x.on_pre, 3),
              "on_var_post": words.number(x.on_post, 3),
              "on_var_eval": words.number(x.on_eval, 3),
              "amplification": words.ratio(x.amplification),
              "amplification_predicted": words.ratio(x.predicted),
              "train_ratio": x.train_ratio.quantity.text(x.train_ratio.primary),
              "train_pairs": x.train_ratio.pairs,
              "eval_ratio": x.eval_ratio.quantity.text(x.eval_ratio.primary),
              "eval_level": x.eval_ratio.level_text,
              "eval_verdict": _direction(x.eval_ratio),
              "eval_robustness": x.eval_ratio.robustness()} for x in r.layers]
    over = [{"layer": layer, "epoch": f"{e:g}", "ratio": _ratio_text(c),
             "pairs": c.pairs, "level": c.level_text,
             "verdict": _direction(c), "instability": _instability(c, e),
             "robustness": c.robustness()} for (layer, e), c in r.ratios.items()]
    return {"off": r.off, "on": r.on, "seeds": r.seeds, "probe_points": r.probe_points,
            "probe_size": r.probe_size, "horizon": f"{r.horizon:g}", "at_end": r.at_end,
            "last_epoch": f"{r.last_epoch:g}", "marks": [f"{e:g}" for e in r.marks],
            "read": [f"{e:g}" for e in r.read], "rule": rule(r), "n_ratios": len(r.ratios),
            "holm_over": holm_over(r.ratios),
            "table": table, "ratios": over,
            "check": [{"layer": c.layer, "ratio": words.ratio(c.ratio, 4), "points": c.points,
                       "max_dev": f"{c.max_dev:.3f}"} for c in r.check],
            "evolution": [{"layer": e.layer, "condition": e.condition, "cells": [
                words.number(v, 3) + (f" (n={v.n})" if 1 < v.n < r.seeds else "")
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
    acts = acts[acts["stable_at"]]  # each epoch's stable runs, as in the analysis
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
    """The first hidden layer's eval-mode variance at the headline epoch, dropout / none (a
    ratio, log scale)."""
    return r.layers[0].eval_ratio if r.layers else None


AT_HEADLINE = f"At the headline epoch ({HEADLINE_EPOCH}, or the last of a shorter run), "
EXERCISE = Exercise(
    number=3, key="activation_variance", block=EXPERIMENT, reads=(EXPERIMENT,),
    title="The variance of the activations along training",
    analyze=analyze, context=context, draw=draw, headline=headline,
    glance=GlanceWords(
        question="Activation variance, with vs without dropout?",
        better="higher with dropout", worse="lower with dropout",
        answer_better=AT_HEADLINE + "in eval mode the "
                      "dropout model's first-layer activations vary more than the no-dropout "
                      "model's; the mask's extra variance exists in training only.",
        answer_worse=AT_HEADLINE + "in eval mode the "
                     "dropout model's first-layer activations vary less than the no-dropout "
                     "model's; the mask's extra variance exists in training only.",
        answer_none=AT_HEADLINE + "in eval mode the "
                    "two models' first-layer activation variances show no detectable difference "
                    "(ratio dropout / none); the mask's extra variance exists in training only."))
