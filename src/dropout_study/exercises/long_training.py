"""Exercise 2: increase the number of epochs and compare the results with and without dropout.

Trains the reference MLP without dropout and with each dropout pair of the config for many
epochs (``experiments.long_training``), probing its activations along the way (exercise 3
reads those). Reports per condition the test accuracy, the best epochs, the rise of the test
loss above its minimum and the train − test gap over the stable runs; the headline contrast
dropout − none on test accuracy and on the loss rise (a ratio, on the log scale) as a Holm
family; and how many runs diverged in each arm, and when.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .. import presets, words
from ..contrast import (
    MIN_PAIRS,
    Contrast,
    Ratio,
    Sample,
    compare,
    compare_one,
    condition_contrast,
)
from ..errors import ConfigError
from ..experiments import base_condition, rates_name
from ..instability import stable_epochs
from ..spec import Condition
from .base import Exercise, GlanceWords
from .common import (
    Column,
    ConditionRow,
    accuracy,
    bounded_one,
    count,
    design,
    log_sample,
    overfit_words,
    points,
    rise,
    rise_text,
    rows_words,
    summarize,
    unstable_lr,
)

if TYPE_CHECKING:  # annotations only: Results.load reads the plan, which reads the registry
    from ..results import Results

EXPERIMENT = "long_training"
PROTOCOL_EPOCHS = 100  # STUDY.md: dropout against none for at least this many epochs


def columns(epochs: float = math.inf) -> list[Column]:
    """The per-condition table; an epoch number stays within 1..``epochs``."""
    def epoch(key: str) -> Column:
        return Column(key, count(key).fmt, (1.0, float(epochs)))

    return [accuracy("endpoint"), accuracy("last"), accuracy("at_best_val"), epoch("best_epoch"),
            epoch("test_loss_min_epoch"), rise("overfit"), rise("overfit_last"), points("gap")]


COLUMNS = columns()  # for the words (the bounds matter only when summarising)


RISE = Ratio(what="test-loss rise above its minimum")


def rate_pairs(cfg: dict) -> list[tuple[float, float]]:
    return [(float(a), float(b)) for a, b in cfg["experiments"][EXPERIMENT]["rates"]]


def check(cfg: dict) -> None:
    """Both arms must be trained: no dropout, and at least one pair with dropout."""
    pairs = rate_pairs(cfg)
    if (0.0, 0.0) not in pairs or not any(a or b for a, b in pairs):
        raise ConfigError(
            f"config key 'experiments.{EXPERIMENT}.rates': must include [0, 0] (no dropout) and "
            f"at least one pair with dropout, e.g. [0.2, 0.5]: exercises 2 and 3 compare the "
            f"two arms (got {[list(p) for p in pairs]})")


def arms(cfg: dict) -> tuple[str, str]:
    """No dropout, and the dropout setting compared with it: the first pair with dropout, in
    config order."""
    check(cfg)
    return rates_name(0.0, 0.0), rates_name(*next(p for p in rate_pairs(cfg) if any(p)))


def conditions(cfg: dict) -> list[Condition]:
    block = cfg["experiments"][EXPERIMENT]
    return [base_condition(cfg, EXPERIMENT, name=rates_name(*r), rates=tuple(r),
                           epochs=block["epochs"], probe=True,
                           checkpoint_every=block.get("checkpoint_every", 0),
                           factors={"dropout": "on" if any(r) else "off"})
            for r in block["rates"]]


@dataclass(frozen=True)
class Result:
    design: dict
    lr: float
    off: str  # no dropout
    on: str  # the dropout setting compared with it
    order: list[str]  # the conditions, in config order
    table: list[ConditionRow]
    accuracy: Contrast  # on − off, headline endpoint; Holm family with ``rise``
    rise: Contrast  # on − off on the log scale: the ratio of the test-loss rises
    zero_rise: int  # pairs stable in both arms with no rise in an arm (no ratio)
    rise_last: Contrast  # the same ratio at the last epoch (uncorrected, beside the headline)
    last: Contrast  # on − off, last epoch (uncorrected, beside the headline)
    at_best_val: Contrast  # on − off, test accuracy at the validation-best epoch
    gap: Contrast  # on − off, train − test gap
    diverged: dict[str, list[float]]  # condition -> the epochs its runs diverged (the rule)
    endpoint_unstable: dict[str, list[float]]  # ... from which runs were unstable to the end
    collapses: dict[str, list[float]]  # ... of transient collapses (stable runs, kept)
    runs: dict[str, int]  # condition -> runs
    never_trained: dict[str, int] = field(default_factory=dict)  # condition -> such runs
    level: float = 0.95  # the study's (a Holm step moves the family's intervals from it)
    data_departure: str = ""  # a preset's smaller training set, where it shapes the answer

    @property
    def eventful(self) -> bool:
        return any(self.diverged.values()) or any(self.endpoint_unstable.values()) \
            or any(self.collapses.values()) or any(self.never_trained.values())

    def row(self, condition: str) -> ConditionRow:
        return next(r for r in self.table if r.condition == condition)


def analyze(res: Results) -> Result:
    lvl = res.level
    ends = res.ends(EXPERIMENT)
    off, on = arms(res.cfg)
    order = [c for c in dict.fromkeys(rates_name(*p) for p in rate_pairs(res.cfg))
             if c in set(ends["condition"])]
    rise = Sample.of(ends, on, off, "overfit")
    family = compare({"accuracy": Sample.of(ends, on, off),
                      "rise": log_sample(ends, on, off, "overfit")}, lvl)
    label = f"{on} − {off}"
    both = rise.aligned()
    both = both[both["both"] & both["a"].notna() & both["b"].notna()]
    def epochs(flag: str, epoch: str) -> dict[str, list[float]]:
        """Per condition, the epochs of its runs that the rule marks ``flag``."""
        return {c: sorted(float(e) for e in
                          ends.loc[(ends["condition"] == c) & ends[flag].astype(bool), epoch])
                for c in order}

    diverged = epochs("diverged_run", "unstable_epoch")
    endpoint_unstable = epochs("endpoint_unstable", "unstable_epoch")
    collapses = epochs("collapse", "collapse_epoch")
    return Result(
        design=design(ends, res.k), lr=float(ends["lr"].iloc[0]), off=off, on=on, order=order,
        table=summarize(ends, order, columns(ends["epochs"].max()), lvl),
        accuracy=bounded_one(replace(family["accuracy"], label=label)),
        rise=replace(family["rise"], label=f"{on} / {off}", quantity=RISE),
        zero_rise=int(((both["a"] <= 0) | (both["b"] <= 0)).sum()),
        rise_last=compare_one(f"{on} / {off}", log_sample(ends, on, off, "overfit_last"), lvl,
                              RISE),
        last=bounded_one(condition_contrast(ends, on, off, lvl, column="last")),
        at_best_val=bounded_one(condition_contrast(ends, on, off, lvl, column="at_best_val")),
        gap=bounded_one(condition_contrast(ends, on, off, lvl, column="gap"), 2.0),
        diverged=diverged, endpoint_unstable=endpoint_unstable, collapses=collapses,
        runs={c: int((ends["condition"] == c).sum()) for c in order},
        never_trained={c: int(ends.loc[ends["condition"] == c, "never_trained"].sum())
                       for c in order}, level=lvl,
        data_departure=presets.data_departure(res.cfg, "fewer images overfit sooner and "
                                              "further, so its rises and gaps are not the full "
                                              "study's"))


# -- words -------------------------------------------------------------------------------------
def departure(r: Result) -> str:
    """Where this study trains fewer epochs than the protocol asks for, said where it applies
    (a preset's horizon); "" where it trains at least as many."""
    n = r.design["epochs"]
    if n >= PROTOCOL_EPOCHS:
        return ""
    return (f"This study departs from the protocol here: it trains {n} epochs, not the "
            f"{PROTOCOL_EPOCHS} or more the exercise asks for; its answer is about {n} epochs.")


def _events(epochs: list[float], what: str) -> str:
    when = (f" (at epoch{'s' if len(epochs) > 1 else ''} "
            f"{', '.join(f'{e:g}' for e in epochs)})" if epochs else "")
    return f"{len(epochs)} {what}{when}"


def _stability_text(r: Result, cond: str) -> str:
    """One arm's instability by kind, the rule's counts (those of the contrast's line): each
    failed run in one kind only, transient collapses only in stable runs."""
    n, k = r.runs[cond], len(r.collapses[cond])
    never = r.never_trained.get(cond, 0)
    collapse = (f"transient collapse{'' if k == 1 else 's'} of stable runs (recovered before "
                "the endpoint, runs kept)")
    return (f"{_events(r.diverged[cond], f'of {n} runs diverged')}, "
            f"{_events(r.endpoint_unstable[cond], 'unstable at the endpoint')}, "
            f"{never} never trained and "
            f"{_events(r.collapses[cond], collapse)}")


def _arm(row: ConditionRow, first: bool) -> str:
    """Around which epoch the test loss is lowest, how far it rises and the gap, in words, over
    the arm's stable runs (how many, said)."""
    who = "Without dropout" if first else "with dropout"
    e = row.values["test_loss_min_epoch"]
    if e.n == 0:
        return f"{who} no run stayed stable"
    rise = rise_text(row.values["overfit"], unit="nats" if first else "")
    gap = words.pp(row.values["gap"])
    over = f"over its {e.n} stable run{'s' if e.n != 1 else ''}"
    if rise.startswith("no rise yet"):  # censored in every run: no minimum within the runs
        return (f"{who}, {over}, the test loss still falls to a new low through the endpoint "
                f"window in every run (no rise yet; train − test gap {gap})")
    if first:
        return (f"{who}, {over}, the test loss is lowest around epoch {e.value:.0f} and stands "
                f"{rise} above that minimum over the endpoint window (train − test gap {gap})")
    return (f"{who}, {over}, the minimum comes around epoch {e.value:.0f}, the rise is {rise} "
            f"and the gap {gap}")


def _side_by_side(r: Result) -> str:
    """The two arms' overfitting side by side, only where they share enough stable seeds: a
    number from fewer than ``MIN_PAIRS`` seed pairs, or one run, is never set against another
    (the table gives each arm's values over its own stable runs)."""
    n = r.accuracy.pairs
    if n >= MIN_PAIRS:
        return f"{_arm(r.row(r.off), True)}; {_arm(r.row(r.on), False)}"
    have = f"{n} seed pair{'s' if n != 1 else ''}" if n else "no seed pair"
    return (f"The two arms' test-loss minima, rises and gaps are not set against each other: "
            f"{have} stable in both arms, at least {MIN_PAIRS} needed (the table gives each "
            "arm over its own stable runs)")


def _verdict(r: Result) -> str:
    acc, rise = r.accuracy, r.rise
    if not acc.tested:  # no sign or size read from too few pairs (STUDY.md, revision 4)
        return (f"With {acc.pairs} seed pair{'s' if acc.pairs != 1 else ''} stable in both arms "
                f"there is no verdict on dropout's effect at this horizon")
    less = rise.direction < 0
    # the claim carries its own corrected contrast, not the arms' numbers before it (referee 8)
    held = (f" ({rise.difference()} over {words.seeds(rise.pairs)}; a {rise.level_text} "
            "interval, Holm-corrected within its family)")
    if acc.direction > 0:
        return (f"Trained {r.design['epochs']} epochs, dropout ends ahead in test accuracy"
                + (f", and its test loss rises less above its minimum{held}" if less else ""))
    if acc.direction < 0:
        return ("Trained this long, dropout costs test accuracy"
                + (f", though its test loss rises less above its minimum{held}" if less else ""))
    quiet = acc.verdict("", "")  # "no detectable difference at n seeds: none larger than ..."
    if less:
        why = overfit_words(rise)[2] or "less overfitting in the loss"
        return (f"Dropout's test loss rises less above its minimum{held}: {why}; the accuracy "
                f"difference is not resolved at this horizon ({quiet})")
    return f"At this horizon the accuracy difference is not resolved ({quiet})"


def _takeaway(r: Result) -> str:
    return f"{_side_by_side(r)}. {_verdict(r)}."


def context(r: Result) -> dict:
    acc, rise, over = r.accuracy, r.rise, overfit_words(r.rise)
    if acc.pairs <= 1:
        which = ("no seed is stable in both arms" if acc.pairs == 0 else
                 "one seed alone is stable in both arms (a single run against a single run is "
                 "no finding)")
        answer = (f"After {r.design['epochs']} epochs at lr {r.lr:g} {which}, so accuracy and "
                  f"overfitting cannot be compared: unstable runs "
                  f"without dropout {words.rate(acc.unstable_b, acc.runs_b, acc.rate_b)}, "
                  f"with dropout {r.on} {words.rate(acc.unstable_a, acc.runs_a, acc.rate_a)} "
                  "(the rule is under Methods).")
    else:
        answer = (f"After {r.design['epochs']} epochs, dropout {r.on} changes the test accuracy "
                  f"(mean of the last {r.design['k']} epochs) by "
                  f"{acc.quantity.text(acc.primary)} against no dropout over "
                  f"{words.seeds(acc.pairs)} ({acc.verdict('better', 'worse')}), and multiplies "
                  f"the rise of the test loss above its minimum by "
                  f"{rise.quantity.text(rise.primary)} over {words.seeds(rise.pairs)} "
                  f"({'; '.join(x for x in (rise.verdict(*over[:2]), over[2]) if x)}).")
    if r.eventful:
        answer += (f" Stability is part of the answer (the instability rule's counts, under "
                   f"Methods): at lr {r.lr:g} over {r.design['epochs']} epochs, without dropout "
                   f"{_stability_text(r, r.off)}; with dropout {_stability_text(r, r.on)}. The "
                   f"comparisons rest on the seeds stable in both arms (trained, with no "
                   f"divergence and no instability at the endpoint).")
    one = r.zero_rise == 1
    zero = ("" if not r.zero_rise else
            f"{words.seeds(r.zero_rise)} whose test loss still falls through the endpoint window "
            "in an arm "
            f"(no rise) {'has' if one else 'have'} no ratio and {'is' if one else 'are'} left out "
            f"of it")
    return {**r.design, "on": r.on, "off": r.off, "lr": f"{r.lr:g}",
            "table": rows_words(r.table, COLUMNS),
            "accuracy": acc.row("dropout is better", "dropout is worse"),
            "rise": rise.row(*over[:2]),
            "zero_rise": zero,
            # beside the headline: none from a single seed pair (one run against one run)
            "diffs": None if max(c.pairs for c in (r.last, r.at_best_val, r.gap)) <= 1 else
            {"last": r.last.quantity.text(r.last.primary),
             "at_best_val": r.at_best_val.quantity.text(r.at_best_val.primary),
             "gap": r.gap.quantity.text(r.gap.primary),
             "rise_last": r.rise_last.quantity.text(r.rise_last.primary)},
            "glance_words": glance_words(r), "answer": answer, "caveat": _caveat(r)[0],
            "departure": " ".join(x for x in (departure(r), r.data_departure) if x),
            "takeaway": _takeaway(r)}


def draw(res: Results, r: Result, out: Path) -> dict[str, Path]:  # pragma: no mutate block
    from ..plots import PALETTE, band, panels, per_x, save

    # a curve at epoch e: the runs stable at e (STUDY.md), not only those stable at the end
    m = res.metrics[res.metrics["experiment"] == EXPERIMENT]
    at = stable_epochs(m, res.k)
    m = m.merge(at[at["stable_at"]][["condition", "seed", "epoch"]],
                on=["condition", "seed", "epoch"])
    fig, axes = panels(2, figsize=(12, 4.4))
    # the loss on a log axis: its geometric mean and a band from the log scale (positive, on
    # the axis); the accuracy: its mean and a band kept inside [0, 1]
    curves = ((axes[0], (("train_loss", "train"), ("test_loss", "test")), (0.0, math.inf),
               "cross-entropy (geometric mean)", True),
              (axes[1], (("train_eval_acc", "train"), ("test_acc", "test")), (0.0, 1.0),
               "accuracy", False))
    for ax, series, bounds, ylabel, log in curves:
        means = []
        for i, cond in enumerate(r.order):
            g = m[m["condition"] == cond]
            for (col, what), style in zip(series, ("-", "--"), strict=True):
                s = per_x(g, "epoch", col, res.level, bounds, log)
                s.loc[s["n"] < 2, "mean"] = np.nan  # one run is no mean: a gap (referee read 4)
                band(ax, s["epoch"], s["mean"], s["lo"], s["hi"], f"{cond}: {what}",
                     PALETTE[i % len(PALETTE)], style)
                means.append(s["mean"].to_numpy(dtype=float))
        if ax is axes[0]:  # a loss spans decades, and a spike of one seed dwarfs the rest
            span = np.concatenate(means)
            span = span[np.isfinite(span) & (span > 0)]
            ax.set_yscale("log")
            if span.size:
                ax.set_ylim(span.min() / 2, span.max() * 2)
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
        ax.legend(fontsize=8)
    axes[0].set_title("loss (log scale)")
    axes[1].set_title("accuracy")
    return {"curves": save(fig, out / "ex2_curves.png")}


GLANCE = GlanceWords(
    question="Train longer: with or without dropout?",
    better="dropout better", worse="dropout worse",
    answer_better="After long training, dropout ({a}) ends with the higher test accuracy.",
    answer_worse="After long training, dropout ({a}) ends with the lower test accuracy.",
    answer_none="After long training, dropout and no dropout reach test accuracies that "
                "cannot be told apart.")


def _caveat(r: Result) -> tuple[str, str]:
    """Where the learning rate makes the no-dropout runs fail (referee, full study: 6 of 10
    diverged at lr 0.5, and neither the row nor the section said what the answer is then)."""
    acc = r.accuracy
    return unstable_lr(acc.unstable_b, acc.runs_b, r.off, r.lr, r.design["epochs"])


def glance_words(r: Result) -> dict | None:
    """The summary row where the headline's family has a verdict beside it: the test-loss
    rise, Holm-corrected with the accuracy, when it makes a claim (the row left it out while
    the section gave it). None otherwise: the headline alone is the row."""
    acc, rise, row = r.accuracy, r.rise, _caveat(r)[1]
    after = {"after": row} if row else {}
    if not rise.claim:
        return after or None
    arms_ = {"a": r.on, "b": r.off}
    said = {1: GLANCE.answer_better, -1: GLANCE.answer_worse, 0: GLANCE.answer_none}
    less, (more_w, less_w, why) = rise.direction < 0, overfit_words(rise)
    return {"label": acc.label,
            "effect": (f"{acc.summary(r.level)}; test-loss rise, {rise.label}: "
                       f"{rise.summary(r.level)}"),
            "verdict": (f"{acc.short_verdict('dropout better', 'dropout worse')}; "
                        f"{rise.short_verdict(more_w, less_w)}"),
            "claim": True,
            "answer": (said[acc.direction].format(**arms_)
                       + f" With dropout the test loss rises {'less' if less else 'more'} above "
                       f"its minimum than without (ratio {rise.label}, Holm-corrected with the "
                       f"accuracy{'; ' + why if why else ''}).")} | after


EXERCISE = Exercise(
    number=2, key=EXPERIMENT, block=EXPERIMENT, reads=(EXPERIMENT,),
    title="Training longer, with and without dropout",
    analyze=analyze, context=context, draw=draw, trains={EXPERIMENT: conditions}, check=check,
    editions=True, headline=lambda r: r.accuracy, glance=GLANCE,
    # the row names the rise where it claims (``glance_words``): the forest plot draws it too
    beside=lambda r: [r.rise] if r.rise.claim else [])
