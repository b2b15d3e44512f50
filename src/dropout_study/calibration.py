"""The speed of this machine, measured once: a second or two of training per noise scheme (a
few steps of a small synthetic job, as a study's job runs them), kept in a cache per machine,
device and thread count, as seconds per training and per evaluation GFLOP. A measurement taken
while other processes kept the machine busy is used once and not kept."""

from __future__ import annotations

import math
from pathlib import Path

from .plan import STEP_COST
from .spec import Condition, JobSpec


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
COSTLY = 5.0  # a step of at least this many dropout steps (plan.STEP_COST): a shorter calibration


def calibration_models(noise: str) -> int:
    """Models of a scheme's calibration job: fewer for a costly scheme (exact DropConnect's
    per-example masks cost the same per model whatever the batch of models)."""
    return CALIBRATION_MODELS if STEP_COST.get(noise, 1.0) < COSTLY else 2


def calibration_steps(noise: str) -> int:
    """Timed steps of a scheme's calibration (and as many warm-up steps): fewer for a costly
    scheme, whose single step already lasts long enough to time, so that a first `plan`
    answers in a few seconds."""
    return CALIBRATION_STEPS if STEP_COST.get(noise, 1.0) < COSTLY else 2


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
