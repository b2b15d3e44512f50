"""Exercise 6: dropout on the individual weights (DropConnect) instead of the activations.

Trains the reference MLP with activation dropout, DropConnect with a fresh Bernoulli mask on
the weights for every example (exact, Wan et al. 2013), the Gaussian approximation of it (Wang &
Manning 2013; a scheme of its own) and DropConnect with one mask per minibatch, each over a sweep
of drop rates (the same rate on both hidden layers; a method may have its own rates). Reports
each method at its rate picked on the validation split against activation dropout at its own (a
Holm family), each method against activation dropout at equal rate (a second Holm family), the
fidelity of the approximation (exact − approximation at one rate, paired by seed), the settings
that fail to train (a rule on the endpoint, stated in the report), and each method's training
time per model-epoch as a ratio to activation dropout (intervals on the log scale,
Holm-corrected).
"""

from __future__ import annotations

from ..base import Exercise, GlanceWords
from .analysis import (
    APPROX,
    COLUMNS,
    EXACT,
    EXPERIMENT,
    METHOD_NAMES,
    REFERENCE,
    Failure,
    Failures,
    Result,
    Timing,
    analyze,
    check,
    condition_name,
    conditions,
    failures,
    method_name,
    method_rates,
    ratio_of_means,
    timings,
)
from .figure import TICK, draw, star_offsets
from .text import (
    FIDELITY_BETTER,
    FIDELITY_WORSE,
    SHORT,
    WHY,
    at_rate,
    context,
    cost_note,
    departure,
    each_at,
    failure_rule,
    failure_text,
    fidelity_text,
    glance_words,
    jobs_text,
    packing,
    per_job,
    seconds_text,
)

__all__ = ["APPROX", "COLUMNS", "EXACT", "EXERCISE", "EXPERIMENT", "FIDELITY_BETTER",
           "FIDELITY_WORSE", "METHOD_NAMES", "REFERENCE", "SHORT", "TICK", "WHY", "Failure",
           "Failures", "Result", "Timing", "analyze", "at_rate", "check", "condition_name",
           "conditions", "context", "cost_note", "departure", "draw", "each_at",
           "failure_rule", "failure_text", "failures", "fidelity_text", "glance_words",
           "jobs_text", "method_name", "method_rates", "packing", "per_job", "ratio_of_means",
           "seconds_text",
           "star_offsets", "timings"]

EXERCISE = Exercise(
    number=6, key=EXPERIMENT, block=EXPERIMENT, reads=(EXPERIMENT,),
    title="Dropout on the weights instead of the activations",
    analyze=analyze, context=context, draw=draw, trains={EXPERIMENT: conditions}, check=check,
    headline=lambda r: r.at_best.get("dropconnect"),  # DropConnect proper, each at its best
    glance=GlanceWords(
        question="Drop weights instead of activations?",
        better="{a} is better", worse="{b} is better",
        answer_better="Dropping weights (DropConnect, a fresh mask per example) beats dropping "
                      "activations, each at its best rate on validation among those run.",
        answer_worse="Dropping activations beats dropping weights (DropConnect, a fresh mask "
                     "per example), each at its best rate on validation among those run.",
        answer_none="Dropping weights (DropConnect, a fresh mask per example) and dropping "
                    "activations, each at its best rate on validation among those run, cannot "
                    "be told apart.",
        absent="DropConnect (per example) was not trained in this study"))
