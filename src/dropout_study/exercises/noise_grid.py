"""Exercise 7's tuning stage in words: per scheme, the validation accuracy of every strength
tried, the strength selected, and where that lies at an end of the strengths tried (a better
one beyond them is not excluded, and the fresh-seed comparison is at the strength selected)."""

from __future__ import annotations

from .. import words
from ..selection import grid_end


def tuning_rows(tuning) -> list[dict]:
    """The tuning table: per scheme (a ``noise.Tuning``) its strengths with their validation
    accuracy (and their unstable runs and transient collapses), and the one selected."""
    out = []
    for t in tuning:
        tried = ", ".join(f"{s}: {100 * v:.1f}%" if v == v else f"{s}: no stable run"
                          for s, v in t.tried.items())
        bad = [s for s, n in t.unstable.items() if n]
        if bad:
            tried += f" (unstable runs at {', '.join(bad)})"
        fell = [f"{s} ({n})" if n > 1 else s for s, n in t.collapses.items() if n]
        if fell:
            tried += (f" (transient collapses of stable runs, recovered by their endpoint, at "
                      f"{', '.join(fell)})")
        chosen = f"{t.selected:g}"
        if end := grid_end(t.tried, t.selected):
            chosen += f" (the {end} tried)"
        if t.trained is None:
            chosen += " (not trained on fresh seeds)"
        elif t.trained != t.selected:
            chosen += f" (but trained at {t.trained:g})"
        out.append({"method": t.method, "tried": tried, "chosen": chosen})
    return out


def at_edge(tuning) -> str:
    """The schemes selected at an end of the strengths they tried, in one sentence beside the
    tuning table (referee read 8: annealed dropout's 0.7 was its largest, unsaid); ""
    where every selection lies inside its strengths."""
    ends = [f"{t.method} at {t.selected:g} (the {end} it tried)" for t in tuning
            if (end := grid_end(t.tried, t.selected))]
    if not ends:
        return ""
    it, its = (("it", "its comparison on fresh seeds stands at the strength") if len(ends) == 1
               else ("them", "their comparisons on fresh seeds stand at the strengths"))
    return (f"Selected at an end of the strengths tried: {words.join(ends)}. A better strength "
            f"beyond those tried is not excluded for {it}; {its} selected.")
