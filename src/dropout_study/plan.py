"""The jobs of a study: each experiment's conditions, grouped into batched jobs."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from pathlib import Path

from .exercises import EXPERIMENTS, enabled
from .experiments import seed_offset
from .experiments import seeds as experiment_seeds
from .packing import conditions_per_job, packing_of
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
# per-example DropConnect draws and applies a mask of out x in weights per example (measured
# ratio on a 2-core CPU, both schemes in one process: 28x; the wall-time estimate below
# calibrates every scheme itself).
STEP_COST = {"dropconnect": 30.0}


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


# -- the wall-time estimate, from a short calibration on this device -----------------------------

JOB_STARTUP_SECONDS = 8.0  # a training process: Python, torch import, data load (measured: 6-9 s)
REPORT_SECONDS = 40.0  # aggregation, figures and the pandoc render of the quick preset (measured)


def _synthetic_data(device, n_train: int, n_eval: int):
    import torch

    from .train import DeviceData, Split

    g = torch.Generator().manual_seed(0)

    def split(n: int) -> Split:
        return Split(torch.rand(n, 784, generator=g).to(device),
                     torch.randint(0, 10, (n,), generator=g).to(device))

    ev = split(n_eval)
    return DeviceData(split(n_train), ev, ev, ev, ev.x[:64])


def calibrate_job(job: JobSpec, device, steps: int = 6) -> dict:
    """Time a few training steps and one evaluation chunk of a job's shape (noise scheme, width,
    number of models) on synthetic data: seconds per training step and per evaluated image."""
    import dataclasses
    import time

    import torch

    from .train import Trainer, evaluate

    c = dataclasses.replace(job.conditions[0], probe=False, epochs=1, drop_last=True)
    spec = dataclasses.replace(job, conditions=[c] * len(job.conditions), rates_from=None)
    data = _synthetic_data(device, c.batch_size * steps, min(job.eval_chunk, 1024))
    trainer = Trainer(spec, data, device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    trainer.train_epoch(1)  # warm-up epoch (allocator, kernels) of `steps` steps, then timed
    # each step on its own, and the fastest kept: on a machine shared with other work the
    # fastest step is the one that ran undisturbed
    stamps = []

    def stamp() -> None:
        sync()
        stamps.append(time.perf_counter())

    stamp()
    trainer.train_epoch(2, on_step=stamp)
    step = min(b - a for a, b in zip(stamps, stamps[1:], strict=False))
    evaluate(trainer.model, data.val, job.eval_chunk)  # warm-up
    best = math.inf
    for _ in range(3):
        sync()
        t0 = time.perf_counter()
        evaluate(trainer.model, data.val, job.eval_chunk)
        sync()
        best = min(best, time.perf_counter() - t0)
    return {"step": step, "eval_image": best / len(data.val.y)}


# -- the calibration: one small measurement per noise scheme, cached per machine --------------
#
# A job's cost is its multiply-adds: a training step of M models of width h on a minibatch of
# B images is about 6 B M P FLOPs (forward 2, backward 4; P = 784 h + h^2 + 10 h weights), an
# evaluated image 2 M P. The rate of each noise scheme (its masks cost more or less around the
# same GEMMs) is measured once on this machine with a few steps of CALIBRATION_MODELS models of
# the reference width, and kept in the cache; `plan` then trains nothing.

CALIBRATION_MODELS = 4
CALIBRATION_STEPS = 4
CALIBRATION_FORMAT = 1


def calibration_models(noise: str) -> int:
    """Models of a scheme's calibration job: fewer for a costly scheme (exact DropConnect's
    per-example masks cost the same per model whatever the batch of models)."""
    return CALIBRATION_MODELS if STEP_COST.get(noise, 1.0) < 10 else 2


def calibration_steps(noise: str) -> int:
    """Timed steps of a scheme's calibration (and as many warm-up steps): fewer for a costly
    scheme, whose single step already lasts long enough to time, so that a first `plan`
    answers in a few seconds."""
    return CALIBRATION_STEPS if STEP_COST.get(noise, 1.0) < 10 else 2


def weights(hidden: int) -> int:
    return 784 * hidden + hidden * hidden + hidden * 10


def step_flops(job: JobSpec) -> float:
    c = job.conditions[0]
    return 6.0 * c.batch_size * len(job.models) * weights(c.hidden)


def eval_flops_per_image(job: JobSpec) -> float:
    return 2.0 * len(job.models) * weights(job.conditions[0].hidden)


def cache_dir() -> Path:
    """``$DROPOUT_STUDY_CACHE``, else ``$XDG_CACHE_HOME/dropout-study`` (~/.cache/...)."""
    import os

    if os.environ.get("DROPOUT_STUDY_CACHE"):
        return Path(os.environ["DROPOUT_STUDY_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "dropout-study"


def device_kind(name: str) -> str:
    """``cpu`` or ``cuda``: what ``resolve_device`` would choose, without importing torch (a
    few seconds) where no GPU can be present: ``auto`` on a machine without NVIDIA's driver is
    the CPU."""
    if name == "cpu" or (name == "auto" and not Path("/proc/driver/nvidia/version").exists()):
        return "cpu"
    from .device import resolve_device

    return resolve_device(name).type


def machine_key(kind: str, threads: int) -> str:
    """What the measured rates depend on: the processor (or GPU), the threads a job uses, and
    the torch version."""
    import platform
    from importlib.metadata import version

    if kind == "cuda":
        import torch

        chip = torch.cuda.get_device_name(0)
    else:
        chip = platform.processor() or platform.machine()
        try:
            for line in Path("/proc/cpuinfo").read_text().splitlines():
                if line.startswith("model name"):
                    chip = line.split(":", 1)[1].strip()
                    break
        except OSError:
            pass
    return f"{kind}|{chip}|{threads} threads|torch {version('torch')}"


BUSY_CORES = 0.5  # other processes' load during a calibration above which it is not cached


def cpu_busy_seconds() -> float | None:
    """CPU seconds all processes of this machine have spent so far (Linux's /proc/stat; None
    elsewhere)."""
    import os

    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return None
    ticks = [int(f) for f in fields]
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)  # idle and iowait
    return (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def others_load(busy0: float | None, own0: float, wall0: float) -> float:
    """The cores other processes kept busy on average since (``busy0``, ``own0``, ``wall0``):
    the machine's CPU time less this process's, over the wall time (0 where unknown)."""
    import os
    import time

    busy1 = cpu_busy_seconds()
    if busy0 is None or busy1 is None:
        return 0.0
    t = os.times()
    wall = max(time.perf_counter() - wall0, 1e-9)
    return max(0.0, (busy1 - busy0) - (t.user + t.system - own0)) / wall


def measure_rates(schemes: list[str], kind: str, threads: int,
                  log=print) -> tuple[dict[str, dict], float]:
    """Seconds per training and per evaluation GFLOP of each noise scheme, measured with a few
    steps of a small job of the reference shape on synthetic data; and the cores other
    processes kept busy meanwhile (a busy machine makes the rates too slow)."""
    import os
    import time

    import torch

    from .device import resolve_device

    device = resolve_device(kind)
    saved = torch.get_num_threads()
    torch.set_num_threads(threads)
    rates = {}
    t = os.times()
    busy0, own0, wall0 = cpu_busy_seconds(), t.user + t.system, time.perf_counter()
    try:
        for noise in schemes:
            cond = Condition(experiment="calibration", name=noise, noise=noise,
                             rates=(0.5, 0.5))
            job = JobSpec(experiment="calibration", job="j000", conditions=[cond],
                          seeds=list(range(calibration_models(noise))), device=kind)
            t = calibrate_job(job, device, steps=calibration_steps(noise))
            rates[noise] = {"train_s_per_gflop": t["step"] / step_flops(job) * 1e9,
                            "eval_s_per_gflop": t["eval_image"] / eval_flops_per_image(job)
                            * 1e9}
            log(f"calibrated {noise}")
    finally:
        torch.set_num_threads(saved)
    return rates, others_load(busy0, own0, wall0)


def calibration(schemes: list[str], kind: str, threads: int, log=print,
                warn=print) -> dict[str, dict]:
    """Per noise scheme: seconds per training GFLOP and per evaluation GFLOP on this machine,
    from the cache, measuring (and caching) only the schemes it lacks (with ``threads`` torch
    threads, as a training job of the study runs)."""
    import json

    path = cache_dir() / "calibration.json"
    try:
        cached = json.loads(path.read_text())
        if cached.get("format") != CALIBRATION_FORMAT:
            cached = {}
    except (OSError, ValueError):
        cached = {}
    key = machine_key(kind, threads)
    rates = cached.setdefault("machines", {}).setdefault(key, {})
    missing = [s for s in schemes if s not in rates]
    busy = 0.0
    if missing:
        measured, busy = measure_rates(missing, kind, threads,
                                       log=lambda m: log(f"{m} on {key}"))
        rates.update(measured)
        if busy > BUSY_CORES:
            warn(f"the machine was busy while the speed was measured (other processes kept "
                 f"{busy:.1f} cores busy): the estimate may be too long, and it is not kept; "
                 "`dropout-study plan` on a quiet machine measures it again")
    if missing and busy <= BUSY_CORES:
        cached["format"] = CALIBRATION_FORMAT
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(cached, indent=1, sort_keys=True))
            tmp.replace(path)
        except OSError:
            pass  # a read-only home: measured again next time
    return {s: rates[s] for s in schemes}


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


def hours_minutes(seconds: float) -> str:
    h, rem = divmod(int(round(seconds)), 3600)
    return f"{h} h {rem // 60:02d} min" if h else f"{rem // 60} min {rem % 60:02d} s"


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
    ways.append("the published study's report, where one is published (the README says "
                "where), instead of running it")
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
