"""Which runs are unstable, where, and why (STUDY.md revision 3, "Divergence and instability").

An epoch **meets the rule** when the run's training loss is not finite or exceeds chance level
(ln 10 for ten classes; the first epoch, which starts from chance, is exempt from this part),
or its test accuracy is not finite or more than ``COLLAPSE`` below the run's own best so far.
What that means for a run depends on where it is measured:

- **diverged**: its training loss became non-finite (or passed the trainer's divergence
  threshold, which stops it): it has no endpoint;
- **unstable at its endpoint**: an epoch of the endpoint window (the last ``k`` epochs, the
  ones the headline endpoint averages) meets the rule;
- a **transient collapse**: an earlier epoch met the rule and the run recovered (before the
  window, or before it later diverged). That is an event of the run, counted per arm as its
  own rate; a run that did not diverge keeps its endpoint and its place in the primary
  contrast.

A per-epoch quantity at epoch e uses the runs **stable at e**: not diverged by e and no epoch
of the window that ends at e (e − k + 1 … e) meets the rule.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

CHANCE_LOSS = math.log(10)  # cross-entropy of a uniform guess over ten classes
COLLAPSE = 0.10  # a fall of the test accuracy below its best so far, in accuracy units
RUN_KEYS = ["experiment", "condition", "seed"]
COLUMNS = ["unstable", "unstable_epoch", "unstable_reason", "diverged_run",
           "endpoint_unstable", "collapse", "collapse_epoch", "collapse_reason",
           "collapse_epochs"]


def epoch_reasons(train_loss: np.ndarray, test_acc: np.ndarray,
                  diverged: np.ndarray | None = None) -> list[str]:
    """Per epoch (sorted), why it meets the rule, or "" where it does not. A reason that
    starts with "diverged" marks the epoch at which the run diverged."""
    reasons = []
    best = -np.inf
    for i, (loss, acc) in enumerate(zip(train_loss, test_acc, strict=True)):
        loss, acc = float(loss), float(acc)
        why = ""
        if (diverged is not None and bool(diverged[i])) or not math.isfinite(loss):
            why = "diverged: training loss not finite or past the divergence threshold"
        elif i > 0 and loss > CHANCE_LOSS:
            why = f"training loss {loss:.3g} above chance (ln 10 = {CHANCE_LOSS:.2f})"
        elif not math.isfinite(acc):
            why = "diverged: test accuracy not finite"
        elif acc < best - COLLAPSE:
            why = (f"test accuracy {100 * acc:.1f}% fell {100 * (best - acc):.1f} points "
                   f"below its best so far ({100 * best:.1f}%)")
        reasons.append(why)
        if math.isfinite(acc):
            best = max(best, acc)
    return reasons


def _episode_starts(flagged: list[bool]) -> list[int]:
    """The first index of each run of consecutive flagged epochs."""
    return [i for i, f in enumerate(flagged) if f and (i == 0 or not flagged[i - 1])]


def run_state(epochs: np.ndarray, train_loss: np.ndarray, test_acc: np.ndarray, k: int,
              diverged: np.ndarray | None = None) -> dict:
    """The rule on one run's per-epoch series (sorted by epoch), its endpoint window being the
    last ``k`` epochs: one row of ``COLUMNS``. Every collapse the run recovered from is an event
    (``collapse_epochs`` lists where each began), a diverged run's earlier ones included."""
    reasons = epoch_reasons(train_loss, test_acc, diverged)
    flagged = [bool(r) for r in reasons]
    out = dict(unstable=False, unstable_epoch=math.nan, unstable_reason="",
               diverged_run=False, endpoint_unstable=False, collapse=False,
               collapse_epoch=math.nan, collapse_reason="", collapse_epochs="")
    dead = next((i for i, r in enumerate(reasons) if r.startswith("diverged")), None)
    if dead is not None:
        out.update(unstable=True, diverged_run=True, unstable_epoch=float(epochs[dead]),
                   unstable_reason=reasons[dead])
        first = dead
        while first > 0 and flagged[first - 1]:  # the episode that ran into the divergence
            first -= 1
        before = flagged[:first]
    else:
        start = max(len(reasons) - k, 0)
        if any(flagged[start:]):
            # the episode that reaches into the window: back from its first flagged epoch there
            first = start + flagged[start:].index(True)
            while first > 0 and flagged[first - 1]:
                first -= 1
            out.update(unstable=True, endpoint_unstable=True,
                       unstable_epoch=float(epochs[first]), unstable_reason=reasons[first])
            before = flagged[:first]
        else:
            before = flagged[:start]
    starts = _episode_starts(before)
    if starts:
        i = starts[0]
        out.update(collapse=True, collapse_epoch=float(epochs[i]), collapse_reason=reasons[i],
                   collapse_epochs=", ".join(f"{float(epochs[j]):g}" for j in starts))
    return out


def stable_by_epoch(epochs: np.ndarray, train_loss: np.ndarray, test_acc: np.ndarray, k: int,
                    diverged: np.ndarray | None = None) -> np.ndarray:
    """Per epoch e: whether the run is stable at e (not diverged by e, and no epoch of the
    window e − k + 1 … e meets the rule)."""
    reasons = epoch_reasons(train_loss, test_acc, diverged)
    flagged = np.array([bool(r) for r in reasons], dtype=bool)
    dead = np.logical_or.accumulate(np.array([r.startswith("diverged") for r in reasons],
                                             dtype=bool))
    window = pd.Series(flagged.astype(float)).rolling(k, min_periods=1).max().to_numpy()
    return (window == 0) & ~dead


def _groups(metrics: pd.DataFrame):
    has_div = "diverged" in metrics.columns
    for key, g in metrics.groupby(RUN_KEYS, sort=False):
        g = g.sort_values("epoch")
        yield key, g, (g["epoch"].to_numpy(), g["train_loss"].to_numpy(),
                       g["test_acc"].to_numpy(), g["diverged"].to_numpy() if has_div else None)


def instability(metrics: pd.DataFrame, k: int) -> pd.DataFrame:
    """One row per run of ``metrics``: ``COLUMNS`` (``unstable`` = diverged or unstable at
    its endpoint: the run is left out of primary comparisons)."""
    if metrics.empty:
        return pd.DataFrame(columns=RUN_KEYS + COLUMNS)
    rows = []
    for key, _, (ep, loss, acc, div) in _groups(metrics):
        rows.append(dict(zip(RUN_KEYS, key, strict=True)) | run_state(ep, loss, acc, k, div))
    return pd.DataFrame(rows)


def stable_epochs(metrics: pd.DataFrame, k: int) -> pd.DataFrame:
    """``RUN_KEYS + ["epoch", "stable_at"]``: each run's stability at each of its epochs."""
    if metrics.empty:
        return pd.DataFrame(columns=RUN_KEYS + ["epoch", "stable_at"])
    parts = []
    for key, _, (ep, loss, acc, div) in _groups(metrics):
        parts.append(pd.DataFrame({**dict(zip(RUN_KEYS, key, strict=True)), "epoch": ep,
                                   "stable_at": stable_by_epoch(ep, loss, acc, k, div)}))
    return pd.concat(parts, ignore_index=True)


def counts(ends: pd.DataFrame) -> dict:
    """The instability counts of an endpoints table: runs, transient collapses (events),
    runs unstable at their endpoint, and diverged runs."""
    if ends.empty:
        return {"runs": 0, "collapses": 0, "endpoint_unstable": 0, "diverged": 0}
    return {"runs": len(ends), "collapses": int(ends["collapse"].sum()),
            "endpoint_unstable": int(ends["endpoint_unstable"].sum()),
            "diverged": int(ends["diverged_run"].sum())}


def describe(cfg: dict) -> str:
    """The rule as the report states it (its numbers from the code and the config)."""
    k = cfg["analysis"].get("endpoint_epochs", 3)
    return (f"An epoch **meets the instability rule** when the run's training loss is not finite "
            f"or exceeds chance level (ln 10 = {CHANCE_LOSS:.2f}; not checked in the first "
            f"epoch, which starts from chance), or its test accuracy falls more than "
            f"{100 * COLLAPSE:g} points below the run's own best so far. A run is judged where "
            f"it is measured: it is **unstable at its endpoint** when an epoch of the endpoint "
            f"window (its last {k} epochs, the ones the headline averages) meets the rule; it "
            f"**diverged** when its training loss became non-finite or passed "
            f"{cfg['training'].get('divergence_loss', 100.0):g} (the trainer stops it; it has "
            "no endpoint); it had a **transient collapse** when an earlier epoch met the rule "
            "and it recovered (before the window, or before it diverged). Runs unstable at "
            "their endpoint or diverged are counted in their arm's instability rate and left "
            "out of the primary comparisons (the robustness line keeps every run with a "
            "value); a transient collapse is counted as an event of its arm, and the run "
            "keeps its endpoint unless it diverged later. A "
            f"quantity read at epoch e uses the runs stable at e (no epoch of e − {k - 1} … e "
            "meets the rule). Every event is listed below with its epoch and reason.")
