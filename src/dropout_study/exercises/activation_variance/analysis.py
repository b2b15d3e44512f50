"""Exercise 3's analysis: the probe rows of the long runs, each judged stable or not at its
epoch, -> a typed ``Result`` (per layer at the headline epoch, the ratios at the epochs read,
the closed-form check, the evolution in eval mode)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ... import stats
from ...contrast import Contrast, Ratio, Sample, compare
from ...instability import stable_epochs
from ...stats import Estimate
from ..long_training import arms

if TYPE_CHECKING:  # annotations only: Results.load reads the plan, which reads the registry
    from ...results import Results

EXPERIMENT = "long_training"
TOLERANCE = 0.02  # measured / closed form within 2%: the check passes
READ_AT = (1, 5, 10)  # the epochs ratios are read at (with the last), fixed in advance
HEADLINE_EPOCH = 10  # the reference model's training length (the last, where shorter)
CURVE_RUNS = 2  # a curve of figure 6 is drawn where at least this many runs are stable
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
    collapsed: list[str] = field(default_factory=list)  # stable runs' transient collapses
    k: int = 3  # the instability rule's window: a run is left out for k epochs from a collapse
    lr: float = float("nan")  # the learning rate the models were trained at
    off_unstable: int = 0  # no-dropout runs unstable by the rule (at their endpoint or before)
    # condition -> the probed epochs at which fewer than CURVE_RUNS of its runs are stable
    # (its curve leaves them out)
    thin_at: dict[str, list[float]] = field(default_factory=dict)
    stops_at: dict[str, float] = field(default_factory=dict)  # its last point drawn, before a
    # gap to the end (absent: the curve reaches the last epoch, or draws no point)

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
    excluded, collapsed = [], []
    for r in ends.sort_values(["condition", "seed"]).itertuples():
        if r.unstable:
            if r.never_trained:
                excluded.append(f"{r.condition} seed {r.seed} (never trained)")
                continue
            what = "diverged" if r.diverged_run else "unstable at its endpoint"
            excluded.append(f"{r.condition} seed {r.seed} ({what} from epoch "
                            f"{r.unstable_epoch:g})")
        elif r.collapse:  # left out near each collapse too (referee read 4, 3)
            at = r.collapse_epochs or f"{r.collapse_epoch:g}"
            collapsed.append(f"{r.condition} seed {r.seed} (epoch{'s' if ',' in at else ''} "
                             f"{at})")
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
    counts = (acts[acts["stable_at"] & acts["var_eval"].notna() & (acts["layer"] == layers_n[0])]
              .groupby(["condition", "epoch"])["seed"].nunique())
    thin_at, stops_at = {}, {}
    for cond in (off, on):
        n = counts.get(cond, pd.Series(dtype=int)).reindex(probed, fill_value=0)
        few = [float(e) for e, k in n.items() if k < CURVE_RUNS]
        if few:
            thin_at[cond] = few
            ok = [float(e) for e, k in n.items() if k >= CURVE_RUNS]
            if few[-1] == probed[-1] and ok:  # its last point: the curve stops after it
                stops_at[cond] = max(ok)
    return Result(off=off, on=on, seeds=len(seeds), lr=float(ends["lr"].iloc[0]),
                  off_unstable=int(ends.loc[ends["condition"] == off, "unstable"].sum()),
                  thin_at=thin_at, stops_at=stops_at,
                  probe_points=int(acts["step"].nunique()),
                  probe_size=int(res.cfg["data"]["probe_size"]), horizon=horizon,
                  last_epoch=last_epoch, read=read, marks=marks, layers=layers, ratios=ratios,
                  check=_check(acts, lvl), evolution=evolution, excluded=excluded,
                  collapsed=collapsed, k=res.k)
