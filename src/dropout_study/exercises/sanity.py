"""Exercise 10: sanity rows — our dropout against torch's, vanilla against inverted, a sweep.

Trains the reference MLP at the reference rates with our inverted dropout, with
``torch.nn.functional.dropout`` fed from the same noise streams and with vanilla dropout (no
rescaling in training, scaled by 1−p at test), all logging activation statistics on the probe
batch; and a drop-rate sweep (the same p on both layers). Reports torch.nn.Dropout − ours with
an equivalence test (TOST) that never calls a significant difference "equivalent", vanilla −
inverted, the train-mode over eval-mode mean activation of layer 1 (whose expectation is 1 for
both conventions), and the sweep's endpoints and loss curves.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .. import stats, words
from ..contrast import Contrast, Sample, compare, condition_contrast
from ..experiments import base_condition, rates_name
from ..stats import Estimate
from .base import Exercise, GlanceWords
from .common import ConditionRow, accuracy, design, points, rise, rows_words, summarize

if TYPE_CHECKING:  # annotations only: Results.load reads the plan, which reads the registry
    from ..results import Results

EXPERIMENT = "sanity"
COLUMNS = [accuracy("endpoint"), accuracy("last"), points("gap"), rise("overfit")]
TORCH = "torch.nn.Dropout − ours"
CALIBRATION = "dropout (stream B)"
AA = "A/A: ours on stream B − ours"
VANILLA = "vanilla − inverted"
EQUIVALENT, DIFFERENT, NOT_SHOWN, NO_VERDICT = ("equivalent", "different", "not shown",
                                                "no verdict")


def conditions(cfg: dict):
    """Our dropout vs torch's, vanilla vs inverted, and a drop-rate sweep."""
    e = cfg["experiments"][EXPERIMENT]
    ref = tuple(float(x) for x in cfg["training"]["rates"])
    out = [base_condition(cfg, EXPERIMENT, name=f"{noise},{rates_name(*ref)}", noise=noise,
                          rates=ref, probe=True, factors={"role": role})
           for noise, role in (("dropout", "reference"), ("torch_dropout", "torch"),
                               ("dropout_vanilla", "vanilla"))]
    out += [base_condition(cfg, EXPERIMENT, name=f"sweep,p={p:g}", rates=(float(p), float(p)),
                           factors={"role": "sweep", "p": float(p)}) for p in e["sweep"]]
    # the A/A calibration: the reference again, its masks from another stream, all else equal
    out.append(base_condition(cfg, EXPERIMENT, name=f"{CALIBRATION},{rates_name(*ref)}",
                              rates=ref, probe=True, noise_stream="noise-calibration",
                              factors={"role": "calibration"}))
    return out


@dataclass(frozen=True)
class Result:
    design: dict
    ref: str  # condition names: ours (inverted), torch's, vanilla
    torch: str
    vanilla: str
    margin: float  # equivalence margin, in accuracy (0.01 = 1 point)
    torch_diff: Contrast  # torch.nn.Dropout − ours, Holm-corrected with vanilla − inverted
    torch_tost: Contrast  # the same at 1 − 2α: the two one-sided tests' interval
    vanilla_diff: Contrast  # vanilla − inverted, Holm-corrected with torch − ours
    ratios: dict[str, Estimate]  # condition -> train-mode / eval-mode mean of layer 1, over
    # seeds (each seed the geometric mean of its probe points: they share the seed's weights)
    ratio_level: float  # Bonferroni over the rows tested against 1 (``ratios``)
    sweep: list[ConditionRow]
    calibration: Contrast | None  # the A/A row: must come out "no difference"
    points: int = 0  # probe points per run behind each seed's ratio

    @property
    def equivalence(self) -> str:
        """Equivalent only when the TOST interval lies inside ±margin *and* the difference is
        not significant: two implementations of one distribution that differ significantly
        are a defect to explain, never "equivalent"."""
        if not self.torch_diff.tested:
            return NO_VERDICT
        if self.torch_diff.claim:
            return DIFFERENT
        e = self.torch_tost.primary
        if e.has_interval and -self.margin < e.lo and e.hi < self.margin:
            return EQUIVALENT
        return NOT_SHOWN

    @property
    def conventions(self) -> list[str]:
        return [self.ref, self.vanilla]


def mean_ratios(res: Results, conds: list[str], level: float) -> dict[str, Estimate]:
    """Layer 1's mean activation in train mode over its eval-mode mean, over the trained probe
    points (the step-0 probe, the initialisation, identical across a seed's conditions, is
    left out). The probe points of a run are read from one model along its training (fresh
    masks each, the same seed's weights): they are not independent replicates, the seed is.
    So each seed gives one value, the mean of its points' log ratios, and the estimate is over
    seeds (see ``seed_ratio_ci``)."""
    first = _trained_probes(res)
    if first.empty:
        return {c: stats.geometric_mean_ci([], level) for c in conds}
    log_ratio = np.log(first["mean_post"] / first["mean_eval"])
    by = log_ratio.groupby(first["condition"])
    return {c: seed_ratio_ci(by.get_group(c), first.loc[by.get_group(c).index, "seed"], level)
            if c in by.groups else stats.geometric_mean_ci([], level) for c in conds}


def seed_ratio_ci(log_ratio, seed, level: float) -> Estimate:
    """The geometric mean ratio over seeds, each seed the mean of its probe points' log
    ratios, with a t-interval on k − 1 degrees of freedom whose variance of a seed's mean is
    at least what its probe points' scatter implies (pooled within-seed variance / points):
    a seed's mean carries that mask noise whatever the seeds happen to show, and k = 3 seed
    means can agree far more closely than it allows by chance."""
    from scipy import stats as st

    g = np.asarray(log_ratio, dtype=float)
    groups = [g[np.asarray(seed) == s] for s in np.unique(np.asarray(seed))]
    groups = [x[np.isfinite(x)] for x in groups]
    groups = [x for x in groups if x.size]
    means = np.array([x.mean() for x in groups])
    k = means.size
    if k < 2:
        return Estimate(float(np.exp(means.mean())) if k else float("nan"), n=k, level=level)
    between = float(means.var(ddof=1))
    spread = [x for x in groups if x.size > 1]
    within = (sum(float(((x - x.mean()) ** 2).sum()) for x in spread)
              / sum(x.size - 1 for x in spread)) if spread else 0.0
    per_seed = max(between, within / float(np.mean([x.size for x in groups])))
    m = float(means.mean())
    half = float(st.t.ppf(1 - (1 - level) / 2, k - 1)) * (per_seed / k) ** 0.5
    return Estimate(m, m - half, m + half, k, level).mapped(np.exp)


def _trained_probes(res: Results):
    acts = res.activations
    if acts.empty:
        return acts
    first = acts[(acts["experiment"] == EXPERIMENT) & (acts["layer"] == 1)]
    return first[first["step"] > 0] if "step" in first else first


def probe_points(res: Results) -> int:
    """The trained probe points per run of layer 1 (the most any run has; step 0 left out):
    what each seed's value averages."""
    first = _trained_probes(res)
    return int(first.groupby(["condition", "seed"]).size().max()) if len(first) else 0


def analyze(res: Results) -> Result:
    lvl = res.level
    ends = res.ends(EXPERIMENT)
    margin = float(res.cfg["experiments"][EXPERIMENT].get("equivalence_margin", 0.01))
    roles = ends.drop_duplicates("condition").set_index("factor_role")["condition"]
    ref, torch_c, vanilla = (str(roles[k]) for k in ("reference", "torch", "vanilla"))
    calibration = (condition_contrast(ends, str(roles["calibration"]), ref, lvl, label=AA)
                   if "calibration" in roles else None)
    sweep = ends[ends["factor_role"] == "sweep"]
    order = list(sweep.drop_duplicates("condition").sort_values("factor_p")["condition"])
    tested = [ref, vanilla, torch_c]  # each row tested against 1: Bonferroni over them all
    ratio_level = 1 - (1 - lvl) / len(tested)
    # the two contrasts of test accuracy against our dropout are one Holm family (the A/A
    # calibration stays at the study's level: a check is strictest uncorrected)
    family = compare({TORCH: Sample.of(ends, torch_c, ref),
                      VANILLA: Sample.of(ends, vanilla, ref)}, lvl)
    return Result(
        design=design(ends, res.k), ref=ref, torch=torch_c, vanilla=vanilla, margin=margin,
        torch_diff=family[TORCH],
        torch_tost=condition_contrast(ends, torch_c, ref, 1 - 2 * (1 - lvl), label=TORCH),
        vanilla_diff=family[VANILLA],
        ratios=mean_ratios(res, tested, ratio_level), points=probe_points(res),
        ratio_level=ratio_level, sweep=summarize(sweep, order, COLUMNS, lvl),
        calibration=calibration)


def _points(x: float) -> str:
    return f"{100 * x:g}"


def _equivalence_words(r: Result) -> str:
    t = r.torch_diff
    if r.equivalence == EQUIVALENT:
        return (f"equivalent within ±{_points(r.margin)} points (the "
                f"{100 * r.torch_tost.primary.level:.0f}% interval lies inside the margin and "
                "the difference is not significant)")
    if r.equivalence == DIFFERENT:
        return ("not equivalent: a significant difference ("
                + t.verdict("torch's layer is better", "ours is better")
                + "), a defect to find and explain")
    if r.equivalence == NOT_SHOWN:
        return (f"equivalence within ±{_points(r.margin)} points not shown at "
                f"{words.seeds(t.pairs)}; " + t.verdict("", ""))
    return t.verdict("", "")


def status(r: Result) -> str:
    """The one verdict on our layer against torch's, in the words both the section and the
    summary table print: equivalent only where the equivalence interval lies inside the margin
    and the difference is not significant; a significant difference is a defect; otherwise
    not shown, with the resolution."""
    t, tost, m = r.torch_diff, r.torch_tost, _points(r.margin)
    at = words.seeds(t.pairs)
    if r.equivalence == EQUIVALENT:
        # with the interval the verdict rests on: the row's headline interval is the Holm one
        # (referee, full study, second read: the row showed [-0.24, +0.22] at 97.50% only)
        return (f"equivalent within ±{m} points at {at} (the {100 * tost.primary.level:.0f}% "
                f"equivalence interval {tost.quantity.text(tost.primary)} lies inside ±{m})")
    if r.equivalence == DIFFERENT:
        side = "torch's higher" if t.direction > 0 else "ours higher"
        return f"not equivalent: they differ significantly ({side}), a defect to find and explain"
    if r.equivalence == NOT_SHOWN:
        return (f"not shown equivalent within ±{m} points at {at}: the "
                f"{100 * tost.primary.level:.0f}% interval reaches beyond the margin, and no "
                f"difference is detected either{t.resolution()}")
    return t.verdict("", "")


def _ratio_words(r: Result) -> str:
    e = {c: r.ratios[c] for c in r.conventions}
    return (f"the train-mode mean activation over the eval-mode one (layer 1, which both see "
            f"the same input) is {words.number(e[r.ref], 4)} for inverted and "
            f"{words.number(e[r.vanilla], 4)} for vanilla dropout "
            f"({100 * r.ratio_level:.4g}% intervals, "
            + (f"each over {words.seeds(e[r.ref].n)}" if e[r.ref].n == e[r.vanilla].n else
               f"over {words.seeds(e[r.ref].n)} and {words.seeds(e[r.vanilla].n)}")
            + f"; a seed's value is the mean of its {r.points} probe points)")


def _departs(r: Result) -> str:
    """The sentence of a convention whose ratio departs from 1 (its interval, floored at the
    probe points' scatter, excludes 1), or "" where none does: the section's lead and the
    summary row's, one wording."""
    e = {c: r.ratios[c] for c in r.conventions}
    off = [c for c in r.conventions if e[c].has_interval and not e[c].contains(1.0)]
    if not off:
        return ""
    shown = words.join([f"{c} ({words.number(e[c], 4)}, over {words.seeds(e[c].n)})"
                        for c in off])  # with its size: how far from 1, on how many
    return (f"The train-mode / eval-mode ratio departs from 1 for {shown}, which needs "
            "investigating.")


def _takeaway(r: Result) -> str:
    e = {c: r.ratios[c] for c in r.conventions}
    unknown = [c for c in r.conventions if not e[c].has_interval]
    if _departs(r):
        head = _departs(r) + " "
    elif unknown:
        head = (f"The train-mode / eval-mode ratio of {words.join(unknown)} has too few seeds "
                "for an interval. ")
    else:
        # a null on the one quantity checked (layer 1's mean activation), with how large a
        # departure each interval still allows
        def allows(c: str) -> str:
            far = max(abs(e[c].lo - 1.0), abs(e[c].hi - 1.0))
            return f"{words.number(e[c], 4)}, within ±{100 * far:.2f}% of 1"

        head = ("Only layer 1's mean activation was checked: its train-mode / eval-mode ratio "
                "shows no detectable departure from 1 for either convention ("
                + "; ".join(f"{c}: {allows(c)}" for c in r.conventions)
                + f"; {100 * r.ratio_level:.4g}% intervals over seeds, which rule out only a "
                "larger departure). Inverted dropout scales in "
                "training so that test time is the plain network, vanilla scales at test "
                "time. ")
    t = r.torch_diff
    tail = {
        EQUIVALENT: "Our layer and torch's are equivalent in accuracy within the stated margin.",
        DIFFERENT: (f"Our layer and torch's differ in accuracy ({t.difference()}): two "
                    "implementations of one distribution must agree, so this is a defect to "
                    "find and explain, not an equivalence."),
        NOT_SHOWN: (f"Whether our layer and torch's give the same accuracy distribution is not "
                    f"settled at {words.seeds(t.pairs)} (the equivalence interval is wider "
                    f"than ±{_points(r.margin)} points)."),
        NO_VERDICT: f"Our layer against torch's: {t.verdict('', '')}.",
    }[r.equivalence]
    return head + tail


AA_PASS = "no difference, as it must be"
AA_FAIL = "a difference between two copies of one condition: the machinery invents effects"


def _calibration_words(r: Result) -> str:
    c = r.calibration
    if c is None:
        return "the A/A calibration row was not trained in this study"
    verdict = c.verdict(AA_FAIL, AA_FAIL)
    if not c.claim and c.tested:
        verdict = f"{AA_PASS}: {verdict}"
    return f"the A/A calibration, {c.difference()} ({verdict})"


def context(r: Result) -> dict:
    tost, van = r.torch_tost, r.vanilla_diff
    how = (f" ({100 * tost.primary.level:.0f}% interval, {words.seeds(tost.pairs)})"
           if tost.primary.has_interval else "")  # else its text says "no interval" itself
    answer = (f"{TORCH}: {tost.quantity.text(tost.primary)}{how}: "
              + _equivalence_words(r)
              + f"; {VANILLA}: {van.quantity.text(van.primary)} ("
              + van.verdict("vanilla better", "vanilla worse") + "); " + _ratio_words(r) + "; "
              + _calibration_words(r) + ".")
    return {**r.design, "ref": r.ref, "torch": r.torch, "vanilla_c": r.vanilla,
            "equivalence": tost.quantity.text(tost.primary),
            "eq_level": f"{100 * tost.primary.level:.0f}%", "eq_status": r.equivalence,
            "status": status(r),
            # the summary table says what the section says, in the same words
            "glance_words": {"answer": f"Our dropout and torch.nn.Dropout: {status(r)}."
                             + (f" {_departs(r)}" if _departs(r) else ""),
                             "verdict": status(r)} if r.torch_diff.tested else None,
            "margin": _points(r.margin),
            "torch_row": r.torch_diff.row("torch's layer is better", "ours is better"),
            "vanilla_row": van.row("vanilla better", "vanilla worse"),
            "ratios": [{"condition": c, "ratio": words.number(e, 4), "n": e.n}
                       for c, e in r.ratios.items()],
            "ratio_level": r.ratio_level, "n_ratios": len(r.ratios), "points": r.points,
            "sweep": rows_words(r.sweep, COLUMNS),
            "calibration_row": (r.calibration.row(AA_FAIL, AA_FAIL)
                                if r.calibration is not None else None),
            "calibration": _calibration_words(r),
            "answer": answer, "takeaway": _takeaway(r)}


def draw(res: Results, r: Result, out: Path) -> dict[str, Path]:  # pragma: no mutate block
    from ..plots import PALETTE, band, panels, per_x, save

    conds = [row.condition for row in r.sweep]
    ends = res.ends(EXPERIMENT)
    stable = ends.loc[ends["stable"] & ends["condition"].isin(conds), ["condition", "seed"]]
    m = res.metrics[res.metrics["experiment"] == EXPERIMENT].merge(stable,
                                                                   on=["condition", "seed"])
    fig, ax = panels(1, figsize=(8, 4.4))
    for i, cond in enumerate(conds):
        g = m[m["condition"] == cond]
        name = cond.removeprefix("sweep,")  # "p=0.2": the sweep's rate, on both layers
        for metric, what, style in (("train_loss", "train", "-"), ("test_loss", "test", "--")):
            s = per_x(g, "epoch", metric, res.level, (0.0, float("inf")))
            band(ax, s["epoch"], s["mean"], s["lo"], s["hi"], f"{name}: {what}", PALETTE[i],
                 style)
    ax.set_xlabel("epoch")
    ax.set_ylabel("cross-entropy")
    ax.legend(fontsize=8)
    ax.set_title("drop-rate sweep (same p on both layers), stable runs")
    return {"sweep": save(fig, out / "ex10_sweep.png")}


EXERCISE = Exercise(
    number=10, key=EXPERIMENT, block=EXPERIMENT, reads=(EXPERIMENT,),
    title="Sanity rows: our dropout, torch's, vanilla and inverted, a rate sweep",
    analyze=analyze, context=context, draw=draw, trains={EXPERIMENT: conditions},
    headline=lambda r: r.torch_diff,
    glance=GlanceWords(
        question="Our dropout vs torch.nn.Dropout: the same?",
        better="they differ (torch's higher): a defect",
        worse="they differ (ours higher): a defect",
        answer_better="Our dropout and torch.nn.Dropout differ: a defect to find and explain.",
        answer_worse="Our dropout and torch.nn.Dropout differ: a defect to find and explain.",
        answer_none="Our dropout and torch.nn.Dropout: no difference detected, equivalence "
                    "not tested."))  # the section's own words (context "glance_words") replace it
