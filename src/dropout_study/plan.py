"""The jobs of a study: each experiment's conditions, grouped into batched jobs."""

from __future__ import annotations

import math

from .experiments import EXPERIMENTS, enabled, seeds as experiment_seeds
from .spec import Condition, JobSpec

DATA_PATH = "results/data/fashion-mnist.pt"
NOISE_SELECTION = "results/noise_selection.json"


def _chunks(items: list, size: int) -> list[list]:
    return [items[i:i + size] for i in range(0, len(items), size)]


def experiment_jobs(cfg: dict, name: str) -> list[JobSpec]:
    conditions = EXPERIMENTS[name](cfg)
    groups: dict[tuple, list[Condition]] = {}
    for c in conditions:
        groups.setdefault(c.batch_key(), []).append(c)
    seeds = experiment_seeds(cfg, name)
    jobs = []
    for group in groups.values():
        for conds in _chunks(group, cfg["conditions_per_job"]):
            for block in _chunks(seeds, cfg["seeds_per_job"]):
                jobs.append(JobSpec(
                    experiment=name, job=f"j{len(jobs):03d}", conditions=conds, seeds=block,
                    data_path=DATA_PATH, device=cfg["device"],
                    deterministic=cfg.get("deterministic", False),
                    divergence_loss=cfg["training"].get("divergence_loss", 100.0),
                    rates_from=NOISE_SELECTION if name == "noise_final" else None))
    return jobs


def all_jobs(cfg: dict) -> dict[str, list[JobSpec]]:
    return {name: experiment_jobs(cfg, name) for name in enabled(cfg)}


def model_epochs(job: JobSpec, train_size: int) -> dict:
    c = job.conditions[0]
    return {"models": len(job.models), "epochs": c.epochs,
            "model_epochs": len(job.models) * c.epochs,
            "steps": math.ceil(train_size / c.batch_size) * c.epochs}
