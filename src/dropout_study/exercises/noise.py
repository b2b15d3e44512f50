"""Exercise 7: invent another way to inject noise at each layer; can it beat dropout?

Trains in two stages the reference architecture with each noise scheme after both hidden
layers (the same strength on both). "noise_tuning": every scheme, dropout included, over its
own grid of strengths (the same budget for each) on tuning seeds disjoint from the reported
ones; ``dropout_study.selection`` then picks each scheme's strength on the validation split.
"noise_final": each scheme at its picked strength, on fresh seeds. Reports the tuning curves
and the strengths picked, each scheme's test accuracy, and every scheme against dropout on the
fresh seeds as one Holm family ("<scheme> − dropout")."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from .. import presets, words
from ..contrast import Contrast, Sample, compare
from ..contrast_words import holm_family, nulls_resolution
from ..errors import ConfigError
from ..experiments import base_condition
from ..selection import select_strengths
from ..spec import Condition
from .base import Exercise, GlanceWords
from .common import ConditionRow, accuracy, bounded, design, points, rows_words, summarize
from .noise_grid import at_edge, tuning_rows

if TYPE_CHECKING:  # annotations only: Results.load reads the plan, which reads the registry
    from ..results import Results

BLOCK = "noise"
TUNING, FINAL = "noise_tuning", "noise_final"
REFERENCE = "dropout"  # the scheme every other is compared with
MOMENTS = "gaussian"  # dropout's mean and variance, another shape
COLUMNS = [accuracy("endpoint"), accuracy("last"), points("gap")]
NO_REFERENCE = "dropout has no runs on the fresh seeds (its jobs failed?)"


def _noise_condition(cfg: dict, experiment: str, method: str, strength: float,
                     **kw) -> Condition:
    e = cfg["experiments"][BLOCK]
    return base_condition(cfg, experiment, noise=method, rates=(strength, strength),
                          epochs=e["epochs"], factors={"method": method, "strength": strength},
                          **kw)


def noise_tuning(cfg: dict) -> list[Condition]:
    """Stage 1: every scheme over its strength grid, on tuning seeds."""
    e = cfg["experiments"][BLOCK]
    return [_noise_condition(cfg, TUNING, m, float(x), name=f"{m},s={x:g}")
            for m, grid in e["methods"].items() for x in grid]


def noise_final(cfg: dict) -> list[Condition]:
    """Stage 2: each scheme at its validation-selected strength, fresh seeds. The rates given
    here are provisional: the selection file sets them before training."""
    e = cfg["experiments"][BLOCK]
    return [_noise_condition(cfg, FINAL, m, float(grid[0]), name=m)
            for m, grid in e["methods"].items()]


# schemes whose strength is a scale, not a probability (``Noise.max_rate`` is infinite); held
# here as well so that checking a config needs no torch (a test keeps the two in step)
UNBOUNDED = frozenset({"additive"})


def max_rate(method: str) -> float:
    """The strengths a scheme accepts lie in [0, max_rate)."""
    return math.inf if method in UNBOUNDED else 1.0


def check(cfg: dict) -> None:
    block = cfg["experiments"][BLOCK]
    methods = block.get("methods", {})
    key = f"config key 'experiments.{BLOCK}"
    if REFERENCE not in methods:
        raise ConfigError(f"{key}.methods': must include {REFERENCE}, the scheme the others "
                          "are compared with")
    budget = len(methods[REFERENCE])
    for method, grid in methods.items():
        limit = max_rate(method)
        bad = [x for x in grid if not x < limit]
        if bad:
            raise ConfigError(f"{key}.methods.{method}': {bad} outside [0, {limit:g})")
        if len(grid) != budget:
            raise ConfigError(f"{key}.methods.{method}': {len(grid)} strengths, {REFERENCE} "
                              f"has {budget} (every scheme gets the same tuning budget)")
    if block["epochs"] < cfg["analysis"].get("endpoint_epochs", 1):
        raise ConfigError(f"{key}.epochs': fewer epochs than analysis.endpoint_epochs")


@dataclass(frozen=True)
class Tuning:
    method: str
    tried: dict[str, float]  # strength ("%g") -> mean validation accuracy, tuning seeds
    unstable: dict[str, int]  # strength ("%g") -> unstable tuning runs
    selected: float  # what the selection picks from these runs (validation only)
    trained: float | None  # the strength the fresh-seed runs were trained at (None: none)
    collapses: dict[str, int] = field(default_factory=dict)  # strength -> transient collapses


@dataclass(frozen=True)
class Result:
    design: dict  # of the fresh-seed stage
    tune_design: dict
    budget: int  # strengths tried per scheme
    tuning: list[Tuning]
    table: list[ConditionRow]
    against_dropout: dict[str, Contrast]  # "<scheme> − dropout", one Holm family
    # validation scores closer than this are a tie: one image of the validation split (a
    # difference below it is no difference in what validation can show)
    tie_below: float = 0.0
    preset_departure: str = ""  # where this study runs less of the design than the full one

    def _schemes(self, sign: int) -> list[str]:
        return [k.split(" − ")[0] for k, c in self.against_dropout.items()
                if c.direction == sign]

    @property
    def winners(self) -> list[str]:
        return self._schemes(1)

    @property
    def losers(self) -> list[str]:
        return self._schemes(-1)

    @property
    def untested(self) -> list[str]:
        return [k.split(" − ")[0] for k, c in self.against_dropout.items() if not c.tested]

    @property
    def validation(self) -> dict[str, float]:
        """Each alternative compared on the fresh seeds: its validation score at its pick."""
        val = {t.method: t.tried[f"{t.selected:g}"] for t in self.tuning
               if t.method != REFERENCE and f"{t.method} − {REFERENCE}" in self.against_dropout}
        return {m: v for m, v in val.items() if v == v}

    @property
    def best(self) -> list[str]:
        """The alternatives best on validation: the top one and those that tie with it (less
        than ``tie_below`` below it), in name order."""
        val = self.validation
        if not val:
            return []
        top = max(val.values())
        return sorted(m for m, v in val.items() if top - v < max(self.tie_below, 1e-12))

    @property
    def headline(self) -> Contrast | None:
        """The alternative best on validation in the tuning stage (the test set never picks)
        against dropout on the fresh seeds; of alternatives tied there, the first in name
        order (the words say it is a tie)."""
        best = self.best
        return self.against_dropout[f"{best[0]} − {REFERENCE}"] if best else None

    def variance(self, method: str) -> float | None:
        """The variance of ``method``'s multiplicative noise at its selected strength (None:
        not tuned here)."""
        from ..noise import SCHEMES

        t = next((t for t in self.tuning if t.method == method), None)
        return None if t is None else SCHEMES[method].multiplicative_variance(t.selected)

    @property
    def moments_matched(self) -> bool:
        """Whether the selected Gaussian noise has the selected dropout's variance: the premise
        of "same mean and variance, another shape", checked before it is said."""
        g, d = self.variance(MOMENTS), self.variance(REFERENCE)
        return g is not None and d is not None and math.isclose(g, d, rel_tol=1e-9)

    @property
    def mismatched(self) -> list[Tuning]:
        """Schemes whose fresh-seed runs were not trained at the strength selected."""
        return [t for t in self.tuning if t.trained is not None and t.trained != t.selected]


def _tuning(res: Results, final: pd.DataFrame) -> list[Tuning]:
    metrics = res.metrics[res.metrics["experiment"] == TUNING]
    runs = res.runs[res.runs["experiment"] == TUNING]
    chosen = select_strengths(metrics, runs, res.k)  # the selection the pipeline made
    tune = res.ends(TUNING)
    keys = [tune["factor_method"], tune["factor_strength"].map("{:g}".format)]
    unstable = (~tune["stable"]).groupby(keys).sum()
    collapses = tune["collapse"].groupby(keys).sum()  # of stable runs only (instability.py)
    trained = final.drop_duplicates("condition").set_index("condition")["rate1"].to_dict()
    out = []
    for method, pick in chosen.items():
        out.append(Tuning(method, dict(pick["tried"]),
                          {s: int(unstable[(method, s)]) for s in pick["tried"]},
                          float(pick["strength"]),
                          float(trained[method]) if method in trained else None,
                          {s: int(collapses[(method, s)]) for s in pick["tried"]}))
    return sorted(out, key=lambda t: (t.method != REFERENCE, t.method))


def analyze(res: Results) -> Result:
    lvl = res.level
    tune, final = res.ends(TUNING), res.ends(FINAL)
    order = sorted(final["condition"].unique(), key=lambda c: (c != REFERENCE, c))
    family = {f"{m} − {REFERENCE}": Sample.of(final, m, REFERENCE) for m in order
              if m != REFERENCE} if REFERENCE in order else {}
    tuning = _tuning(res, final)
    return Result(
        design=design(final, res.k), tune_design=design(tune, res.k),
        budget=max(len(t.tried) for t in tuning), tuning=tuning,
        table=summarize(final, order, COLUMNS, lvl),
        against_dropout=bounded(compare(family, lvl)),
        tie_below=1.0 / float(res.cfg["data"]["validation_size"]),
        preset_departure=" ".join(x for x in (presets.departure(res.cfg, BLOCK, {
            "epochs": ("epochs", "every run, tuning and fresh, is shorter"),
            "tune_seeds": ("tuning seeds", "each strength's validation score rests on fewer "
                           "seeds")}), presets.selection_departure(res.cfg)) if x))


def _names(schemes: list[str]) -> str:
    return words.join(schemes)


def _verb(schemes: list[str], one: str, many: str) -> str:
    return one if len(schemes) == 1 else many


def _row(c: Contrast) -> dict:
    return c.row("outperforms dropout", "worse than dropout")


def _takeaway(r: Result) -> str:
    win, lose, untested = r.winners, r.losers, r.untested
    tested = any(c.tested for c in r.against_dropout.values())
    if not r.against_dropout:
        text = f"No comparison: {NO_REFERENCE}"
    elif win:
        text = f"{_names(win)} {_verb(win, 'beats', 'beat')} tuned dropout here"
    elif not tested:
        text = "No scheme has enough stable seed pairs for a verdict against tuned dropout"
    else:
        text = (f"None of the {_testable(r)} alternatives with a verdict is detectably better "
                "than tuned dropout" if r.untested else
                "No alternative is detectably better than tuned dropout")
        moments = r.against_dropout.get(f"{MOMENTS} − {REFERENCE}")
        if moments is not None and moments.tested and not moments.claim:
            g, d = r.variance(MOMENTS), r.variance(REFERENCE)
            if r.moments_matched:
                text += (f"; {MOMENTS} noise, selected at the same multiplicative variance as "
                         f"tuned dropout ({g:.3g}) and so with its mean and variance in another "
                         f"shape, differs from it by "
                         f"{moments.quantity.text(moments.primary)}: "
                         f"{moments.verdict('', '')}; a null, not a finding that those two "
                         "moments are all that matters (nothing here tests a mechanism)")
            else:
                text += (f"; {MOMENTS} noise differs from it by "
                         f"{moments.quantity.text(moments.primary)}: "
                         f"{moments.verdict('', '')}; the two were selected at different "
                         f"noise variances ({MOMENTS} {g:.3g}, dropout {d:.3g}), so this "
                         "compares each at its best, not one variance in two shapes")
    if lose:
        text += f"; {_names(lose)} {_verb(lose, 'does', 'do')} worse"
    if untested and tested:
        text += f"; no verdict on {_names(untested)} (too few stable seed pairs)"
    return text + f" (at {words.seeds(r.design['seeds'])}, {r.design['epochs']} epochs)."


def tie(r: Result) -> str:
    """Where alternatives tie as the best on validation, that in words, with the gap and what
    makes it a tie (less than one validation image); "" where one is best."""
    best = r.best
    if len(best) < 2:
        return ""
    val = r.validation
    gap = max(val[m] for m in best) - min(val[m] for m in best)
    scores = ", ".join(f"{m} {100 * val[m]:.4f}%" for m in best)
    return (f"On validation {words.join(best)} tie as the alternative best ({scores}: "
            f"{100 * gap:.4f} points apart, less than the {100 * r.tie_below:.3g} points one "
            f"validation image is worth in a single run's accuracy), so "
            f"{'neither' if len(best) == 2 else 'none'} is the better there; the summary row "
            f"takes {best[0]}, the first in name order, and the table below gives each against "
            "dropout.")


def glance_words(r: Result) -> dict | None:
    """The summary row's answer where its headline's scheme tied as best on validation."""
    c = r.headline
    if c is None or not c.tested or len(r.best) < 2:
        return None
    lead, verb = {1: ("Yes", "beats dropout"), -1: ("No", "does worse than dropout"),
                  0: ("Not detectably", "cannot be told apart from dropout")}[c.direction]
    others = words.join(r.best[1:])
    return {"answer": f"{lead}: {r.best[0]}, tied with {others} as the alternative best on "
                      f"validation (closer than one validation image in one run), {verb} on "
                      "fresh seeds."}


def _testable(r: Result) -> int:
    return len(r.against_dropout) - len(r.untested)


def _none_outperforms(r: Result) -> str:
    """No winner (of every scheme, or of those with a verdict), the nulls' n and resolution."""
    said = nulls_resolution(r.against_dropout.values())  # referee read 5, 9
    if r.losers and said:  # the nulls' resolution names only them (referee, full study)
        said = (f": {_names(r.losers)} {_verb(r.losers, 'does', 'do')} worse, the others show"
                f"{said.replace(' (', ' ', 1)[:-1]}")
    if not r.untested:
        return f"No scheme outperforms dropout after Holm correction{said}."
    if not _testable(r):
        return "No scheme has enough stable seed pairs for a verdict against dropout."
    return (f"None of the {_testable(r)} schemes with a verdict outperforms dropout after Holm "
            f"correction{said}; no verdict on {_names(r.untested)} (too few stable seed pairs).")


def context(r: Result) -> dict:
    rows = [_row(c) for c in r.against_dropout.values()]
    win = r.winners
    answer = ("Against dropout at its tuned rate, on fresh seeds: "
              + "; ".join(f"{c.difference()} ({_row(c)['verdict']})"
                          for c in r.against_dropout.values())
              + ". "
              + (f"{_names(win)} {_verb(win, 'outperforms', 'outperform')} dropout after Holm "
                 "correction." if win else _none_outperforms(r))) if r.against_dropout \
        else f"No comparison: {NO_REFERENCE}."
    tuning = tuning_rows(r.tuning)
    mismatch = ("" if not r.mismatched else
                "The fresh-seed runs of " + _names([t.method for t in r.mismatched])
                + " were trained at another strength than the one the tuning runs select "
                "(a stale selection file?); their comparison is not the tuned one.")
    return {**r.design, "tune_seeds": r.tune_design["seeds"], "strengths": r.budget,
            "unstable": r.design["unstable"] + r.tune_design["unstable"],
            "tune": r.tune_design, "fresh": r.design,
            "methods": [row.condition for row in r.table], "tuning": tuning,
            "at_edge": at_edge(r.tuning),
            "table": rows_words(r.table, COLUMNS), "diffs": rows, "mismatch": mismatch,
            "holm": holm_family(r.against_dropout), "tie": tie(r),
            "departure": r.preset_departure,
            "glance_words": glance_words(r),
            "answer": answer, "takeaway": _takeaway(r)}


def draw(res: Results, r: Result, out: Path) -> dict[str, Path]:  # pragma: no mutate block
    import seaborn as sns

    from ..plots import PALETTE, lines_with_bands, panels, save

    tune, final = res.ends(TUNING), res.ends(FINAL)
    fig, axes = panels(2, figsize=(13, 4.4))
    lines_with_bands(axes[0], tune, "factor_strength", "factor_method", "val_endpoint",
                     res.level, "noise strength (each scheme's own scale)",
                     "validation accuracy (%)", 100, bounds=(0.0, 1.0))
    colour = dict(zip(sorted(tune["factor_method"].unique()), PALETTE * 4, strict=False))
    for t in r.tuning:  # the strengths the selection picked, from the result
        v = t.tried[f"{t.selected:g}"]
        if v == v:
            axes[0].plot(t.selected, 100 * v, "*", ms=14, color=colour.get(t.method, "k"),
                         markeredgecolor="black", zorder=4)
    axes[0].set_title(f"tuning ({r.tune_design['seeds']} tuning seeds); ★ selected")
    order = [row.condition for row in r.table]
    ests = [row.values["endpoint"] for row in r.table]  # intervals already inside [0, 1]
    ok = [i for i, e in enumerate(ests) if e.has_interval]
    axes[1].errorbar(ok, [100 * ests[i].value for i in ok],
                     yerr=[[100 * (ests[i].value - ests[i].lo) for i in ok],
                           [100 * (ests[i].hi - ests[i].value) for i in ok]],
                     fmt="o", capsize=4, color="C0", zorder=3)
    shown = final[final["stable"]].assign(acc=lambda d: d["endpoint"] * 100)
    sns.stripplot(data=shown, x="condition", y="acc", order=order, ax=axes[1], color="grey",
                  alpha=0.5, size=4)
    axes[1].set(xlabel="", ylabel="test accuracy (%)",
                title=f"selected strengths, fresh seeds (n = {r.design['seeds']})")
    axes[1].set_xticks(range(len(order)), [c.replace("_", "\n") for c in order],
                       fontsize=8)  # level and small: none runs into the next
    return {"noise": save(fig, out / "ex7_noise.png")}


EXERCISE = Exercise(
    number=7, key="noise", block=BLOCK, reads=(TUNING, FINAL),
    title="Another way to inject noise: can it beat dropout?",
    analyze=analyze, context=context, draw=draw,
    trains={TUNING: noise_tuning, FINAL: noise_final}, check=check,
    headline=lambda r: r.headline,
    glance=GlanceWords(
        question="Another noise: can it beat dropout?",
        better="{a} is better", worse="{b} is better",
        answer_better="Yes: {a}, the alternative best on validation, beats dropout on fresh "
                      "seeds.",
        answer_worse="No: {a}, the alternative best on validation, does worse than dropout on "
                     "fresh seeds.",
        answer_none="Not detectably: {a}, the alternative best on validation, cannot be told "
                    "apart from dropout on fresh seeds.",
        absent="no alternative noise has a validation score to pick it"))
