"""How a study's models are packed into training jobs, and what a job holds on a GPU.

``conditions_per_job`` and ``threads_per_job`` are integers or ``auto``. ``auto`` is resolved
once, with the config (``resolve``, called by ``config.checked`` in the Snakefile and by
``config.resolve`` under ``dropout-study plan``), into the config's ``packing`` block:

- on a CPU: one condition per job and all of ``--cores`` per job (the values the study has
  always used; a preset's explicit integers are kept);
- on CUDA: as many conditions of one shape per job as the memory model below puts under
  ``BUDGET_FRACTION`` of the smallest GPU's memory, and the CPU threads split between the
  GPUs (so that ``--cores all`` runs one training job per GPU).

The seed blocks (``seeds_per_job``) never depend on the device: with the conditions, they name
a job (``plan.job_name``), and adding seeds must keep the finished jobs.

This module imports no torch at import time (``plan`` and the Snakefile read it): the GPU is
looked at only by ``local_gpus``, and only where the config asks for it.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigError

GIB = 1 << 30
FLOAT = 4  # bytes: every tensor of a job is float32, or int64 (8) where said
BUDGET_FRACTION = 0.6  # of a GPU's memory, for one job: the rest is the CUDA context, the
# allocator's cache and fragmentation, and the model's error

# -- the memory model of one training job ----------------------------------------------------
#
# A job of M models of one shape holds, on its device:
#   fixed: the data set (every split as float32 [N, 784], labels int64), the CUDA context and
#          cuBLAS workspace, and exact DropConnect's chunk of masks (bounded by MEMORY_BUDGET,
#          whatever M: it walks the models one at a time);
#   per model: its parameters WEIGHT_COPIES times (weights, their gradient, two temporaries of
#          the update and the noise; weight noise adds its masked weights), its minibatch order
#          (int64 per training image), and the largest of three phases' activations:
#          a training step (its minibatch: input, then per hidden layer and example a few floats
#          per unit: pre-activation, gate, mask, its random bits, the gradient), an evaluation
#          chunk (eval_chunk images, three hidden-sized tensors alive at once), and the probe
#          batch of exercise 3 (before and after the noise, train and eval mode).
# Each copy count is a little above what the code holds at its peak (model.py, train/trainer.py,
# noise.py); the budget fraction takes the rest.

WEIGHT_COPIES = 4
WEIGHT_NOISE_COPIES = 4  # DropConnect's per-batch masks (bits, uniforms, mask, product) or the
# Gaussian approximation's squared weights, on the matrices that consume the hidden layers
ACTIVATION_COPIES = 6  # floats per hidden unit and example of a training step
EVAL_COPIES = 3  # hidden-sized tensors alive per evaluated image
PROBE_COPIES = 10  # per probe image and hidden unit: 4 taps x 2 passes, and the masks
CONTEXT_BYTES = 512 << 20  # the CUDA context and cuBLAS's workspace
N_IN, N_OUT, N_HIDDEN_LAYERS = 784, 10, 2
TEST_IMAGES = 10_000

# Exact per-example DropConnect (noise.py) draws its masks in chunks of examples: one chunk's
# masks take at most MEMORY_BUDGET bytes, counted at BYTES_PER_ENTRY bytes per mask entry (the
# 64-bit draws, the float mask, one product). At its peak a chunk holds more, which the memory
# model counts: the backward pass's masked weights and a contiguous copy for the batched GEMV
# (two floats per entry), and, with the counter streams (rng: auto on CUDA), the hash's int64
# temporaries while the words are drawn (up to three int64 per word of two entries: 12 bytes
# per entry). The chunk is the same whatever the number of models.
MEMORY_BUDGET = 64 << 20
BYTES_PER_ENTRY = 12
EXACT_DROPCONNECT_PEAK = MEMORY_BUDGET * (BYTES_PER_ENTRY + 2 * FLOAT + 12) // BYTES_PER_ENTRY
# ... and keeps a step's random draws from its forward pass for its backward pass, every chunk
# of every model: bytes per mask entry (8-bit entries: 1 from a generator's 64-bit draws, 2
# from the counter streams' 32-bit words held in int64)
KEPT_DRAW_BYTES = 2
# the weight schemes that hold their noisy weights whole, for every model at once
WHOLE_WEIGHT_NOISE = ("dropconnect_gaussian", "dropconnect_batch")


@dataclass(frozen=True)
class Shape:
    """What a job's memory depends on besides its number of models."""

    hidden: int = 256
    batch_size: int = 256
    noise: str = "dropout"
    probe: bool = False  # exercise 3's activation statistics on the probe batch
    train_images: int = 50_000
    validation_images: int = 10_000
    probe_images: int = 1_000
    eval_chunk: int = 2_500


def parameters(hidden: int) -> int:
    """Weights and biases of one model: 784 -> h -> h -> 10."""
    return N_IN * hidden + hidden * hidden + hidden * N_OUT + 2 * hidden + N_OUT


def data_bytes(s: Shape) -> int:
    """The data set on the device (train.DeviceData): the training split, the training slice
    scored in eval mode, validation, test, the probe batch."""
    images = (s.train_images + min(s.train_images, s.validation_images)
              + s.validation_images + TEST_IMAGES)
    return images * (N_IN * FLOAT + 8) + s.probe_images * N_IN * FLOAT


def fixed_bytes(s: Shape) -> int:
    extra = EXACT_DROPCONNECT_PEAK if s.noise == "dropconnect" else 0
    return data_bytes(s) + CONTEXT_BYTES + extra


def model_bytes(s: Shape) -> int:
    """What one more model adds to a job."""
    h = s.hidden
    static = parameters(h) * FLOAT * WEIGHT_COPIES
    if s.noise in WHOLE_WEIGHT_NOISE:  # on the matrices that consume the hidden layers
        static += (h * h + h * N_OUT) * FLOAT * WEIGHT_NOISE_COPIES
    if s.noise == "dropconnect":  # a step's draws, kept from the forward pass for the backward
        static += s.batch_size * (h * h + h * N_OUT) * KEPT_DRAW_BYTES
    order = s.train_images * 8  # the epoch's minibatch order, int64
    train = s.batch_size * (N_IN + N_HIDDEN_LAYERS * h * ACTIVATION_COPIES + 4 * N_OUT) * FLOAT
    evaluation = s.eval_chunk * (EVAL_COPIES * h + 4 * N_OUT) * FLOAT
    probe = s.probe_images * PROBE_COPIES * h * FLOAT if s.probe else 0
    return static + order + max(train, evaluation, probe)


def job_memory(s: Shape, models: int) -> int:
    """Estimated peak GPU memory of a job of ``models`` models of shape ``s``, in bytes."""
    return fixed_bytes(s) + models * model_bytes(s)


def budget(memory: float) -> int:
    """The bytes one job may plan for on a GPU of ``memory`` bytes."""
    return int(BUDGET_FRACTION * memory)


def models_that_fit(s: Shape, memory: float) -> int:
    """The most models of shape ``s`` whose job fits the budget of a GPU of ``memory`` bytes
    (0: not even one)."""
    room = budget(memory) - fixed_bytes(s)
    return max(0, room // model_bytes(s))


def conditions_that_fit(s: Shape, seeds: int, conditions: int, memory: float) -> int:
    """Conditions per job for ``conditions`` conditions of shape ``s`` with ``seeds`` models
    each: as many as fit the budget, at least 1 (a job too large for it is trained in halves
    when it runs out of memory: train/packs.py), at most all of them."""
    return max(1, min(conditions, models_that_fit(s, memory) // max(1, seeds)))


# -- resolving auto ----------------------------------------------------------------------------

def cpu_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


NVIDIA_DRIVER = Path("/proc/driver/nvidia/version")


def local_gpus() -> list[int]:
    """Total memory in bytes of every CUDA device this process sees (empty without one).
    Without NVIDIA's driver there is none, and torch (seconds to import) is not asked."""
    if not NVIDIA_DRIVER.exists():
        return []
    import torch

    if not torch.cuda.is_available():
        return []
    return [torch.cuda.get_device_properties(i).total_memory
            for i in range(torch.cuda.device_count())]


def resolve(cfg: dict, *, detect: bool = True, gpus: Sequence[int] | None = None) -> dict:
    """``cfg`` with its ``packing`` block: the device the jobs are planned for, the GPU memory
    the packing assumes, and the resolved ``conditions_per_job`` (an integer, or ``"memory"``:
    per shape, by the memory model) and ``threads_per_job``.

    ``detect``: look at this machine's GPUs (``device: auto``, and the memory when
    ``gpu_memory`` is not set). The Snakefile passes False where the jobs run elsewhere (a
    cluster's nodes, and the jobs' own re-reading of the Snakefile there): the packing is then
    a function of the config alone, the same on the submitting host and on the nodes, so the
    jobs keep their names. ``gpus``: the GPUs' memory in place of this machine's (tests)."""
    cfg = copy.deepcopy(cfg)
    cfg.pop("packing", None)
    seen = None  # the memory of each GPU seen here; None: not looked at
    if gpus is not None:
        seen = list(gpus)
    elif detect and cfg["device"] in ("auto", "cuda"):
        seen = local_gpus()
    device = cfg["device"]
    if device == "auto":
        device = "cuda" if seen else "cpu"
    per_job, threads = cfg["conditions_per_job"], cfg.get("threads_per_job", 0)
    memory, source = None, None
    if device == "cuda":
        if cfg.get("gpu_memory"):
            memory, source = float(cfg["gpu_memory"]) * GIB, "gpu_memory"
        elif seen:
            memory, source = float(min(seen)), f"the smallest of this machine's {len(seen)} GPU(s)"
        if per_job == "auto":
            if memory is None:
                raise ConfigError(
                    "config key 'gpu_memory': device cuda with conditions_per_job auto packs "
                    "each job by the GPU's memory, and no CUDA device is visible here (or the "
                    "jobs run elsewhere, e.g. on a cluster's nodes): give the GPUs' memory in "
                    "GiB (--config gpu_memory=80; dropout-study plan --gpu-memory 80), or an "
                    "integer conditions_per_job")
            per_job = "memory"
        if threads == "auto":
            threads = max(1, cpu_cores() // max(1, len(seen or ())))
    else:
        per_job = 1 if per_job == "auto" else per_job
        threads = 0 if threads == "auto" else threads
    cfg["packing"] = {
        "device": device,
        "gpus": len(seen) if device == "cuda" and seen else None,
        "gpu_memory_gib": round(memory / GIB, 2) if memory else None,
        "gpu_memory_from": source,
        "budget_fraction": BUDGET_FRACTION if device == "cuda" else None,
        "conditions_per_job": per_job,
        "threads_per_job": threads,
    }
    return cfg


def packing_of(cfg: dict) -> dict:
    """The config's resolved packing (resolved here, once, if the config has none)."""
    return cfg["packing"] if "packing" in cfg else resolve(cfg)["packing"]


def threads_per_job(cfg: dict) -> int:
    """CPU threads of a training job; 0: all of --cores."""
    return int(packing_of(cfg)["threads_per_job"])


def shape_of(cond, cfg: dict, eval_chunk: int = 2500) -> Shape:
    """The memory shape of a condition (``spec.Condition``) in this study."""
    d = cfg["data"]
    train = d.get("train_size") or 60_000 - d["validation_size"]
    return Shape(hidden=cond.hidden, batch_size=cond.batch_size, noise=cond.noise,
                 probe=cond.probe, train_images=train, validation_images=d["validation_size"],
                 probe_images=d.get("probe_size", 1000), eval_chunk=eval_chunk)


def conditions_per_job(cfg: dict, group: Sequence, seeds: int) -> int:
    """Conditions per job for ``group`` (conditions of one shape) with ``seeds`` seeds per
    block: the config's integer, or by the memory model on CUDA with ``auto``."""
    per_job = packing_of(cfg)["conditions_per_job"]
    if per_job != "memory":
        return int(per_job)
    memory = packing_of(cfg)["gpu_memory_gib"] * GIB
    return conditions_that_fit(shape_of(group[0], cfg), seeds, len(group), memory)


def job_memory_of(job, cfg: dict) -> int:
    """A job's (``spec.JobSpec``) estimated peak GPU memory, in bytes."""
    return job_memory(shape_of(job.conditions[0], cfg, job.eval_chunk), len(job.models))
