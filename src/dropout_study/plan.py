"""The jobs of a study: each experiment's conditions, grouped into batched jobs."""

from __future__ import annotations

import math

from .experiments import EXPERIMENTS, enabled
from .experiments import seeds as experiment_seeds
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


# Seconds per model-epoch of the reference MLP on 50 000 images, batched, measured on a 2-core
# CPU (dropout-study bench); the SLURM time limits are a generous multiple of this.
CPU_SECONDS_PER_MODEL_EPOCH = 1.0
GPU_SECONDS_PER_MODEL_EPOCH = 0.05


def estimate_seconds(job: JobSpec, train_size: int, device: str = "cpu") -> float:
    """A job's expected training time: model-epochs scaled by data size and layer sizes."""
    c = job.conditions[0]
    params = 784 * c.hidden + c.hidden * c.hidden + c.hidden * 10
    scale = (train_size / 50_000) * (params / 268_032) * (1.5 if c.probe else 1.0)
    rate = GPU_SECONDS_PER_MODEL_EPOCH if device == "cuda" else CPU_SECONDS_PER_MODEL_EPOCH
    # evaluation of up to 30 000 images per epoch, in eval mode (a third of a training pass)
    return len(job.models) * c.epochs * rate * (scale + 30_000 / 60_000 / 3)


def runtime_minutes(job: JobSpec, train_size: int, device: str = "cpu") -> int:
    """A SLURM time limit for the job: 3x the estimate plus 10 minutes of slack."""
    return int(math.ceil(3 * estimate_seconds(job, train_size, device) / 60)) + 10
