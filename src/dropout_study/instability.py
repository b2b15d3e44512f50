"""Which runs are unstable, when, and why (STUDY.md, "Divergence and instability").

A run is **unstable** when, after its first epoch, its training loss is not finite or exceeds
chance level (ln 10 for ten classes), or its test accuracy falls more than ``COLLAPSE`` below
its own best so far. A collapse that partly recovers is not noise around the mean: it is a
different outcome, counted as such and kept out of the primary comparisons. The first epoch
that meets the rule and the reason are recorded.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

CHANCE_LOSS = math.log(10)  # cross-entropy of a uniform guess over ten classes
COLLAPSE = 0.10  # a fall of the test accuracy below its best so far, in accuracy units
COLUMNS = ["unstable", "unstable_epoch", "unstable_reason"]


def run_instability(epochs: np.ndarray, train_loss: np.ndarray,
                    test_acc: np.ndarray) -> tuple[bool, float, str]:
    """The rule on one run's per-epoch series (sorted by epoch)."""
    best = -np.inf
    for i, epoch in enumerate(epochs):
        loss, acc = float(train_loss[i]), float(test_acc[i])
        if i > 0:
            if not math.isfinite(loss):
                return True, float(epoch), "training loss not finite (diverged)"
            if loss > CHANCE_LOSS:
                return True, float(epoch), (f"training loss {loss:.3g} above chance "
                                            f"(ln 10 = {CHANCE_LOSS:.2f})")
            if not math.isfinite(acc):
                return True, float(epoch), "test accuracy not finite (diverged)"
            if acc < best - COLLAPSE:
                return True, float(epoch), (f"test accuracy {100 * acc:.1f}% fell "
                                            f"{100 * (best - acc):.1f} points below its best "
                                            f"so far ({100 * best:.1f}%)")
        if math.isfinite(acc):
            best = max(best, acc)
    return False, math.nan, ""


def instability(metrics: pd.DataFrame) -> pd.DataFrame:
    """One row per run of ``metrics``: ``unstable``, ``unstable_epoch``, ``unstable_reason``."""
    keys = ["experiment", "condition", "seed"]
    if metrics.empty:
        return pd.DataFrame(columns=keys + COLUMNS)
    rows = []
    for key, g in metrics.groupby(keys, sort=False):
        g = g.sort_values("epoch")
        flag, epoch, reason = run_instability(g["epoch"].to_numpy(), g["train_loss"].to_numpy(),
                                              g["test_acc"].to_numpy())
        rows.append(dict(zip(keys, key, strict=True), unstable=flag, unstable_epoch=epoch,
                         unstable_reason=reason))
    return pd.DataFrame(rows)


def describe(cfg: dict) -> str:
    """The rule as the report states it (its numbers from the code and the config)."""
    return (f"A run is **unstable** when, after its first epoch, its training loss is not "
            f"finite or exceeds chance level (ln 10 = {CHANCE_LOSS:.2f}), or its test accuracy "
            f"falls more than {100 * COLLAPSE:g} points below its own best so far (a collapse, "
            "even one that partly recovers); a run whose training loss passes "
            f"{cfg['training'].get('divergence_loss', 100.0):g} or becomes NaN is also stopped "
            "(diverged). An unstable run is recorded with its epoch and reason (listed below), "
            "counted in its arm's instability rate and left out of the primary comparisons; "
            "the robustness line keeps it where it has a value.")
