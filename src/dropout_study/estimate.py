"""The wall-time estimate of a study on this machine (``dropout-study plan``, and what the study
prints when it starts): every job's FLOPs over the calibrated rates (``calibration``), then the
schedule that ``snakemake --cores`` would run.
"""

from __future__ import annotations

import math
from pathlib import Path

from .calibration import calibration, device_kind, eval_flops_per_image, step_flops
from .columns import hours_minutes
from .experiments import seeds as experiment_seeds
from .packing import packing_of
from .plan import all_jobs, results_dir, seed_blocks
from .spec import JobSpec

# -- the wall-time estimate, from a short calibration on this device -----------------------------

JOB_STARTUP_SECONDS = 8.0  # a training process: Python, torch import, data load (measured: 6-9 s)
REPORT_SECONDS = 40.0  # aggregation, figures and the pandoc render of the quick preset (measured)


def job_cost(job: JobSpec, cal: dict) -> dict:
    """Seconds per training step and per evaluated image of a job, from its scheme's rates."""
    rate = cal[job.conditions[0].noise]
    return {"step": step_flops(job) / 1e9 * rate["train_s_per_gflop"],
            "eval_image": eval_flops_per_image(job) / 1e9 * rate["eval_s_per_gflop"]}


def job_seconds(job: JobSpec, cal: dict, train_size: int, n_val: int, n_test: int) -> float:
    """Startup, training steps, and the three per-epoch evaluations (train slice, val, test)."""
    c = job.conditions[0]
    steps = max(1, train_size // c.batch_size) if c.drop_last else \
        math.ceil(train_size / c.batch_size)
    evaluated = min(train_size, n_val) + n_val + n_test
    return JOB_STARTUP_SECONDS + c.epochs * (steps * cal["step"] + evaluated * cal["eval_image"])


def schedule(durations: dict[str, list[float]], slots: int,
             after: dict[str, str] | None = None) -> float:
    """Wall time of greedy list scheduling on ``slots`` workers; ``after`` maps an experiment
    to one whose jobs must all finish first (the DAG edge exercise 7 has)."""
    import heapq

    after = after or {}
    free = [0.0] * max(1, slots)
    finished: dict[str, float] = {}
    order = sorted(durations, key=lambda n: n in after)  # dependants last
    for name in order:
        ready = finished.get(after[name], 0.0) if name in after else 0.0
        end = ready
        for d in sorted(durations[name], reverse=True):
            start = max(heapq.heappop(free), ready)
            heapq.heappush(free, start + d)
            end = max(end, start + d)
        finished[name] = end
    return max(finished.values(), default=0.0)


def estimate_wall(cfg: dict, device_name: str = "auto", cores: int | None = None,
                  log=print, jobs_out: list | None = None) -> dict:
    """The FLOPs of every job over this machine's cached rates (``calibration``: a second or
    two the first time, nothing after), then the schedule that ``snakemake --cores <cores>``
    would run. Returns seconds and the inputs of the estimate; ``jobs_out`` (a list) receives
    one row per training job: experiment, job, models, epochs, estimated seconds."""
    import os

    kind = device_kind(device_name if device_name != "auto" else cfg["device"])
    cores = cores or os.cpu_count() or 1
    threads = min(packing_of(cfg)["threads_per_job"] or cores, cores)
    slots = max(1, cores // threads)
    if kind == "cuda":  # one training job per GPU (train.py claims one for each job)
        slots = min(slots, packing_of(cfg)["gpus"] or 1)
    train_size = cfg["data"].get("train_size") or 60000 - cfg["data"]["validation_size"]
    n_val = cfg["data"]["validation_size"]
    jobs = all_jobs(cfg)
    schemes = sorted({j.conditions[0].noise for js in jobs.values() for j in js})
    warnings: list[str] = []
    cal = calibration(schemes, kind, threads, log=log, warn=warnings.append)
    durations: dict[str, list[float]] = {}
    for name, js in jobs.items():
        for j in js:
            seconds = job_seconds(j, job_cost(j, cal), train_size, n_val, 10000)
            durations.setdefault(name, []).append(seconds)
            if jobs_out is not None:
                jobs_out.append({"experiment": name, "job": j.job, "models": len(j.models),
                                 "epochs": j.conditions[0].epochs, "seconds": round(seconds, 1)})
    tt = cfg["experiments"].get("test_time", {})
    if tt.get("enabled") and "layer_rates" in jobs:  # evaluation-only passes over the test set
        # one job per seed block of the condition; a stochastic pass costs about an eval pass
        ref_job = jobs["layer_rates"][0]
        per_model = job_cost(ref_job, cal)["eval_image"] / len(ref_job.models)
        durations["test_time"] = [
            JOB_STARTUP_SECONDS + sum(tt.get("passes", [1])) * 10000 * per_model * len(block)
            for block in seed_blocks(experiment_seeds(cfg, "layer_rates"),
                                     cfg["seeds_per_job"])]
    after = {"noise_final": "noise_tuning", "test_time": "layer_rates"}
    wall = schedule(durations, slots, after) + REPORT_SECONDS
    return {"wall_seconds": round(wall), "device": kind, "cores": cores,
            "threads_per_job": threads, "parallel_jobs": slots,
            "job_seconds": round(sum(sum(d) for d in durations.values())),
            "warnings": warnings}


def cheaper_ways(cfg: dict, wall_seconds: float, device: str) -> list[str]:
    """What to do instead of a run of more than an hour (empty below an hour)."""
    if wall_seconds <= 3600:
        return []
    ways = []
    if cfg.get("preset") != "quick":
        ways.append("the quick preset (every exercise, 3 seeds, a 10 000-image subset): "
                    "--config preset=quick; `dropout-study plan --set preset=quick` gives "
                    "its time")
    if not device.startswith("cuda"):
        ways.append("a GPU: --config device=cuda on a machine with one "
                    "(`dropout-study plan --device cuda` there gives its time)")
    ways.append("the published study's report, study/report.html in this repository "
                "(docs/published-study.md), instead of running it")
    return ways


def study_start(cfg: dict, cores: int | None, plan_file: str | Path) -> str:
    """What `snakemake` prints when the study starts (its ``onstart:``): the estimated wall
    time on this machine and device, and the cheaper ways past an hour. Writes the plan, with
    every training job's estimate and the start time, to ``plan_file``, which
    ``dropout-study status`` reads."""
    import json
    import time

    rows: list[dict] = []
    est = estimate_wall(cfg, cfg["device"], cores, log=lambda m: None, jobs_out=rows)
    plan_file = Path(plan_file)
    plan_file.parent.mkdir(parents=True, exist_ok=True)
    plan_file.write_text(json.dumps({"preset": cfg["preset"], "started": time.time(),
                                     "results": results_dir(cfg), **est,
                                     "packing": cfg.get("packing"), "jobs": rows}, indent=1))
    lines = [f"dropout-study: the {cfg['preset']} study, {len(rows)} training jobs: estimated "
             f"wall time {hours_minutes(est['wall_seconds'])} with --cores {est['cores']} on "
             f"{est['device']} ({est['parallel_jobs']} training job(s) at a time); progress: "
             f"`dropout-study status`"]
    lines += [f"dropout-study: {w}" for w in est["warnings"]]
    ways = cheaper_ways(cfg, est["wall_seconds"], est["device"])
    if ways:
        lines.append("dropout-study: that is more than an hour. Cheaper ways to an answer:")
        lines += [f"  - {w}" for w in ways]
    return "\n".join(lines)
