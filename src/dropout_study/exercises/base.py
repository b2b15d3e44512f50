"""What an exercise is: the conditions it trains, its numbers, its figures, its words.

One module per exercise under ``dropout_study.exercises`` defines ``EXERCISE``; its template
section is ``report/sections/<key>.qmd.j2``; its config block (with its schema entry) is
``experiments.<block>``. Adding an exercise touches exactly those four places and the list in
``exercises/__init__.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..contrast import Contrast
from ..spec import Condition

if TYPE_CHECKING:  # annotations only: Results.load reads the plan, which reads the registry
    from ..results import Results

Builder = Callable[[dict], list[Condition]]


@dataclass(frozen=True)
class GlanceWords:
    """What the report's "at a glance" table says of an exercise's headline contrast a − b.

    Each sentence may name the two arms as ``{a}`` and ``{b}`` (from the contrast's label);
    the numbers beside them (effect, interval, n) come from the contrast itself."""

    question: str  # the exercise's question in a few words
    better: str  # the verdict, in a few words, when a > b is claimed
    worse: str  # ... when a < b is claimed
    answer_better: str  # the one-sentence answer when a > b is claimed
    answer_worse: str
    answer_none: str  # ... when the interval does not exclude zero (no detectable difference)
    absent: str = "this study has no headline contrast for it"  # why, when there is none


@dataclass(frozen=True)
class Exercise:
    number: int
    key: str  # the module's name; its template is report/sections/<key>.qmd.j2
    title: str
    block: str  # its config block under experiments:
    reads: tuple[str, ...]  # the experiments (or evaluation tables) whose results it reads
    analyze: Callable[[Results], Any]  # tidy tables -> a typed result (pure)
    context: Callable[[Any], dict]  # typed result -> the words its template shows
    draw: Callable[[Results, Any, Path], dict[str, Path]]  # figures, from the same result
    trains: dict[str, Builder] = field(default_factory=dict)  # experiment -> its conditions
    check: Callable[[dict], None] | None = None  # config relations the schema cannot express
    editions: bool = False  # also run at the book's newer edition's setting (newer_edition)
    headline: Callable[[Any], Contrast | None] | None = None  # its main contrast, if it has one
    glance: GlanceWords | None = None  # the words of its row in the report's summary table
    # what its two settings (editions) say and whether it agrees, from the two results, where
    # comparing the headlines alone is not enough (e.g. a setting with no headline)
    agreement: Callable[[Any, Any, str, str], str] | None = None
    # where it has no headline, the contrasts its summary row stands on instead (the forest
    # plot draws them, so that the plot and the row say the same thing); none by default
    instead: Callable[[Any], list[Contrast]] | None = None
    # the contrasts its summary row names beside its headline (a claim of the headline's
    # family, e.g. exercise 2's test-loss rise): the forest plot draws them too
    beside: Callable[[Any], list[Contrast]] | None = None
    # where its headline is no contrast of two trained settings (e.g. two evaluations of the
    # same models, or an interaction), why, in a few words: the preset's box names its
    # resolution apart, out of the typical one; "" for a contrast of two trainings
    apart: str = ""

    def enabled(self, cfg: dict) -> bool:
        return bool(cfg["experiments"].get(self.block, {}).get("enabled", False))
