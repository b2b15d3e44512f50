"""The report's opening: every exercise's answer at a glance, and one forest plot.

Each exercise names its headline contrast ``a − b`` (``Exercise.headline``) and the words of
its row (``Exercise.glance``); this module turns them into one table row per exercise (the
question, a one-sentence answer, the headline effect with its interval and n, the verdict; one
line per setting where the exercise runs at both editions' settings) and into the points of a
forest plot that puts every headline on an axis shared with the others of its unit. Nothing
here computes a statistic: the numbers are the contrasts' own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from . import words
from .contrast import MIN_PAIRS, MIN_ROBUST, Contrast, Ratio, pairs_text
from .exercises.base import Exercise, GlanceWords

NO_WORDS = GlanceWords(question="", better="a is higher", worse="b is higher",
                       answer_better="{a} is higher than {b}.",
                       answer_worse="{b} is higher than {a}.",
                       answer_none="No detectable difference between {a} and {b}.")


def shown_label(c: Contrast) -> str:
    """The contrast's label as the summary prints it: "a − b" for a difference, "a / b" for a
    ratio (a positive quantity compared on the log scale)."""
    return c.label.replace(" − ", " / ") if isinstance(c.quantity, Ratio) else c.label


def _value(x: float) -> str:
    """Two decimals, never a signed zero ("-0.00")."""
    return f"{0.0 if round(x, 2) == 0 else x:.2f}"


def arms(c: Contrast) -> dict[str, str]:
    a, _, b = c.label.partition(" − ")
    return {"a": a, "b": b or "the reference"}


def pairs(n: int) -> str:
    """How many seed pairs a difference rests on, in words ("no seed pair", never "0")."""
    return pairs_text(n)


def effect(c: Contrast, level: float | None = None) -> str:
    """The primary difference with its interval and n, in words (never a bare NaN); the
    interval's level where Holm's correction made it other than the study's ``level``."""
    return c.summary(level)


def answer(c: Contrast | None, w: GlanceWords) -> str:
    """The one-sentence answer the headline supports, and no more."""
    if c is None:
        return f"Not answered at a glance: {w.absent}."
    if not c.tested:
        return ("Not answered: too few seed pairs are stable in both arms for a verdict "
                f"({pairs(c.pairs)}, at least {MIN_PAIRS} needed).")
    if not c.claim and c.uninformative:  # a null that says nothing (e.g. an interaction)
        return c.uninformative[0].upper() + c.uninformative[1:] + "."
    sentence = {1: w.answer_better, -1: w.answer_worse, 0: w.answer_none}[c.direction]
    return sentence.format(**arms(c))


def verdict(c: Contrast, w: GlanceWords) -> str:
    """The verdict in a few words: the claim, "no detectable difference" with the smallest
    effect the design would likely have found, or why there is none (the section has the
    long form)."""
    return c.short_verdict(w.better.format(**arms(c)), w.worse.format(**arms(c)))


def line(c: Contrast | None, w: GlanceWords, setting: str | None,
         level: float | None = None) -> dict:
    """One setting's cells of an exercise's row (``level``: the study's, see ``effect``)."""
    if c is None:
        return {"setting": setting, "label": "", "effect": f"none: {w.absent}",
                "verdict": "no verdict", "answer": answer(c, w), "claim": False}
    return {"setting": setting, "label": shown_label(c), "effect": effect(c, level),
            "verdict": verdict(c, w),
            "answer": answer(c, w), "claim": c.claim}


def row(ex: Exercise, entry: dict, heads: list[tuple[str | None, Contrast | None]],
        level: float | None = None) -> dict:
    """An exercise's row of the glance table: ``heads`` holds (setting, headline) per setting
    that was analysed (empty when the exercise is not answered; ``entry["missing"]`` says
    why); ``level``, the study's, lets a row state its own where Holm's correction moved it."""
    w = ex.glance or NO_WORDS
    base = {"number": ex.number, "title": ex.title, "question": w.question or ex.title,
            "anchor": "sec-" + ex.key.replace("_", "-")}
    if entry.get("missing"):
        why = entry["missing"]
        return base | {"answer": f"Not answered: {why}.", "lines": [
            {"setting": None, "label": "", "effect": "none (not answered)",
             "verdict": "no verdict", "answer": "", "claim": False}]}
    lines = [line(c, w, s, level) for s, c in heads]
    # the section's own verdict and answer, where it gives them (per setting: the newer
    # edition's under entry["newer"]); with no headline only where they give its effect too
    owns = [entry.get("glance_words"), (entry.get("newer") or {}).get("glance_words")]
    for i, own in enumerate(owns[:len(lines)]):
        rest = {k: v for k, v in (own or {}).items() if k != "after"}
        if rest and (lines[i]["label"] or "effect" in rest):
            lines[i] = lines[i] | rest
        if own and own.get("after"):  # a caveat the section puts after the row's answer
            lines[i] = lines[i] | {"answer": f"{lines[i]['answer']} {own['after']}"}
    said = {x["answer"] for x in lines}
    if len(said) == 1:
        text = lines[0]["answer"] if len(lines) == 1 else f"At both settings: {lines[0]['answer']}"
    else:
        text = " ".join(f"At {x['setting']}: {x['answer']}" for x in lines)
    return base | {"answer": text, "lines": lines}


def resolution(c: Contrast) -> float:
    """The smallest difference the contrast's design would likely detect (80% power at the
    observed spread of its paired differences), NaN where it cannot be estimated. A contrast
    with too few pairs for a verdict has no ``mde`` of its own; where it has 2 pairs and an
    interval, the spread is read back from its t-interval (half-width = t · sd / √n)."""
    if math.isfinite(c.mde):
        return c.mde
    e = c.primary
    if c.pairs < 2 or not e.has_interval or not math.isfinite(e.hi - e.lo):
        return math.nan
    from scipy import stats as st

    from .contrast import POWER
    from .stats import min_detectable

    sd = (e.hi - e.lo) / 2 * math.sqrt(e.n) / st.t.ppf(0.5 + e.level / 2, e.n - 1)
    return min_detectable(sd, e.n, e.level, POWER)


POWER_WORDS = "80% power at the observed spread of the paired differences"


def resolves(heads: list, seeds: int, preset: str, subset: str = "",
             apart: dict[int, str] | None = None) -> dict | None:
    """What a smaller preset's headline contrasts of test accuracy can resolve: how many have
    the pairs a verdict needs, and the typical (median) smallest detectable difference over
    them, each one named with its exercise so that every number of the box can be found in
    the report; None for the full study. ``heads``: (exercise, setting, headline) or bare
    headlines; ``subset``: what the preset trains on, where it is less than the full study's
    (``presets.subset``); ``apart``: exercise -> why its headline is no contrast of two
    trainings (``Exercise.apart``: e.g. two evaluations of the same models, whose spread has
    no training noise in it): its resolution is named, but left out of the median and range,
    which say what the preset resolves between two trained settings."""
    if preset == "full":
        return None
    apart = apart or {}
    named = [h if isinstance(h, tuple) else (None, None, h) for h in heads]
    acc = [(n, tag, c) for n, tag, c in named
           if c is not None and not isinstance(c.quantity, Ratio)
           and c.quantity.bounds == (-1.0, 1.0)]
    tested = sum(c.tested for _, _, c in acc)
    # the count, range and median are over one set of contrasts, named in the sentence: the
    # tested ones; only where none is tested, those with 2 pairs (a spread read back)
    over = [h for h in acc if h[2].tested] if tested else acc
    aside = [h for h in over if h[0] in apart]
    if len(aside) < len(over):  # the others: contrasts of two trained settings
        over = [h for h in over if h[0] not in apart]
    else:
        aside = []
    sized = sorted(((resolution(c), n, tag) for n, tag, c in over
                    if math.isfinite(resolution(c))), key=lambda x: x[0])
    sizes = [x for x, _, _ in sized]
    head = (f"This is the **{preset}** preset ({seeds} seed{'s' if seeds != 1 else ''})"
            f"{'. ' + subset if subset else ': '}{tested} of its {len(acc)} headline contrasts "
            f"of test accuracy have the {MIN_PAIRS} seed pairs stable in both arms that a "
            "verdict needs. ")
    between = " between two trained settings" if aside else ""
    if sizes:
        typical = sizes[len(sizes) // 2] if len(sizes) % 2 else \
            (sizes[len(sizes) // 2 - 1] + sizes[len(sizes) // 2]) / 2
        group = ("with the pairs a verdict needs" if tested else
                 "without them, from the spread of their seed pairs")
        n, of = len(sizes), len(over)
        whom = (f"{n} contrasts{between} {group}" if n == of else
                f"{n} of the {of} contrasts{between} {group} that have a spread to estimate it "
                "from")
        each = "; ".join(f"{_where(num, tag)} {100 * x:.2f}" for x, num, tag in sized)
        span = (f"median over the {whom}, from {100 * sizes[0]:.2f} to {100 * sizes[-1]:.2f} "
                f"points: {each}" if n > 1 else f"the one contrast{between} {group} with a "
                f"spread: {each} points")
        left = [f"{_where(num, tag)} {100 * resolution(c):.2f} ({apart[num]})"
                for num, tag, c in aside if math.isfinite(resolution(c))]
        if left:
            span += ("; left out, as no contrast of two trained settings: "
                     f"{'; '.join(left)}")
        # the box on the page leaves out the list of each contrast's resolution and the power
        # it is at, which follow it folded (a phone must still see the answers at a glance on
        # its first screen); ``text`` is the whole sentence
        if typical >= 1.0:
            def middle(full: bool) -> str:
                return ("The smallest difference they would likely detect is typically more "
                        f"than 100 points{f' ({span})' if full else ''}, beyond any difference "
                        "of accuracies: this preset resolves nothing. ")
        else:
            # a size read from the spread of a few seeds is itself rough (referee read 8)
            rough = (f", and from {seeds} seeds this size is itself rough"
                     if seeds < MIN_ROBUST else "")

            def middle(full: bool) -> str:
                return (f"The smallest difference{between} they would likely detect"
                        f"{f' ({POWER_WORDS})' if full else ''} is typically "
                        f"{100 * typical:.2f} points{f' ({span})' if full else ''}; a smaller "
                        f"effect may well be missed{rough}. ")
    else:
        def middle(full: bool) -> str:
            return "None has a spread from which to estimate what it would detect. "

    def tail(full: bool) -> str:
        return (("It checks that the study runs end to end and answers" if full else
                 "It answers") + " fewer questions than it asks; the full study (preset full) "
                "is the answer.")

    text, short = (head + middle(f) + tail(f) for f in (True, False))
    return {"text": text, "short": short, "span": span if sizes else None, "power": POWER_WORDS,
            "tested": tested, "contrasts": len(acc),
            "typical": (100 * typical) if sizes else None}


def _where(number: int | None, tag: str | None) -> str:
    if number is None:
        return "a contrast"
    return f"exercise {number}" + (f" ({tag})" if tag else "")


@dataclass(frozen=True)
class Point:
    """One headline on the forest plot: its panel (the axis it shares), label and numbers."""

    panel: str
    ratio: bool  # drawn on a log axis around 1, not a linear one around 0
    exercise: int
    label: str  # "Ex. 1: a − b", with the setting where there are two
    value: float
    lo: float
    hi: float
    claim: bool
    tested: bool = True  # enough seed pairs for a verdict (else a dotted bar: not a verdict)


def panel_of(c: Contrast) -> tuple[str, bool]:
    q = c.quantity
    if isinstance(q, Ratio):
        return f"{q.what}: ratio a / b (log scale)", True
    unit = {"pp": "percentage points"}.get(q.unit, q.unit)
    return f"{q.what}: a − b ({unit})", False


def point(number: int, c: Contrast, tag: str | None) -> Point | None:
    """The contrast as a point, or None when it has no value with an interval."""
    e = c.quantity.shown(c.primary)  # drawn inside the range of the difference
    if c.pairs == 0 or not (math.isfinite(e.value) and e.has_interval):
        return None
    panel, ratio = panel_of(c)
    f = math.exp if ratio else (lambda x: c.quantity.scale * x)
    label = f"Ex. {number}: {shown_label(c)}" + (f" [{tag}]" if tag else "")
    return Point(panel, ratio, number, label, f(e.value), f(e.lo), f(e.hi), c.claim,
                 c.tested)


def points(heads: list[tuple[int, str | None, Contrast | None]]) -> tuple[list[Point], list[str]]:
    """The plot's points, in report order, and, in words, every headline left off and why."""
    drawn, left = [], []
    for number, tag, c in heads:
        where = f"exercise {number}" + (f" ({tag})" if tag else "")
        if c is None:
            left.append(f"{where}: no headline contrast")
            continue
        p = point(number, c, tag)
        if p is None:
            left.append(f"{where}: no interval ({pairs(c.pairs)})")
        else:
            drawn.append(p)
    return drawn, left


def caption(drawn: list[Point], left: list[str], level: float,
            instead: list[str] = (), beside: list[str] = ()) -> str:
    """``instead``: the exercises (and settings) without a headline whose summary row stands on
    other contrasts, drawn in its place; ``beside``: the contrasts a row names beside its
    headline (``Exercise.beside``), drawn with it."""
    panels = list(dict.fromkeys(p.panel for p in drawn))
    text = (f"Every headline contrast of this report, a − b (a / b where it is a ratio), "
            f"paired by seed: the point is the "
            f"mean over the seeds stable in both arms, the bar its {100 * level:g}% interval "
            f"(Holm-corrected within its family, at the level its row in the table states where "
            f"that moved it); filled points are claims, open points are not. "
            f"The dashed line marks no difference (0, or a ratio of 1). ")
    withheld = [p.label for p in drawn if p.tested and not p.claim
                and not (p.lo <= (1.0 if p.ratio else 0.0) <= p.hi)]
    if withheld:  # referee (full study): an open point whose bar misses the line, unsaid
        text += (f"An open point whose bar misses the dashed line is a difference its section "
                 f"does not claim for a reason it gives (e.g. an uninformative interaction): "
                 f"{'; '.join(withheld)}. ")
    if any(not p.tested for p in drawn):  # referee read 4, 3: a narrow bar from 2 pairs
        text += (f"A dotted bar stands on fewer than {MIN_PAIRS} seed pairs stable in both arms: "
                 "no verdict, however narrow it is. ")
    if len(panels) > 1:
        text += (f"Quantities in different units are not put on one axis: "
                 f"{len(panels)} panels ({'; '.join(panels)}). ")
    if instead:
        text += (f"Without a headline, {words.join(list(instead))} "
                 f"{'is' if len(instead) == 1 else 'are'} drawn with the contrasts "
                 f"{'its' if len(instead) == 1 else 'their'} row in the table stands on "
                 "instead. ")
    if beside:
        text += (f"Beside the headlines, what their rows in the table name with them: "
                 f"{'; '.join(beside)}. ")
    if left:
        text += "Not drawn: " + "; ".join(left) + "."
    return text.strip()


def alt(drawn: list[Point], left: list[str]) -> str:
    """The plot's alternative text: every point it draws, in words."""
    if not drawn:
        return "No forest plot: " + "; ".join(left) + "."
    pts = "; ".join(f"{p.label}: {_value(p.value)} [{_value(p.lo)}, {_value(p.hi)}]"
                    f"{' (claim)' if p.claim else ''}" for p in drawn)
    return f"Forest plot of {len(drawn)} headline contrasts, one row each: {pts}."


def draw(drawn: list[Point], out: Path) -> Path | None:  # pragma: no mutate block
    """The forest plot: one panel per unit, points grouped by exercise, zero (or 1) marked."""
    if not drawn:
        return None
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter
    from matplotlib.transforms import blended_transform_factory

    from .plots import PHONE_INCHES, drawing_for_phone, save, wrap

    phone = drawing_for_phone()  # narrower: labels wrapped, their rows taller
    width = PHONE_INCHES if phone else 7.0
    lines = {id(p): (wrap(p.label, 0.97 * width, 9.5) if phone else p.label) for p in drawn}
    step = {k: 1.0 + 0.32 * v.count("\n") for k, v in lines.items()}  # a row, in data units
    panels = list(dict.fromkeys(p.panel for p in drawn))
    sizes = [sum(step[id(p)] for p in drawn if p.panel == k) for k in panels]
    fig, axes = plt.subplots(len(panels), 1, figsize=(width, 0.55 * sum(sizes)
                                                       + 1.0 * len(panels)),
                             gridspec_kw={"height_ratios": [s + 1.0 for s in sizes]},
                             squeeze=False)
    for ax, name in zip(axes[:, 0], panels, strict=True):
        mine = [p for p in drawn if p.panel == name]
        y = [sum(step[id(q)] for q in mine[i + 1:]) for i in range(len(mine))]  # top first
        at_left = blended_transform_factory(ax.transAxes, ax.transData)
        for yi, p in zip(y, mine, strict=True):
            color = f"C{(p.exercise - 1) % 10}"
            ax.plot([p.lo, p.hi], [yi, yi], color=color, lw=2.2 if p.tested else 1.4,
                    ls="-" if p.tested else ":")  # too few pairs: no verdict, however narrow
            ax.plot([p.value], [yi], "o", ms=8, color=color,
                    markerfacecolor=color if p.claim else "white", markeredgewidth=2)
            ax.text(0.01, yi + 0.16, lines[id(p)], transform=at_left, fontsize=9.5,
                    va="bottom", linespacing=1.1,
                    bbox={"facecolor": "white", "edgecolor": "none", "pad": 0.5, "alpha": 0.85})
        ratio = mine[0].ratio
        ax.axvline(1.0 if ratio else 0.0, color="black", ls="--", lw=1)
        if ratio:
            ax.set_xscale("log")
            plain = FuncFormatter(lambda v, _: f"{v:g}")
            ax.xaxis.set_major_formatter(plain)
            ax.xaxis.set_minor_formatter(plain)
            span = max(1.0, *(p.hi for p in mine)) / min(1.0, *(p.lo for p in mine))  # with 1
            if phone and span > 3:  # a narrow axis labels 1, 2, 5 times a power of ten
                ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
                ax.xaxis.set_minor_formatter(NullFormatter())
            elif span > 10:  # over a decade the minor ticks' labels run into each other
                ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_yticks([])
        ax.set_ylim(-0.5, y[0] + step[id(mine[0])] - 0.1)
        ax.set_xlabel(wrap(name, 0.97 * width, 10.5) if phone else name, fontsize=10.5)
        for i in range(1, len(mine)):  # a rule between exercises
            if mine[i].exercise != mine[i - 1].exercise:
                ax.axhline(y[i - 1] - 0.5, color="0.85", lw=0.8)
    fig.tight_layout()
    return save(fig, out)
