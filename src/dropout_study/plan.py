"""The jobs of a study: each experiment's conditions, grouped into batched jobs."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math

from .exercises import EXPERIMENTS, enabled
from .experiments import rates_name, seed_offset
from .experiments import seeds as experiment_seeds
from .packing import conditions_per_job
from .spec import Condition, JobSpec


def results_dir(cfg: dict) -> str:
    """Where a study's results, report and benchmark files land: one folder per preset, so
    that no preset's run overwrites another's."""
    return f"results/{cfg['preset']}"


def data_path(cfg: dict) -> str:
    return f"{results_dir(cfg)}/data/fashion-mnist.pt"


def noise_selection(cfg: dict) -> str:
    """Exercise 7's strengths chosen on validation (written by select-noise)."""
    return f"{results_dir(cfg)}/noise_selection.json"


def _chunks(items: list, size: int) -> list[list]:
    return [items[i:i + size] for i in range(0, len(items), size)]


def seed_blocks(seeds: list[int], size: int, cuts: tuple[int, ...] = ()) -> list[list[int]]:
    """Consecutive seeds in blocks aligned to ``size`` from the first seed (0-9, 10-19, ...;
    from a ``seed_offset`` of 100: 100-109, ...), also cut before every seed in ``cuts``
    (where a precision round starts): a block once complete is the same whatever the seed
    count, so adding seeds only adds blocks."""
    blocks: list[list[int]] = []
    for s in seeds:
        start = not blocks or (s - seeds[0]) % size == 0 or s in cuts or s != blocks[-1][-1] + 1
        if start:
            blocks.append([s])
        else:
            blocks[-1].append(s)
    return blocks


def job_name(spec: JobSpec) -> str:
    """A job's name says what it trains: a short hash of everything in its spec but its name
    and seeds (the conditions, data, device...), then its seed range, e.g.
    ``c1f3a09b2-s0000-0009``. Its results folder is named by it, so a job whose conditions or
    seeds change is a new job (a new folder) and a job that did not change keeps its results:
    raising ``seeds`` by whole blocks adds jobs and retrains none, and changing one
    exercise's config retrains that exercise's jobs alone."""
    d = json.loads(spec.to_json())
    del d["job"], d["seeds"]
    digest = hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:8]
    return f"c{digest}-s{spec.seeds[0]:04d}-{spec.seeds[-1]:04d}"


JOB_PATTERN = r"c[0-9a-f]{8}-s\d{4}-\d{4}"  # job_name's form (a Snakemake wildcard constraint)


def experiment_jobs(cfg: dict, name: str, n_seeds: int | None = None,
                    cuts: tuple[int, ...] = ()) -> list[JobSpec]:
    """An experiment's jobs: its conditions grouped by shape (``conditions_per_job`` at most,
    resolved per shape by ``packing.conditions_per_job``) times its seed blocks. ``n_seeds``
    (default: the config's) and ``cuts`` come from the precision rounds: both are counts of
    seeds, the study's first ``n_seeds`` and the counts at which a round began, so a round's
    seeds follow the ``seed_offset`` ones and its blocks are cut at ``seed_offset + cut``.

    The packing of conditions assumes full seed blocks (``seeds_per_job`` models per
    condition) whatever the seed count: adding seeds, or a precision round, never repacks
    (and so never renames) a finished job."""
    conditions = EXPERIMENTS[name](cfg)
    groups: dict[tuple, list[Condition]] = {}
    for c in conditions:
        groups.setdefault(c.batch_key(), []).append(c)
    seeds = experiment_seeds(cfg, name, n_seeds)  # tuning: its own seeds, whatever n_seeds
    starts = tuple(seed_offset(cfg) + n for n in cuts)
    blocks = seed_blocks(seeds, cfg["seeds_per_job"], starts)
    jobs = []
    for group in groups.values():
        per_job = conditions_per_job(cfg, group, cfg["seeds_per_job"])
        for conds in _chunks(group, per_job):
            for block in blocks:
                spec = JobSpec(
                    experiment=name, job="", conditions=conds, seeds=block,
                    data_path=data_path(cfg), device=cfg["device"],
                    deterministic=cfg.get("deterministic", False),
                    rng=cfg.get("rng", "auto"),
                    divergence_loss=cfg["training"].get("divergence_loss", 100.0),
                    rates_from=noise_selection(cfg) if name == "noise_final" else None)
                spec.job = job_name(spec)
                jobs.append(spec)
    return jobs


def all_jobs(cfg: dict, seeds: dict[str, int] | None = None,
             cuts: dict[str, tuple[int, ...]] | None = None) -> dict[str, list[JobSpec]]:
    """Every enabled experiment's jobs; ``seeds`` and ``cuts`` (per experiment) are a precision
    round's seed counts and round boundaries (``precision.py``), by default the config's."""
    seeds, cuts = seeds or {}, cuts or {}
    return {name: experiment_jobs(cfg, name, seeds.get(name), cuts.get(name, ()))
            for name in enabled(cfg)}



def evaluated_jobs(cfg: dict, jobs: dict[str, list[JobSpec]]) -> list[str]:
    """The exercise-1 jobs (of ``jobs``) whose models exercise 4 evaluates: those training
    its condition (``experiments.test_time.rates``); none where it is off."""
    tt = cfg["experiments"].get("test_time", {})
    if not tt.get("enabled", False):
        return []
    name = rates_name(*tt["rates"])
    return [j.job for j in jobs.get("layer_rates", [])
            if any(c.name == name for c in j.conditions)]

def templates(jobs: dict[str, list[JobSpec]]) -> dict[tuple[str, str], JobSpec]:
    """(experiment, conditions hash) -> one of its jobs: with ``spec_of``, the spec of any job
    by its name, whatever round of seeds it belongs to."""
    return {(j.experiment, j.job.split("-s")[0]): j for js in jobs.values() for j in js}


def spec_of(index: dict[tuple[str, str], JobSpec], experiment: str, job: str) -> JobSpec:
    """The spec of job ``job`` (``job_name``'s form): its conditions' template, its seeds."""
    key, _, seeds = job.partition("-s")
    first, last = (int(x) for x in seeds.split("-"))
    return dataclasses.replace(index[(experiment, key)], job=job,
                               seeds=list(range(first, last + 1)))


def precision_rounds(cfg: dict, train_size: int) -> dict | None:
    """What a precision target may cost: round 1 (the config's seeds) and the cap (every
    exercise at ``max_seeds``, seeds added ``step`` at a time): the most rounds, jobs and
    model-epochs. None without a target."""
    from .rounds import settings

    p = settings(cfg)
    if not p["enabled"]:
        return None
    first = all_jobs(cfg)
    counts = list(range(cfg["seeds"], p["max_seeds"], p["step"])) + [p["max_seeds"]]
    seeds = {e: counts[-1] for e in first if e != "noise_tuning"}
    cap = all_jobs(cfg, seeds, {e: tuple(counts[:-1]) for e in seeds})

    def cost(jobs: dict[str, list[JobSpec]]) -> dict:
        return {"jobs": sum(len(js) for js in jobs.values()),
                "model_epochs": sum(model_epochs(j, train_size)["model_epochs"]
                                    for js in jobs.values() for j in js)}

    return {"rounds": len(counts), "seeds": counts, "first": cost(first), "cap": cost(cap)}


def model_epochs(job: JobSpec, train_size: int) -> dict:
    c = job.conditions[0]
    return {"models": len(job.models), "epochs": c.epochs,
            "model_epochs": len(job.models) * c.epochs,
            "steps": math.ceil(train_size / c.batch_size) * c.epochs}


# Seconds per model-epoch of the reference MLP on 50 000 images, batched, measured on a 2-core
# CPU (dropout-study bench); the SLURM time limits are a generous multiple of this.
CPU_SECONDS_PER_MODEL_EPOCH = 1.0
GPU_SECONDS_PER_MODEL_EPOCH = 0.05


# A training step's cost relative to activation dropout's, for schemes far from 1: exact
# per-example DropConnect draws and applies a mask of out x in weights per example. With 16-bit
# masks drawn twice it measured 28x on a 2-core CPU (both schemes in one process) where
# instructions counted 23x; its 8-bit masks drawn once count 6.7x (scripts/step_instructions.py),
# so about 8x in time. Only Snakemake's runtime hint and the calibration's size read it: the
# wall-time estimate calibrates every scheme itself.
STEP_COST = {"dropconnect": 8.0}


def estimate_seconds(job: JobSpec, train_size: int, device: str = "cpu") -> float:
    """A job's expected training time: model-epochs scaled by data size, layer sizes and the
    noise scheme's step cost."""
    c = job.conditions[0]
    params = 784 * c.hidden + c.hidden * c.hidden + c.hidden * 10
    scale = (train_size / 50_000) * (params / 268_032) * (1.5 if c.probe else 1.0) \
        * STEP_COST.get(c.noise, 1.0)
    rate = GPU_SECONDS_PER_MODEL_EPOCH if device == "cuda" else CPU_SECONDS_PER_MODEL_EPOCH
    # evaluation of up to 30 000 images per epoch, in eval mode (a third of a training pass)
    return len(job.models) * c.epochs * rate * (scale + 30_000 / 60_000 / 3)


def runtime_minutes(job: JobSpec, train_size: int, device: str = "cpu") -> int:
    """A SLURM time limit for the job: 3x the estimate plus 10 minutes of slack."""
    return int(math.ceil(3 * estimate_seconds(job, train_size, device) / 60)) + 10
