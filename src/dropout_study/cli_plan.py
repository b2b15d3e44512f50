"""``dropout-study plan``: every experiment's jobs, models and model-epochs, the packing, the
estimated wall time on this machine, and what a precision target may cost."""

from __future__ import annotations

import argparse
import json
import logging

from .columns import table


def _span(values: list[int]) -> str:
    lo, hi = min(values), max(values)
    return str(lo) if lo == hi else f"{lo}-{hi}"


def packing_line(cfg: dict) -> str:
    """What ``plan`` says of the packing: the device, the GPU memory assumed and the keys."""
    p = cfg["packing"]
    per_job = ("auto: as many of one shape as fit" if p["conditions_per_job"] == "memory"
               else str(p["conditions_per_job"]))
    threads = p["threads_per_job"] or "all of --cores"
    where = ""
    if p["device"] == "cuda" and p["gpu_memory_gib"]:
        where = (f" ({p['gpu_memory_gib']:g} GiB per GPU: {p['gpu_memory_from']}; a job "
                 f"plans for {p['budget_fraction']:.0%} of it)")
    return (f"packing on {p['device']}{where}: conditions per job {per_job}, seeds per job "
            f"{cfg['seeds_per_job']}, threads per job {threads}")


def _cmd_plan(a: argparse.Namespace) -> None:
    from . import config as cfgmod
    from .columns import hours_minutes
    from .estimate import cheaper_ways
    from .exercises import check
    from .experiments import seed_offset, study_seeds
    from .packing import GIB, job_memory_of
    from .plan import all_jobs, model_epochs, precision_rounds
    from .words import seed_span

    overrides = cfgmod.overrides_from(a.set)
    if a.device != "auto":
        overrides["device"] = a.device
    if a.gpu_memory is not None:
        overrides["gpu_memory"] = a.gpu_memory
    cfg = cfgmod.load(a.config, overrides, checks=[check])
    train_size = cfg["data"].get("train_size") or 60000 - cfg["data"]["validation_size"]
    on_gpu = cfg["packing"]["device"] == "cuda"
    rows, total = [], {"jobs": 0, "models": 0, "model_epochs": 0}
    per_job: list[dict] = []
    est, no_estimate = None, None
    if a.estimate and on_gpu and not cfg["packing"]["gpus"]:
        no_estimate = ("no time estimate: it is measured on the GPU, and this machine has none "
                       "(run the same command there)")
    elif a.estimate:
        from .estimate import estimate_wall

        est = estimate_wall(cfg, "auto", a.cores, log=lambda m: logging.debug("%s", m),
                            jobs_out=per_job)
    sizes, memories, experiments = [], [], {}
    for name, jobs in all_jobs(cfg).items():
        me = [model_epochs(j, train_size) for j in jobs]
        row = {"jobs": len(jobs), "models": sum(m["models"] for m in me),
               "model_epochs": sum(m["model_epochs"] for m in me)}
        for k in total:
            total[k] += row[k]
        models = [m["models"] for m in me]
        memory = max(job_memory_of(j, cfg) for j in jobs) / GIB
        sizes += models
        memories.append(memory)
        experiments[name] = row | {"models_per_job": [min(models), max(models)]} | (
            {"gpu_memory_gib": round(memory, 2)} if on_gpu else {})
        secs = sum(j["seconds"] for j in per_job if j["experiment"] == name)
        rows.append([name, row["jobs"], row["models"], row["model_epochs"], _span(models)]
                    + ([f"{memory:.1f} GiB"] if on_gpu else [])
                    + ([hours_minutes(secs)] if est else []))
    rows.append(["total", total["jobs"], total["models"], total["model_epochs"], _span(sizes)]
                + ([f"{max(memories):.1f} GiB"] if on_gpu else [])
                + ([hours_minutes(est["job_seconds"])] if est else []))
    summary = {"preset": cfg["preset"], **total, "train_size": train_size,
               "seed_offset": seed_offset(cfg),
               "packing": cfg["packing"], "experiments": experiments}
    rounds = precision_rounds(cfg, train_size)
    if rounds:
        summary["precision"] = rounds
    if a.json:
        print(json.dumps(summary | (est or {})))
        return
    header = (["experiment", "jobs", "models", "model-epochs", "models/job"]
              + (["GPU memory/job"] if on_gpu else []) + (["job time"] if est else []))
    print(f"preset {cfg['preset']}: {train_size} training images"
          + (f", {seed_span(study_seeds(cfg))} (seed_offset {seed_offset(cfg)})"
             if seed_offset(cfg) else ""))
    print(packing_line(cfg))
    print(table(header, rows))
    if on_gpu:
        print("GPU memory/job: the largest job's estimate (packing.py's memory model); a job "
              "that runs out of memory trains its models in two halves instead")
    if no_estimate:
        print(no_estimate)
    if est:
        print(f"estimated wall time with --cores {est['cores']} on {est['device']}: "
              f"{hours_minutes(est['wall_seconds'])} ({est['parallel_jobs']} training job(s) "
              f"at a time, {est['threads_per_job']} thread(s) each)")
        for way in cheaper_ways(cfg, est["wall_seconds"], est["device"]):
            print(f"  cheaper: {way}")
        for w in est["warnings"]:
            print(f"  note: {w}")
    if rounds:
        print(f"precision target: round 1 as above ({rounds['first']['jobs']} jobs); at most "
              f"{rounds['rounds']} rounds (seeds {', '.join(map(str, rounds['seeds']))}"
              + (f", counted from seed {seed_offset(cfg)}" if seed_offset(cfg) else "") + "); "
              f"at the cap {rounds['cap']['jobs']} jobs, {rounds['cap']['model_epochs']} "
              "model-epochs (only the exercises wider than the target get more seeds)")
