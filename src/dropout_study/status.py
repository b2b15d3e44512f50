"""``dropout-study status``: a running (or finished) study's progress, from its logs.

When the study starts, Snakemake's ``onstart:`` writes ``logs/<preset>/plan.json`` (every
training job with its estimated seconds, and the start time). Each training job writes one
line per epoch to ``logs/<preset>/train/<experiment>/<job>.log``
("<experiment>/<job> epoch 3/10: 2.10 s, ..."); a finished job has its ``job.json``. This
module reads them back: per job, its state, epochs done, models and the time left; for the
study, the jobs done and the time left on the machine's parallel slots.
"""

from __future__ import annotations

import heapq
import json
import re
import time
from pathlib import Path

from .columns import hours_minutes, table
from .estimate import REPORT_SECONDS

EPOCH_LINE = re.compile(r" epoch (\d+)/(\d+): ([0-9.]+) s, (\d+)/(\d+) models alive")


def find_plan(root: Path, preset: str | None = None) -> Path:
    """The plan of ``preset``, else of the study started last under ``root``."""
    if preset:
        path = root / "logs" / preset / "plan.json"
        if not path.exists():
            raise FileNotFoundError(f"{path}: no study of preset {preset} was started here")
        return path
    plans = sorted((root / "logs").glob("*/plan.json"), key=lambda p: p.stat().st_mtime)
    if not plans:
        raise FileNotFoundError(f"no study was started in {root.resolve()} "
                                "(no logs/<preset>/plan.json)")
    return plans[-1]


def job_progress(log: Path, done: bool, planned: dict) -> dict:
    row = {"experiment": planned["experiment"], "job": planned["job"],
           "models": planned["models"], "epochs": planned["epochs"], "epochs_done": 0}
    seconds = []
    if log.exists():
        for line in log.read_text(errors="replace").splitlines():
            m = EPOCH_LINE.search(line)
            if m:
                row["epochs_done"] = int(m.group(1))
                seconds.append(float(m.group(3)))
    if done:
        row |= {"state": "done", "epochs_done": planned["epochs"], "left": 0.0}
    elif log.exists():
        per_epoch = (sum(seconds) / len(seconds) if seconds
                     else planned["seconds"] / max(1, planned["epochs"]))
        row |= {"state": "running",
                "left": per_epoch * (planned["epochs"] - row["epochs_done"])}
    else:
        row |= {"state": "waiting", "left": planned["seconds"]}
    return row


def status(root: Path = Path("."), preset: str | None = None) -> dict:
    plan_path = find_plan(root, preset)
    plan = json.loads(plan_path.read_text())
    logs = plan_path.parent
    results = root / plan["results"]
    rows = [job_progress(logs / "train" / p["experiment"] / f"{p['job']}.log",
                         (results / "runs" / p["experiment"] / p["job"] / "job.json").exists(),
                         p)
            for p in plan["jobs"]]
    report_done = (results / "report.html").exists() and \
        (results / "report.html").stat().st_mtime >= plan["started"]
    # the running jobs hold their slots until they end; the waiting ones then take the first
    # slot that frees up, longest first
    slots = max(1, plan["parallel_jobs"])
    free = sorted(r["left"] for r in rows if r["state"] == "running")
    free = free + [0.0] * max(0, slots - len(free))
    heapq.heapify(free)
    for d in sorted((r["left"] for r in rows if r["state"] == "waiting"), reverse=True):
        heapq.heappush(free, heapq.heappop(free) + d)
    left = max(free)
    left += 0 if report_done else REPORT_SECONDS
    return {"preset": plan["preset"], "plan": str(plan_path), "jobs": rows,
            "done": sum(r["state"] == "done" for r in rows),
            "running": sum(r["state"] == "running" for r in rows),
            "finished": report_done, "left_seconds": round(left),
            "elapsed_seconds": round(time.time() - plan["started"]),
            "estimate_seconds": plan["wall_seconds"]}


def render(st: dict, all_jobs: bool = True) -> str:
    rows = [[f"{r['experiment']}/{r['job']}", r["state"], f"{r['epochs_done']}/{r['epochs']}",
             r["models"], hours_minutes(r["left"]) if r["state"] != "done" else ""]
            for r in st["jobs"] if all_jobs or r["state"] == "running"]
    head = table(["job", "state", "epochs", "models", "time left"], rows, right=2)
    n = len(st["jobs"])
    tail = (f"the {st['preset']} study: {st['done']} of {n} training jobs done, "
            f"{st['running']} running; ")
    tail += ("finished: the report is written" if st["finished"] else
             f"about {hours_minutes(st['left_seconds'])} left "
             f"(elapsed {hours_minutes(st['elapsed_seconds'])}; "
             f"estimated at the start: {hours_minutes(st['estimate_seconds'])})")
    return f"{head}\n{tail}"
