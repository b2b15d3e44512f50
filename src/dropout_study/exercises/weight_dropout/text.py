"""Exercise 6's words: the report's answer, takeaway, tables and summary row, from its
``Result`` (the cost a measurement, the fidelity row, the settings that fail to train)."""

from __future__ import annotations

import math

import numpy as np

from ... import words
from ...contrast import Contrast
from ...contrast_words import holm_family
from ...instability import NEAR_CHANCE, TRAINED_LOSS
from ...selection import grid_end
from ...spec import MASK_BITS
from ...stats import Estimate
from ..common import rows_words
from .analysis import (
    COLUMNS,
    EXACT,
    REFERENCE,
    Failure,
    Result,
    Timing,
    condition_name,
    method_name,
)

SHORT = {"dropconnect": ("per-example DropConnect", "per-example DropConnect's"),  # (it, its)
         "dropconnect_gaussian": ("its Gaussian approximation",
                                  "the Gaussian approximation's"),
         "dropconnect_batch": ("the per-minibatch variant", "the per-minibatch variant's")}
WHY = {"dropconnect": " (every example draws its own mask on the weights)"}


def seconds_text(e: Estimate) -> str:
    """Seconds with two or three significant digits: three decimals at most unless two digits
    need more (0.020 s, 0.0012 s, 0.203 s, 9.00 s, 156 s)."""
    if (gone := words.missing(e)) is not None:
        return gone
    top = math.floor(math.log10(e.value))
    return words.number(e, max(0, 1 - top, min(3, 2 - top)), unit="s")


def at_rate(r: Result, m: str) -> str:
    """Where a method stands in its comparison: the one rate run, or its best on validation."""
    p = f"p = {r.cells[r.selected[m]][1]:g}"
    return (f"at the one rate run, {p}" if len(r.method_rates.get(m, [])) == 1 else
            f"at its best rate on validation, {p}")


def each_at(r: Result) -> str:
    """"each at its best rate on validation", saying which methods ran at one rate only."""
    single = [m for m in r.selected if len(r.method_rates.get(m, [])) == 1]
    if not single:
        return "each at its best rate on validation"
    if len(single) == len(r.selected):
        return "each at the one rate run"
    return (f"each at its best rate on validation ({words.join([method_name(m) for m in single])}"
            f" at the one rate run)")


def departure(r: Result) -> str:
    """Where this study runs a method at fewer rates than the sweep the protocol asks for (a
    preset's ``method_rates``), said where it applies: its comparisons stand at the rates run,
    not at a best rate chosen on validation; "" where every method is swept."""
    short = {m: ps for m, ps in r.method_rates.items() if len(ps) == 1 and len(r.sweep) > 1}
    if not short:
        return ""
    said = words.join([f"{method_name(m)} at p = {ps[0]:g} only" for m, ps in short.items()])
    sweep = ", ".join(f"{p:g}" for p in r.sweep)
    who = "that method stands" if len(short) == 1 else "those methods stand"
    return (f"This study departs from the protocol's rate sweep here: it runs {said}, not over "
            f"the sweep ({sweep}) that the other methods run; {who} at the rate run in every "
            "comparison, not at a best rate chosen on validation.")


def _verdicts(r: Result) -> str:
    better, worse = r.better, r.worse
    untested = [m for m, c in r.at_best.items() if not c.tested]
    names = lambda ms: words.join([method_name(m) for m in ms])  # noqa: E731
    beat = "beats" if len(better) == 1 else "beat"
    if not r.at_best:
        text = ("here nothing could be compared (activation dropout or every weight-level "
                "method lacks a stable run)")
    elif better and worse:  # one of each: there are two weight-level methods
        text = (f"here {names(better)} beats dropping units and {names(worse)} does worse, "
                f"{each_at(r)}")
    elif better:
        text = (f"here it pays off in accuracy ({names(better)} {beat} dropping units, "
                f"{each_at(r)})")
    elif worse:
        text = f"here it does worse than dropping units ({names(worse)}, {each_at(r)})"
    elif len(untested) == len(r.at_best):
        text = "here too few seeds are stable for a verdict"
    else:  # each null with its n and resolution (referee read 4, 8)
        nulls = "; ".join(f"{method_name(m)}: {c.verdict('', '')}"
                          for m, c in r.at_best.items() if c.tested)
        text = f"here it cannot be told apart from dropping units ({nulls}), {each_at(r)}"
    if 0 < len(untested) < len(r.at_best):
        text += f" (no verdict on {names(untested)}: too few stable seed pairs)"
    return text


def equal_rate_claims(r: Result) -> str:
    """The equal-rate family's claims, by method and direction ("" where it has none): what
    the comparison at the best rates leaves out (referee, full study, second read: "cannot be
    told apart" at p = 0.1 stood for weight dropout at every rate)."""
    said = []
    for m in (m for m in r.methods if m != REFERENCE):
        for sign, verb in ((1, "beats"), (-1, "does worse than")):
            # each with its difference and n (a quick read: the claims were said bare)
            ps = [f"{p:g} ({c.quantity.text(c.primary)} over {words.seeds(c.pairs)})"
                  for p in r.rates if (c := r.equal_rate.get(
                      f"{condition_name(m, p)} − {condition_name(REFERENCE, p)}")) is not None
                  and c.claim and c.direction == sign]
            if ps:
                said.append(f"{method_name(m)} {verb} activation dropout at p = "
                            f"{words.join(ps)}")
    return ("at equal rates (Holm-corrected within that family), " + "; ".join(said)
            if said else "")


def jobs_text(t: Timing) -> str:
    return ("one job" if t.jobs == 1 else f"{t.jobs} jobs") + \
        f" of {t.models} model{'s' if t.models != 1 else ''}"


def per_job(t: Timing) -> float:
    """The models a job of the method trains together (the mean over its jobs timed)."""
    return t.models / t.jobs if t.jobs else float("nan")


def packing(t: Timing, ref: Timing | None) -> str:
    """Where the method's jobs train another number of models at once than activation
    dropout's: the time per model-epoch is then not like for like (a job's time per model
    falls as it trains more models together), said with both numbers; "" where they match."""
    if ref is None or t is ref or per_job(t) == per_job(ref):
        return ""
    return (f"its job{'s' if t.jobs != 1 else ''} trained {per_job(t):g} "
            f"models at once, activation dropout's {per_job(ref):g}, and a job's time per model "
            "falls as it trains more models together, so the ratio mixes the method's cost "
            "with that packing")


def packed_groups(timing: list[Timing], ref: Timing | None) -> list[str]:
    """The methods whose jobs train another number of models at once than activation
    dropout's, grouped by that number, each group said once (referee read 9: the same
    40-word caveat was repeated per method): "A and B: their jobs trained 3 models at once"."""
    groups: dict[float, list[Timing]] = {}
    for t in timing:
        if packing(t, ref):
            groups.setdefault(per_job(t), []).append(t)
    return [f"{words.join([method_name(t.method) for t in ts])}: "
            + ("their jobs" if len(ts) > 1 or ts[0].jobs != 1 else "its job")
            + f" trained {k:g} models at once" for k, ts in groups.items()]


def elsewhere(t: Timing, ref: Timing | None) -> str:
    """Where the method's jobs ran at another code version or on another machine than
    activation dropout's (a study trained over sessions): the times are then not like for
    like either; "" where both ran at the same."""
    if ref is None or t is ref:
        return ""
    said = []
    if t.versions and ref.versions and set(t.versions) != set(ref.versions):
        said.append(f"its jobs ran at code version {', '.join(t.versions)}, activation "
                    f"dropout's at {', '.join(ref.versions)}")
    if t.machines and ref.machines and set(t.machines) != set(ref.machines):
        said.append("on another machine (machine.json)")
    return " and ".join(said)


def _cost(t: Timing, ref: Timing | None) -> str:
    who, whose = SHORT[t.method]
    if words.missing(t.ratio) is not None or ref is None:
        return f"{whose} cost cannot be compared: activation dropout or it has no timings"
    packed = "; ".join(x for x in (packing(t, ref), elsewhere(t, ref)) if x)
    return (f"{who} took {words.measured(t.ratio)} the time of activation dropout per "
            f"model-epoch in the training loop{_whole(t)}{WHY.get(t.method, '')}, as measured "
            f"on {jobs_text(t)} against {jobs_text(ref)}"
            + (f" (not like for like: {packed})" if packed else ""))


def _whole(t: Timing) -> str:
    """The ratio on the other timer, the whole epoch with its evaluation, where it is
    measured: how far the choice of timer moves the number."""
    if t.whole is None or words.missing(t.whole) is not None:
        return ""
    return f" and {words.measured(t.whole)} on the whole epoch, its evaluation included"


def cost_note(r: Result) -> str:
    """Why the cost is a measurement and not a verdict."""
    one = all(t.jobs == 1 for t in r.timing)
    return (("one job per method" if one else
             "a few jobs per method")
            + ": their epochs are not independent replicates, so each ratio is a measurement, "
            "with no interval and no verdict, to two significant digits (the timer read and the "
            "number of models a job trains together move it)")


FIDELITY_BETTER = "exact masks reach higher accuracy than the approximation"
FIDELITY_WORSE = "exact masks reach lower accuracy than the approximation"


def fidelity_text(r: Result) -> str:
    """The fidelity row in one sentence: exact − approximation, its verdict and n."""
    c = r.fidelity
    if c is None:
        return ""
    text = f"Fidelity of the approximation: {c.difference()}, "
    if c.claim:
        verdict = FIDELITY_BETTER if c.direction > 0 else FIDELITY_WORSE
        # as exercise 1 says it (referee, full study: the robustness line disagreed, unsaid)
        held = (" (the robustness line over all seeds, at the same level, does not bear this out;"
                f" {c.disagreement()})" if c.disagrees else "")
        return (text + f"{verdict}: the approximation does not stand in for the real masks "
                f"here{held}.")
    return text + (c.verdict(FIDELITY_BETTER, FIDELITY_WORSE)
                   + ("" if not c.tested else " (not a proof that the two are equivalent)")
                   + ".")


def _pct_span(lo: float, hi: float) -> str:
    return f"{100 * lo:.1f}%" if lo == hi else f"{100 * lo:.1f}–{100 * hi:.1f}%"


def _span(f: Failure) -> str:
    if not np.isfinite(f.lo):
        return "every failed run diverged"
    best = (f", best validation accuracy reached at any epoch {_pct_span(*f.best_val)}"
            if np.isfinite(f.best_val[0]) else "")
    return f"test accuracy {_pct_span(f.lo, f.hi)} at the endpoint{best}"


def failure_rule() -> str:
    return (f"A run fails to train when the instability rule (under Methods) says it never "
            f"trained (its training loss never fell below {TRAINED_LOSS:.2f}, 0.8 · ln 10, or "
            f"its best validation accuracy never rose above {100 * NEAR_CHANCE:g}%) or "
            "diverged; the rule reads the training loss and the validation accuracy only, and "
            "the test accuracy of a failed run's endpoint is reported, not used to decide. A "
            "failed run counts in its setting's unstable runs and is left out of the table's "
            "means and of the primary contrasts.")


def _kinds(f: Failure) -> str:
    parts = [f"{f.never} never trained" if f.never else "",
             f"{f.diverged} diverged" if f.diverged else ""]
    return words.join(parts)


def failure_text(f: Failure) -> str:
    runs = (("both runs" if f.runs == 2 else f"all {f.runs} runs") if f.all
            else f"{f.failed} of {f.runs} runs")
    return (f"{method_name(f.method)} at p = {f.p:g} fails to train in {runs} ({_kinds(f)}; "
            f"{_span(f)})")


def _failures(r: Result) -> str:
    fl = r.failures
    if not fl.settings:
        return "every setting trains (no run never trained or diverged)"
    return words.join([failure_text(f) for f in fl.settings])


def _takeaway(r: Result) -> str:
    ref = next((t for t in r.timing if t.ratio is None), None)
    costs = "; ".join(_cost(t, ref) for t in r.timing if t.method != REFERENCE)
    costs += f" ({cost_note(r)})" if costs else ""
    fails = _failures(r) if r.failures.settings else ""
    equal = equal_rate_claims(r)
    return ("Dropping individual weights is a finer-grained noise than dropping whole units: "
            + _verdicts(r) + (f"; {equal}" if equal else "") + (f"; {fails}" if fails else "")
            + (f"; {costs}" if costs else "")
            + ". At test time every method uses the mean weights (the deterministic network).")


def _row(c: Contrast) -> dict:
    return c.row("better than activation dropout", "worse than activation dropout")


def mask_rounding(r: Result) -> str:
    """Per-example DropConnect's keep probability as its masks draw it: ``MASK_BITS`` random
    bits an entry, so 1 − p rounded to a multiple of 1/2^bits, with the largest rounding over
    the rates it was run at ("" where it was not run)."""
    rates = r.method_rates.get(EXACT)
    if not rates:
        return ""
    bits = MASK_BITS[EXACT]
    levels = 2 ** bits
    off = max(abs(max(round((1 - p) * levels), 1) / levels - (1 - p)) for p in rates)
    return (f" Each entry of its masks takes {bits} random bits, so a weight is kept with "
            f"probability 1 − p rounded to a multiple of 1/{levels}: "
            + (f"at most {off:.4f} off at the rates it was run at." if off > 0
               else "exact at the rates it was run at."))


def context(r: Result) -> dict:
    diffs = [f"{c.difference()} ({_row(c)['verdict']})" for c in r.at_best.values()]
    ref = next((t for t in r.timing if t.ratio is None), None)
    def unlike(t: Timing) -> str:  # one parenthesis for every reason (referee read 9)
        why = [x for x in ("another number of models per job" if packing(t, ref) else "",
                           elsewhere(t, ref)) if x]
        return f" (not like for like: {'; '.join(why)})" if why else ""

    spent = [f"{method_name(t.method)} took {words.measured(t.ratio)} as long{unlike(t)}"
             for t in r.timing if t.ratio is not None]
    cost = "" if ref is None else (
        f"; training took {method_name(REFERENCE)} {seconds_text(ref.seconds)} per "
        f"model-epoch" + (f", and {words.join(spent)}" if spent else "")
        + f" ({cost_note(r)})")
    single = [f"{method_name(m)} at p = {ps[0]:g} only" for m, ps in r.method_rates.items()
              if len(ps) == 1 and len(r.rates) > 1]
    answer = ("At each method's validation-selected rate, or the one rate it was run at"
              if single else "At each method's validation-selected rate")
    answer += ((f" (run at one rate: {words.join(single)})" if single else "") + ", "
              + ("; ".join(diffs) if diffs else "no comparison (activation dropout or every "
                 "weight-level method lacks a stable run)") + cost + ".")
    selected = set(r.selected.values())
    table = rows_words(r.table, COLUMNS)
    for row in table:
        method, p = r.cells[row["condition"]]
        row.update(method=method_name(method), p=f"{p:g}",
                   selected="selected" if row["condition"] in selected else "")
    timing = [{"method": method_name(t.method), "seconds": seconds_text(t.seconds),
               "n": t.seconds.n, "jobs": t.jobs, "models": t.models,
               "relative": "reference" if t.ratio is None else words.measured(t.ratio),
               "whole": ("reference" if t.ratio is None else
                         "not timed" if not _whole(t) else words.measured(t.whole))}
              for t in r.timing]
    for row in table:  # a setting with an unstable run: the mean over all its runs
        bad = next(x for x in r.table if x.condition == row["condition"])
        if bad.unstable:
            row["val_endpoint"] += f" (all {bad.runs} runs, {bad.unstable} failed)"
    return {**r.design, "methods": [method_name(m) for m in r.methods], "rates": r.rates,
            "table": table,
            "selected": [{"method": method_name(m), "p": f"{r.cells[c][1]:g}",
                          "end": (f", the {end} rate it ran" if (end := grid_end(
                              r.method_rates.get(m, []), r.cells[c][1])) else ""),
                          "val": f"{100 * r.selected_val[m]:.1f}%"}
                         for m, c in r.selected.items()],
            "diffs": [_row(c) for c in r.at_best.values()],
            "equal_rate": [_row(c) for c in r.equal_rate.values()],
            "holm": {"at_best": holm_family(r.at_best), "equal_rate": holm_family(r.equal_rate)},
            "timing": timing, "answer": answer, "takeaway": _takeaway(r),
            "departure": " ".join(x for x in (departure(r), r.preset_departure) if x),
            "each_at": each_at(r), "mask_rounding": mask_rounding(r),
            "cost_note": cost_note(r), "glance_words": glance_words(r),
            "packing": packed_groups(r.timing, ref),
            "packing_ref": f"{per_job(ref):g}" if ref is not None else "",
            "elsewhere": [f"{method_name(t.method)}: {elsewhere(t, ref)}" for t in r.timing
                          if elsewhere(t, ref)],
            "method_rates": [{"method": method_name(m), "rates": ", ".join(f"{p:g}" for p in ps)}
                             for m, ps in r.method_rates.items()],
            "fidelity": None if r.fidelity is None else
            _fidelity_row(r.fidelity) | {"p": f"{r.fidelity_rate:g}",
                                         "sentence": fidelity_text(r)},
            "failure_rule": failure_rule(), "fails_text": _failures(r),
            "undrawn": [f"{method_name(f.method)} at p = {f.p:g} ({f.failed} of {f.runs} runs "
                        "failed)" for f in r.failures.settings if f.all],
            "fail_rows": [{"method": method_name(f.method), "p": f"{f.p:g}",
                           "runs": f"{f.failed} of {f.runs}", "kinds": _kinds(f),
                           "span": _span(f), "all": f.all} for f in r.failures.settings]}


def glance_words(r: Result) -> dict | None:
    """The summary row's answer for the headline (per-example DropConnect − activation
    dropout), naming the rate each arm stands at: the one run, or the best on validation."""
    c = r.at_best.get(EXACT)
    if c is None or not c.tested:
        return None
    pe, ref = at_rate(r, EXACT), at_rate(r, REFERENCE)
    text = {1: f"Dropping weights (DropConnect, a fresh mask per example, {pe}) beats dropping "
               f"activations ({ref}).",
            -1: f"Dropping activations ({ref}) beats dropping weights (DropConnect, a fresh "
                f"mask per example, {pe}).",
            0: f"Dropping weights (DropConnect, a fresh mask per example, {pe}) and dropping "
               f"activations ({ref}) cannot be told apart."}[c.direction]
    if equal := equal_rate_claims(r):  # the rates the headline's comparison does not speak for
        text += f" {equal[0].upper()}{equal[1:]}."
    return {"answer": text}


def _fidelity_row(c: Contrast) -> dict:
    return c.row(FIDELITY_BETTER, FIDELITY_WORSE)
