"""The headlines an exercise reports, at each setting it is answered at: what the report
prints, a precision round sharpens and ``compare`` reads, in one place below all three."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .exercises.base import Exercise
    from .results import Results


def at_both_settings(ex: Exercise, result, newer_res: Results | None) -> bool:
    """Whether an exercise is answered at both editions' settings: one the newer edition runs
    too, in a study that runs it, with an answer at the older edition's setting."""
    return bool(ex.editions) and newer_res is not None and result is not None


def headlines_at(ex: Exercise, result, newer_result=None, both: bool = False) -> list[tuple]:
    """An exercise's headline at each setting it is answered at, as (tag, headline or None):
    (None, ...) at its one setting; ("older", ...) and, where it has an answer there,
    ("newer", ...) where it runs at both (``at_both_settings``). Nothing where it has no
    answer. The report's rows and a precision round's widths both read this."""
    if result is None:
        return []

    def head(r):
        return ex.headline(r) if ex.headline is not None and r is not None else None

    if not both:
        return [(None, head(result))]
    return [("older", head(result))] + ([("newer", head(newer_result))]
                                       if newer_result is not None else [])
