"""A precision target's settings and the seeds its rounds trained, read from the rounds'
decisions (``results/<preset>/rounds/<n>/precision.json``): what the plan, the results and the
configuration's check need of the rounds, below the rounds themselves (``precision.py``)."""

from __future__ import annotations

from pathlib import Path


def settings(cfg: dict) -> dict:
    """The precision block with its defaults (off)."""
    p = cfg.get("precision") or {}
    return {"enabled": bool(p.get("enabled", False)), "points": p.get("points", 1.0),
            "factor": p.get("factor", 1.1), "max_seeds": p.get("max_seeds", 40),
            "step": p.get("step", cfg["seeds_per_job"])}


def cuts(history: list[dict[str, int]]) -> dict[str, tuple[int, ...]]:
    """Where each experiment's rounds start (its seed blocks are cut there too)."""
    out: dict[str, set[int]] = {}
    for h in history:
        for e, n in h.items():
            out.setdefault(e, set()).add(n)
    return {e: tuple(sorted(s)) for e, s in out.items()}


def decisions(results_dir: Path, cfg: dict) -> list[dict]:
    """The rounds' decisions of a study with a precision target, up to the one that ended it
    (empty when there is no target)."""
    import json

    if not settings(cfg)["enabled"]:
        return []
    out = []
    files = sorted(Path(results_dir).glob("rounds/*/precision.json"),
                   key=lambda p: int(p.parent.name))
    for f in files:
        out.append(json.loads(f.read_text()))
        if out[-1]["done"]:
            break
    return out


def last_round(results_dir: Path, cfg: dict) -> tuple[dict[str, int] | None,
                                                     dict[str, tuple[int, ...]] | None]:
    """The seeds and seed-block cuts (``plan.all_jobs``'s arguments) of the last round of a
    study with a precision target: every seed its rounds trained; (None, None), the config's
    seeds, without a target or before its first decision."""
    rounds = decisions(results_dir, cfg)
    if not rounds:
        return None, None
    history = rounds[-1]["history"]
    return history[-1], cuts(history[:-1])
