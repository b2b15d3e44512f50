"""Which runs are unstable, where, and why (STUDY.md revision 4, "Divergence and instability").

The rule reads the **training loss and the validation accuracy only**, never the test set: the
test set reports and decides nothing, and stability ranks settings wherever one is selected.

An epoch **meets the rule** when the run's training loss is not finite or exceeds chance level
(ln 10 for ten classes; the first epoch, which starts from chance, is exempt from this part),
or its validation accuracy is not finite or more than ``COLLAPSE`` below the run's own best so
far. What that means for a run depends on where it is measured; each run is exactly one of:

- **diverged**: its training loss became non-finite (or passed the trainer's divergence
  threshold, which stops it): it has no endpoint;
- **never trained**: its training loss never fell below ``TRAINED_LOSS`` (0.8 · ln 10), or its
  best validation accuracy never rose above ``NEAR_CHANCE``: a failure of its own kind, never
  "stable", whatever its endpoint window looks like;
- **unstable at its endpoint**: an epoch of the endpoint window (the last ``k`` epochs, the
  ones the headline endpoint averages) meets the rule;
- **stable**, and then it may have had **transient collapses**: earlier epochs met the rule and
  the run recovered before the window. Only a run stable at its endpoint has them (counted per
  arm as their own rate; the run keeps its endpoint and its place in the primary contrast); the
  earlier episodes of a run counted as one of the kinds above are recorded
  (``earlier_epochs``), never counted as transient collapses.

A per-epoch quantity at epoch e uses the runs **stable at e**: not diverged by e, trained by e
(the two conditions above on epochs 1 … e), and no epoch of the window that ends at e
(e − k + 1 … e) meets the rule.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

CHANCE_LOSS = math.log(10)  # cross-entropy of a uniform guess over ten classes
CHANCE_ACC = 0.10  # accuracy of a uniform guess over ten classes
TRAINED_LOSS = 0.8 * CHANCE_LOSS  # a run has trained once its training loss falls below this
NEAR_CHANCE = CHANCE_ACC + 0.10  # a best validation accuracy at most this: never trained
COLLAPSE = 0.10  # a fall of the validation accuracy below its best so far, in accuracy units
RUN_KEYS = ["experiment", "condition", "seed"]
COLUMNS = ["unstable", "unstable_epoch", "unstable_reason", "diverged_run",
           "endpoint_unstable", "never_trained", "collapse", "collapse_epoch",
           "collapse_reason", "collapse_epochs", "earlier_epochs"]
STABILITY = ("train_loss", "val_acc")  # the only columns the rule reads


def epoch_reasons(train_loss: np.ndarray, val_acc: np.ndarray,
                  diverged: np.ndarray | None = None) -> list[str]:
    """Per epoch (sorted), why it meets the rule, or "" where it does not. A reason that
    starts with "diverged" marks the epoch at which the run diverged."""
    reasons = []
    best = -np.inf
    for i, (loss, acc) in enumerate(zip(train_loss, val_acc, strict=True)):
        loss, acc = float(loss), float(acc)
        why = ""
        if (diverged is not None and bool(diverged[i])) or not math.isfinite(loss):
            why = "diverged: training loss not finite or past the divergence threshold"
        elif i > 0 and loss > CHANCE_LOSS:
            why = f"training loss {loss:.3g} above chance (ln 10 = {CHANCE_LOSS:.2f})"
        elif not math.isfinite(acc):
            why = "diverged: validation accuracy not finite"
        elif acc < best - COLLAPSE:
            # two decimals: the rule's edge is "more than 10 points", and a fall of 10.01 printed
            # as "10.0" looked like none (referee, full study)
            why = (f"validation accuracy {100 * acc:.2f}% fell {100 * (best - acc):.2f} points "
                   f"below its best so far ({100 * best:.2f}%)")
        reasons.append(why)
        if math.isfinite(acc):
            best = max(best, acc)
    return reasons


def untrained(train_loss: np.ndarray, val_acc: np.ndarray) -> str:
    """Why a run (or its first epochs) never trained, or "" where it did: its training loss
    never fell below ``TRAINED_LOSS``, or its best validation accuracy stayed at most
    ``NEAR_CHANCE``."""
    loss = np.asarray(train_loss, dtype=float)
    acc = np.asarray(val_acc, dtype=float)
    loss, acc = loss[np.isfinite(loss)], acc[np.isfinite(acc)]
    if loss.size and loss.min() >= TRAINED_LOSS:
        return (f"never trained: its training loss never fell below {TRAINED_LOSS:.2f} "
                f"(0.8 · ln 10; lowest {loss.min():.3g})")
    if acc.size and acc.max() <= NEAR_CHANCE:
        return (f"never trained: its best validation accuracy, {100 * acc.max():.1f}%, stayed "
                f"within {100 * (NEAR_CHANCE - CHANCE_ACC):g} points of chance "
                f"({100 * CHANCE_ACC:g}%)")
    return ""


def _episode_starts(flagged: list[bool]) -> list[int]:
    """The first index of each run of consecutive flagged epochs."""
    return [i for i, f in enumerate(flagged) if f and (i == 0 or not flagged[i - 1])]


def run_state(epochs: np.ndarray, train_loss: np.ndarray, val_acc: np.ndarray, k: int,
              diverged: np.ndarray | None = None) -> dict:
    """The rule on one run's per-epoch series (sorted by epoch), its endpoint window being the
    last ``k`` epochs: one row of ``COLUMNS``. A run is diverged, never trained, unstable at
    its endpoint or stable, in that order; only a stable run has transient collapses
    (``collapse_epochs`` lists where each began); the earlier recovered episodes of a run of
    another kind are recorded in ``earlier_epochs``."""
    reasons = epoch_reasons(train_loss, val_acc, diverged)
    flagged = [bool(r) for r in reasons]
    out = dict(unstable=False, unstable_epoch=math.nan, unstable_reason="",
               diverged_run=False, endpoint_unstable=False, never_trained=False,
               collapse=False, collapse_epoch=math.nan, collapse_reason="",
               collapse_epochs="", earlier_epochs="")
    dead = next((i for i, r in enumerate(reasons) if r.startswith("diverged")), None)
    never = "" if dead is not None else untrained(train_loss, val_acc)
    start = max(len(reasons) - k, 0)
    if dead is not None:
        out.update(unstable=True, diverged_run=True, unstable_epoch=float(epochs[dead]),
                   unstable_reason=reasons[dead])
        first = dead
        while first > 0 and flagged[first - 1]:  # the episode that ran into the divergence
            first -= 1
        before = flagged[:first]
    elif never:
        out.update(unstable=True, never_trained=True, unstable_epoch=float(epochs[0]),
                   unstable_reason=never)
        before = []  # a run that never trained has nothing to recover to
    elif any(flagged[start:]):
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
    listed = ", ".join(f"{float(epochs[j]):g}" for j in starts)
    if starts and not out["unstable"]:
        i = starts[0]
        out.update(collapse=True, collapse_epoch=float(epochs[i]), collapse_reason=reasons[i],
                   collapse_epochs=listed)
    elif starts:
        out["earlier_epochs"] = listed
    return out


def stable_by_epoch(epochs: np.ndarray, train_loss: np.ndarray, val_acc: np.ndarray, k: int,
                    diverged: np.ndarray | None = None) -> np.ndarray:
    """Per epoch e: whether the run is stable at e (not diverged by e, trained by e, and no
    epoch of the window e − k + 1 … e meets the rule)."""
    reasons = epoch_reasons(train_loss, val_acc, diverged)
    flagged = np.array([bool(r) for r in reasons], dtype=bool)
    dead = np.logical_or.accumulate(np.array([r.startswith("diverged") for r in reasons],
                                             dtype=bool))
    loss = np.asarray(train_loss, dtype=float)
    acc = np.asarray(val_acc, dtype=float)
    low = np.fmin.accumulate(np.where(np.isfinite(loss), loss, np.inf))
    best = np.fmax.accumulate(np.where(np.isfinite(acc), acc, -np.inf))
    # trained by e; in the first epoch by its validation accuracy alone: that epoch's mean
    # training loss includes its start from chance (at lr 0.1 about 2.0 in a healthy run)
    first = np.arange(len(loss)) == 0
    trained = ((low < TRAINED_LOSS) | first) & (best > NEAR_CHANCE)
    if len(loss) and not (low[-1] < TRAINED_LOSS and best[-1] > NEAR_CHANCE):
        trained[:] = False  # a run that never trained counts at no epoch, its first included
    window = pd.Series(flagged.astype(float)).rolling(k, min_periods=1).max().to_numpy()
    return (window == 0) & ~dead & trained


def _groups(metrics: pd.DataFrame):
    has_div = "diverged" in metrics.columns
    for key, g in metrics.groupby(RUN_KEYS, sort=False):
        g = g.sort_values("epoch")
        yield key, g, (g["epoch"].to_numpy(), g["train_loss"].to_numpy(dtype=float),
                       g["val_acc"].to_numpy(dtype=float),
                       g["diverged"].to_numpy() if has_div else None)


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
    """The instability counts of an endpoints table: runs, transient collapses (events of
    stable runs), runs unstable at their endpoint, diverged runs and runs that never trained
    (the last three never overlap)."""
    if ends.empty:
        return {"runs": 0, "collapses": 0, "endpoint_unstable": 0, "diverged": 0,
                "never_trained": 0}
    return {"runs": len(ends), "collapses": int(ends["collapse"].sum()),
            "endpoint_unstable": int(ends["endpoint_unstable"].sum()),
            "diverged": int(ends["diverged_run"].sum()),
            "never_trained": int(ends["never_trained"].sum())}


def describe(cfg: dict) -> str:
    """The rule as the report states it (its numbers from the code and the config)."""
    k = cfg["analysis"].get("endpoint_epochs", 3)
    return (f"The rule reads each run's **training loss and validation accuracy only**, never "
            f"the test set (which reports and decides nothing; stability ranks settings "
            f"wherever one is selected). An epoch **meets the instability rule** when the "
            f"training loss is not finite or exceeds chance level (ln 10 = {CHANCE_LOSS:.2f}; "
            f"not checked in the first epoch, which starts from chance), or the validation "
            f"accuracy falls more than {100 * COLLAPSE:g} points below the run's own best so "
            f"far. Each run is exactly one of four kinds: it **diverged** when its training "
            f"loss became non-finite or passed "
            f"{cfg['training'].get('divergence_loss', 100.0):g} (the trainer stops it; it has "
            f"no endpoint); it **never trained** when its training loss never fell below "
            f"{TRAINED_LOSS:.2f} (0.8 · ln 10) or its best validation accuracy never rose above "
            f"{100 * NEAR_CHANCE:g}% (chance is {100 * CHANCE_ACC:g}%), a failure of its own "
            f"kind whatever its last epochs look like; it is **unstable at its endpoint** when "
            f"an epoch of the endpoint window (its last {k} epochs, the ones the headline "
            "averages) meets the rule; otherwise it is **stable**, and a stable run had a "
            "**transient collapse** when an earlier epoch met the rule and it recovered before "
            "the window. Runs diverged, never trained or unstable at their endpoint are counted "
            "in their arm's rate of failed runs, each in its own kind only, and left out of the "
            "primary comparisons and of the tables' means (the robustness line keeps every run "
            "with a value); a transient collapse is counted as an event of its arm, and the "
            "run keeps its endpoint. The earlier recovered episodes of a failed run are listed "
            "with it, not counted as transient collapses. A quantity read at epoch e uses the "
            f"runs stable at e (trained and not diverged by e, and no epoch of e − {k - 1} … e "
            "meets the rule; in the first epoch, trained by its validation accuracy alone, as "
            "that epoch's mean training loss includes its start from chance). Every event is "
            "listed below with its epoch and reason.")


def near_misses(metrics: pd.DataFrame, k: int) -> dict:
    """How close the runs stable at their endpoint come to the rule's validation part (the
    rule checked against the runs, STUDY.md): per such run, the largest fall of its validation
    accuracy below its own best so far within its endpoint window (the last ``k`` epochs); how
    many fall more than half and more than three quarters of ``COLLAPSE``, and the largest."""
    if metrics.empty:
        return {"stable": 0, "half": 0, "three_quarters": 0, "largest": math.nan,
                "median": math.nan}
    state = instability(metrics, k).set_index(RUN_KEYS)
    falls = []
    for key, _, (_, _, acc, _) in _groups(metrics):
        if state.loc[key, "unstable"]:
            continue
        best = np.fmax.accumulate(np.where(np.isfinite(acc), acc, -np.inf))
        fall = (best - acc)[-k:]
        falls.append(float(np.nanmax(fall)) if np.isfinite(fall).any() else 0.0)
    f = np.asarray(falls, dtype=float)
    return {"stable": int(f.size), "half": int((f > COLLAPSE / 2).sum()),
            "three_quarters": int((f > 0.75 * COLLAPSE).sum()),
            "largest": float(f.max()) if f.size else math.nan,
            "median": float(np.median(f)) if f.size else math.nan}


def near_words(m: dict) -> str:
    """The rule checked against the runs, in words: how many runs it calls stable still fall
    most of the way to its threshold within their endpoint window (computed, not hidden)."""
    if not m["stable"]:
        return ""
    t = 100 * COLLAPSE
    return (f"Checked against the runs (each distinct run once): within their endpoint "
            f"window, the {m['stable']} runs "
            f"stable at their endpoint fall at most {100 * m['largest']:.1f} points below their "
            f"own best validation accuracy so far (median {100 * m['median']:.1f}); "
            f"{m['half']} fall more than half the rule's {t:g} points ({t / 2:g}) and "
            f"{m['three_quarters']} more than three quarters ({0.75 * t:g}); they count as "
            f"stable under the rule as the protocol states it (a fall of more than {t:g} "
            "points).")
