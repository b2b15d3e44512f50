"""Exercise 3: the variance of the activations in each hidden layer, with and without dropout.

Trains nothing: it reads the activation statistics that the ``long_training`` runs (exercise
2) log on a fixed probe batch along training (see ``train.activation_stats``). Every quantity
read at an epoch uses the runs stable at that epoch (``instability.stable_epochs``), and the
epochs are fixed in advance (``READ_AT`` and the last; the headline at ``HEADLINE_EPOCH``),
never chosen from the outcome. Reports, per hidden layer at the headline epoch, the variance
before and after the dropout mask (train mode) and in eval mode, as geometric means over runs;
the mask's amplification and the cross-model ratios a / b (paired by seed, on the log scale);
the eval-mode ratio dropout / none at every epoch read, one Holm family over layers × epochs;
how the eval-mode variance evolves; and the check of the measured post-mask variance against
the closed form Var[h′] = (Var[h] + p·E[h]²)/(1 − p).
"""

from __future__ import annotations

from dataclasses import replace

from ...contrast import Contrast
from ..base import Exercise, GlanceWords
from .analysis import (
    EVAL,
    EXPERIMENT,
    HEADLINE_EPOCH,
    READ_AT,
    TOLERANCE,
    TRAIN,
    Check,
    Evolution,
    Layer,
    Result,
    analyze,
    closed_form,
    headline_epoch,
    read_epochs,
)
from .figure import draw
from .text import _value, context, holm_over, percent, rule

__all__ = ["EVAL", "EXERCISE", "EXPERIMENT", "HEADLINE_EPOCH", "READ_AT", "TOLERANCE", "TRAIN",
           "Check", "Evolution", "Layer", "Result", "_value", "analyze", "closed_form",
           "context", "draw", "headline", "headline_epoch", "holm_over", "percent", "read_epochs",
           "rule"]


def headline(r: Result) -> Contrast | None:
    """The first hidden layer's eval-mode variance at the headline epoch, dropout / none (a
    ratio, log scale), its label naming the layer and the epoch (the summary row and the
    forest plot showed the bare conditions: referee read 6, 1)."""
    if not r.layers:
        return None
    c = r.layers[0].eval_ratio
    return replace(c, label=f"{c.label} (layer {r.layers[0].layer}, epoch {r.horizon:g})")


AT_HEADLINE = f"At the headline epoch ({HEADLINE_EPOCH}, or the last of a shorter run), "
EXERCISE = Exercise(
    number=3, key="activation_variance", block=EXPERIMENT, reads=(EXPERIMENT,),
    title="The variance of the activations along training",
    analyze=analyze, context=context, draw=draw, headline=headline,
    glance=GlanceWords(
        question="Activation variance, with vs without dropout?",
        better="higher with dropout", worse="lower with dropout",
        answer_better=AT_HEADLINE + "in eval mode the "
                      "dropout model's first-layer activations vary more than the no-dropout "
                      "model's; the mask's extra variance exists in training only.",
        answer_worse=AT_HEADLINE + "in eval mode the "
                     "dropout model's first-layer activations vary less than the no-dropout "
                     "model's; the mask's extra variance exists in training only.",
        answer_none=AT_HEADLINE + "in eval mode the "
                    "two models' first-layer activation variances show no detectable difference "
                    "(ratio dropout / none); the mask's extra variance exists in training only."))
