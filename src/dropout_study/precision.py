"""A precision target: the study runs in rounds and stops adding seeds to an exercise once its
headline interval is narrow enough.

After each round every exercise's headline contrast (at each setting it runs at) is computed
from the seeds trained so far; an exercise whose interval half-width is above the target (in the
headline's own unit: points for accuracy differences, a factor for ratios) gets ``step`` more
seeds in each experiment it reads, up to ``max_seeds``. The rule looks at the interval's
*width* only, never at its sign, its centre or whether it excludes zero: the width of a t
interval depends on the data only through the sample SD, so stopping on it does not pick the
rounds whose estimate happened to look significant (Chow & Robbins, 1965: sequential
fixed-width confidence intervals keep their coverage as the target narrows). Stopping on
significance instead would inflate the false claims.
"""

from __future__ import annotations

import math
from pathlib import Path

from .contrast import Contrast, Ratio
from .exercises import EXERCISES, NEWER, OWNER, enabled
from .exercises.base import Exercise
from .headlines import at_both_settings, headlines_at
from .results import Results
from .rounds import cuts, decisions, last_round, settings  # noqa: F401 - precision.<name> too

TUNING = "noise_tuning"  # tuning seeds are fixed (experiments.noise.tune_seeds)


def experiments_of(ex: Exercise, cfg: dict) -> list[str]:
    """The trained experiments whose seeds sharpen ``ex``'s headline: those it reads (exercise
    4 reads the evaluation of exercise 1's models), at every setting it runs at."""
    on = set(enabled(cfg))
    reads = ["layer_rates" if r.startswith("test_time") else r for r in ex.reads]
    names = [r for r in dict.fromkeys(reads) if r != TUNING]
    if ex.editions:
        names += [n + NEWER for n in names]
    return [n for n in names if n in on]


def half_width(c: Contrast | None) -> float:
    """The headline interval's half-width in its own unit (points, or a factor for a ratio);
    infinite where there is no interval (too few stable pairs)."""
    if c is None or not c.primary.has_interval:
        return math.inf
    h = (c.primary.hi - c.primary.lo) / 2
    return math.exp(h) if isinstance(c.quantity, Ratio) else c.quantity.scale * h


def target_of(c: Contrast | None, p: dict) -> tuple[float, str]:
    if c is not None and isinstance(c.quantity, Ratio):
        return p["factor"], "a factor"
    return p["points"], c.quantity.unit if c is not None else "pp"


def headlines(res: Results, cfg: dict) -> list[dict]:
    """Every exercise's headline at each setting: its half-width and the target it must reach."""
    from .config import edition_config

    def analysed(ex: Exercise, r: Results | None):
        if r is None or not all(r.has(e) for e in ex.reads):
            return None
        try:
            return ex.analyze(r)
        except Exception:  # noqa: BLE001 - no width to judge (the report says why)
            return None

    p = settings(cfg)
    newer_cfg = edition_config(cfg)
    newer_res = res.renamed(NEWER, newer_cfg) if newer_cfg is not None else None
    rows = []
    for ex in EXERCISES:
        if ex.headline is None or not ex.enabled(cfg):
            continue
        result = analysed(ex, res)
        both = at_both_settings(ex, result, newer_res)
        newer_result = analysed(ex, newer_res) if both else None
        for tag, head in headlines_at(ex, result, newer_result, both):
            if head is None:  # no headline to sharpen: more seeds are not what it lacks
                continue
            target, unit = target_of(head, p)
            rows.append({"exercise": ex.number, "key": ex.key, "setting": tag,
                         "label": head.label,
                         "half_width": half_width(head), "target": target, "unit": unit,
                         "pairs": head.pairs})
    return rows


def decide(rows: list[dict], seeds: dict[str, int], cfg: dict) -> dict:
    """The next round: more seeds for the experiments of every exercise whose headline is wider
    than the target at some setting (width only, never sign or significance), capped at
    ``max_seeds``. ``seeds`` holds each experiment's seeds so far. Returns the exercises' states
    ("target reached", "cap reached", "more seeds"), the next seed counts and whether the study
    is done (no experiment gets more seeds)."""
    p = settings(cfg)
    nxt = dict(seeds)
    exercises = {}
    for ex in EXERCISES:
        mine = [r for r in rows if r["exercise"] == ex.number]
        if not mine:
            continue
        exps = experiments_of(ex, cfg)
        n = max((seeds[e] for e in exps), default=0)
        wide = [r for r in mine if not r["half_width"] <= r["target"]]
        if not wide:
            state = "target reached"
        elif n >= p["max_seeds"]:
            state = "cap reached"
        else:
            state = "more seeds"
            for e in exps:
                nxt[e] = max(nxt[e], min(seeds[e] + p["step"], p["max_seeds"]))
        exercises[ex.key] = {"number": ex.number, "seeds": n, "state": state,
                             "widths": mine}
    return {"exercises": exercises, "next": nxt, "done": nxt == seeds}


def round_seeds(cfg: dict, history: list[dict[str, int]]) -> dict[str, int]:
    """The seeds of each (non-tuning) experiment in the next round: the config's in round 1."""
    if history:
        return dict(history[-1])
    return {e: cfg["seeds"] for e in enabled(cfg) if e != TUNING}


def owner(experiment: str):
    return OWNER[experiment]


def run_round(cfg: dict, round_no: int, job_dirs: list[str], out: Path,
              previous: Path | None = None, test_time: list[str] = (),
              test_time_models: list[str] = ()) -> dict:
    """One round's decision: the round's jobs gathered beside ``out`` (its own tables, as the
    study's aggregate writes them), every headline's width, the next round's seeds. ``out`` (a
    JSON file) also holds the seeds of every round so far (``history``)."""
    import json

    import pandas as pd

    from .aggregate import aggregate
    from .io import atomic_write, atomic_write_text

    out = Path(out)
    tables = out.parent / "tables"
    aggregate(job_dirs, tables)
    for name, files in (("test_time", test_time), ("test_time_models", test_time_models)):
        frames = [f for f in (pd.read_parquet(p) for p in files) if not f.empty]
        if frames:
            df = pd.concat(frames, ignore_index=True)
            atomic_write(tables / f"{name}.parquet", lambda tmp, df=df: df.to_parquet(tmp))
    before = json.loads(Path(previous).read_text()) if previous else None
    seeds = before["next"] if before else round_seeds(cfg, [])
    history = (before["history"] if before else []) + [seeds]
    rows = headlines(Results.load(tables, cfg, seeds, cuts(history[:-1])), cfg)
    d = decide(rows, seeds, cfg) | {"round": round_no, "history": history}
    atomic_write_text(out, json.dumps(d, indent=1, default=float))
    return d



def context(results_dir: Path, cfg: dict) -> dict | None:
    """What the report says of the rounds: the target, each round's seeds per exercise, and
    each exercise's seeds and why it stopped (from the last round's decision)."""
    rounds = decisions(results_dir, cfg)
    if not rounds:
        return None
    p = settings(cfg)
    last = rounds[-1]
    why = {"target reached": "target reached",
           "cap reached": f"the cap of {p['max_seeds']} seeds reached",
           "more seeds": "still above the target (the study was stopped)"}
    exercises = []
    for key, e in sorted(last["exercises"].items(), key=lambda kv: kv[1]["number"]):
        widths = "; ".join(
            (f"{w['setting']} edition: " if w["setting"] else "")
            + (f"±{w['half_width']:.2f} {w['unit']}" if w["unit"] != "a factor"
               else f"×/÷ {w['half_width']:.3f}") if math.isfinite(w["half_width"])
            else "no interval" for w in e["widths"])
        exercises.append({"number": e["number"], "key": key, "seeds": e["seeds"],
                          "stopped": why[e["state"]], "widths": widths})
    return {"points": p["points"], "factor": p["factor"], "max_seeds": p["max_seeds"],
            "step": p["step"], "start": cfg["seeds"], "exercises": exercises,
            "rounds": [{"round": d["round"],
                        "seeds": ", ".join(f"{e} {n}" for e, n in sorted(d["history"][-1].items())),
                        } for d in rounds]}
