"""Contrasts in words: a Holm family's tally, one contrast at two settings, one contrast's line.

Below the exercises and the report, which say them; above ``contrast``, which computes them.
"""

from __future__ import annotations

import re

import numpy as np

from . import words
from .contrast import MIN_PAIRS, Contrast


def family_tally(family: dict[str, Contrast], better: str, worse: str) -> str:
    """A Holm family in words: how many of its contrasts could be tested (at least
    ``MIN_PAIRS`` pairs stable in both arms) and, of those, how many are ``better`` (a > b) or
    ``worse`` (a < b) after correction, the rest with the design's resolution. A family with
    nothing testable says so, never "0 better, 0 worse"."""
    n = len(family)
    tested = [c for c in family.values() if c.tested]
    if not tested:
        most = max((c.pairs for c in family.values()), default=0)
        return (f"none of the {n} contrasts is testable: at most "
                f"{most} seed pair{'s' if most != 1 else ''} stable in both arms, "
                f"{MIN_PAIRS} needed")
    up = sum(c.direction > 0 for c in tested)
    down = sum(c.direction < 0 for c in tested)
    rest = len(tested) - up - down
    head = ("its one contrast is testable" if n == 1 else
            f"all {n} contrasts are testable" if len(tested) == n else
            f"{len(tested)} of {n} contrasts are testable (the other {n - len(tested)} "
            f"ha{'s' if n - len(tested) == 1 else 've'} fewer than {MIN_PAIRS} seed pairs stable "
            "in both arms)")
    # the directions found, none named at 0 (referee read 10: "0 cheaper ..., 0 costlier ...")
    parts = [f"{k} {said}" for k, said in ((up, better), (down, worse)) if k]
    if rest:
        quiet = [c for c in tested if not c.direction]
        mdes = [c.mde for c in quiet if np.isfinite(c.mde)]
        res = (f" (none larger than {quiet[0].quantity.size(max(mdes))} would likely be "
               "missed)") if mdes else ""
        every = "all " if rest == len(tested) > 1 else ""
        parts.append(f"{every}{rest} show{'s' if rest == 1 else ''} no detectable "
                     f"difference{res}")
    return f"{head}; after Holm correction {words.join(parts)}"


def holm_family(family: dict[str, Contrast], what: str = "contrasts",
                arms: str = "arms") -> str:
    """Over how many contrasts a table's Holm correction runs, in words: the testable ones
    (at least ``MIN_PAIRS`` seed pairs stable in both ``arms``); the others get no verdict.
    ``what`` names the family's members (e.g. "layer × epoch ratios")."""
    n = len(family)
    k = sum(c.tested for c in family.values())
    if n == 1:
        return "a family of one: no correction" if k else (
            f"no correction: it has fewer than {MIN_PAIRS} seed pairs stable in both {arms}")
    if k == 0:
        return (f"none of its {n} {what} has the {MIN_PAIRS} seed pairs stable in both {arms} "
                "a verdict needs, so none is tested or corrected")
    if k == n:
        return f"Holm-corrected over its {n} {what}"
    return (f"Holm-corrected over the {k} of its {n} {what} with at least {MIN_PAIRS} seed "
            f"pairs stable in both {arms}; the other {n - k} get{'s' if n - k == 1 else ''} no "
            "verdict")


def agreement(a: Contrast, b: Contrast, setting_a: str, setting_b: str) -> str:
    """Whether one contrast, measured at two settings, says the same at both."""
    def said(c: Contrast) -> str:
        if c.direction:
            return f"{c.label} {'above' if c.direction > 0 else 'below'} zero"
        return "uninformative" if c.uninformative else "no claim"

    at_a = f"{c_text(a)} at {setting_a}"
    at_b = f"{c_text(b)} at {setting_b}"
    if not (a.tested and b.tested):
        untested = words.join([s for c, s in ((a, setting_a), (b, setting_b)) if not c.tested])
        return (f"The two settings cannot be compared: at {untested} too few seed pairs are "
                f"stable in both arms for a verdict ({at_a}; {at_b}).")
    if a.direction == b.direction and a.direction != 0:
        # each setting's own label where they differ (referee, full study: exercise 2 named
        # the older edition's rates for both)
        both = (f"{said(a)} at both" if a.label == b.label else
                f"{a.label} and {b.label} both {'above' if a.direction > 0 else 'below'} zero")
        return f"The two settings agree ({both}): {at_a}; {at_b}."
    if a.uninformative or b.uninformative:
        return (f"The two settings say {said(a)} at {setting_a} and {said(b)} at {setting_b}: "
                f"{at_a}; {at_b}.")
    if a.direction == b.direction:
        return (f"The two settings agree in that neither shows a detectable difference (two "
                f"nulls, each at its own resolution: no test that the effect is the same at "
                f"both): {at_a}; {at_b}.")
    if a.direction and b.direction:  # two claims, of opposite signs
        return (f"The two settings disagree ({said(a)} at {setting_a}, {said(b)} at "
                f"{setting_b}): {at_a}; {at_b}.")
    return _claim_and_null(*((a, setting_a, b, setting_b) if a.direction else
                             (b, setting_b, a, setting_a)), at_a, at_b)


def _claim_and_null(claim: Contrast, at_claim: str, null: Contrast, at_null: str,
                    at_a: str, at_b: str) -> str:
    """One setting claims a difference, the other detects none. A null is no claim of the
    opposite, so each is said for what it shows. Where the null's interval excludes the
    claimed effect (signed), that is said, and that it is no test of a difference between the
    settings (it leaves out the claimed effect's own uncertainty; referee read 4); only where it
    contains it is the null called too coarse to confirm or contradict it, by the null's resolution
    against the claimed size (a comparison of the two numbers, not a test of their
    difference)."""
    side = "above" if claim.direction > 0 else "below"
    est, q = claim.primary, claim.quantity
    shown = (f"at {at_claim} {claim.label} is {side} zero (a claim), at {at_null} no "
             "difference is detected (a null, not a claim of the opposite)")
    if null.primary.has_interval and not null.primary.contains(est.value):
        differ = _differ(at_claim, at_null)
        text = (f"One setting claims a difference and the other finds none: {shown}; the null's "
                f"interval at "
                f"{at_null} ({q.text(null.primary)}) does not contain the effect found at "
                f"{at_claim} ({q.text(est)}), but that is no test of whether the effect differs "
                "between the settings (it leaves out the uncertainty of the effect found; no "
                "contrast of the two effects is made here)"
                f"{f', and the settings differ in {differ}' if differ else ''}")
        return f"{text}: {at_a}; {at_b}."
    text = (f"One setting claims a difference and the other finds none, which do not contradict "
            f"each other: {shown}")
    size, mde = abs(est.value), null.mde
    if np.isfinite(mde) and np.isfinite(size):
        if size < mde:
            text += (f"; the effect found at {at_claim} ({q.size(size)}) is smaller than the "
                     f"smallest that {at_null} would likely detect ({q.size(mde)}), so the "
                     "null there is too coarse to confirm or contradict it (the settings "
                     "differ, and no effect is carried from one to the other)")
        else:
            text += (f"; {at_null} would likely have detected an effect as large as the one "
                     f"found at {at_claim} ({q.size(size)}; it resolves {q.size(mde)}), so the "
                     "effect is likely smaller there (no test of the difference between the "
                     "settings is made)")
    return f"{text}: {at_a}; {at_b}."


_NAMES = {"lr": "learning rate", "p": "dropout rates"}


def _differ(a: str, b: str) -> str:
    """In which named settings two setting strings (``lr 0.5, p = (0.2, 0.5)``) differ, in
    words ("learning rate and dropout rates"); "" where none can be told apart."""
    def parts(s: str) -> dict[str, str]:
        return {k: v.strip() for k, v in re.findall(r"\b(lr|p)\s*=?\s*(\([^)]*\)|[^,]+)", s)}
    pa, pb = parts(a), parts(b)
    return words.join([_NAMES[k] for k in _NAMES if k in pa and k in pb and pa[k] != pb[k]])


def c_text(c: Contrast) -> str:
    """``label: value [lo, hi] unit over n seeds``, or why there is no value."""
    if c.pairs == 0:
        return f"{c.label}: no value (no seed pair stable in both arms)"
    if c.pairs == 1:  # one run against one run: no number (see ``ONE_PAIR``)
        return c.difference()
    # a null carries its resolution; an uninformative contrast is no null (its interval may
    # exclude zero), so it carries none
    quiet = c.resolution() if c.tested and not c.claim and not c.uninformative else ""
    return f"{c.difference()} over {words.seeds(c.pairs)}{quiet}"


def nulls_resolution(contrasts) -> str:
    """Beside a sentence that sums up several verdicts ("no scheme outperforms dropout"): the
    nulls among ``contrasts`` (tested, no claim) with their n and the largest of their
    resolutions, " (no detectable difference at 3 seeds: none larger than 6.09 pp would
    likely be missed)"; "" where none of them is a null (STUDY.md, "Words")."""
    said = nulls_said(contrasts)
    return f" ({said})" if said else ""


def nulls_said(contrasts) -> str:
    """``nulls_resolution``'s words without the brackets, to stand as a sentence's part: "no
    detectable difference at 3 seeds: none larger than 6.09 pp would likely be missed"."""
    nulls = [c for c in contrasts if c.tested and not c.claim]
    if not nulls:
        return ""
    fewest = min(c.pairs for c in nulls)
    at = words.seeds(fewest) if all(c.pairs == fewest for c in nulls) else (
        f"{fewest} or more seeds")
    mde = max(c.mde for c in nulls)
    size = (f": none larger than {nulls[0].quantity.size(mde)} would likely be missed"
            if np.isfinite(mde) else "")
    return f"no detectable difference at {at}{size}"
