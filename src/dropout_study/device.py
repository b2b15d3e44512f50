"""Device choice (and, on CUDA, a GPU of the job's own) and the provenance every run records."""

from __future__ import annotations

import os
import platform
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import torch

from .errors import UserError


def resolve_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("device: 'cuda' was asked for but torch sees no CUDA device "
                        "(use device: auto or cpu)")
    if name not in ("cpu", "cuda"):
        raise UserError(f"device: {name!r} is not one of auto, cpu, cuda")
    return torch.device(name)


# -- a GPU of its own for each training job ---------------------------------------------------
#
# Snakemake bounds how many training jobs run at once (`--resources gpu=N`, and
# threads_per_job: auto splits the cores between the GPUs); each job then takes a GPU no other
# job holds: an exclusive flock on one lock file per GPU, held while the job runs and released
# by the kernel when its process ends (however it ends). The files are named by the GPU's
# UUID, so that jobs that see the GPUs under other indices (CUDA_VISIBLE_DEVICES, a cluster's
# allocation) still agree, and lie in this machine's temporary folder (flock is not reliable on
# a network file system; GPUs are per machine anyway).

GPU_LOCKS = "DROPOUT_STUDY_GPU_LOCKS"  # another folder for the lock files


def lock_dir() -> Path:
    return Path(os.environ.get(GPU_LOCKS) or Path(tempfile.gettempdir()) / "dropout-study-gpus")


def gpu_keys() -> list[str]:
    """A name for each CUDA device this process sees, the same in every process of this
    machine: its UUID (else its index among all devices)."""
    visible = [v.strip() for v in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",")
               if v.strip()]
    keys = []
    for i in range(torch.cuda.device_count()):
        uuid = getattr(torch.cuda.get_device_properties(i), "uuid", None)
        keys.append(f"gpu-{uuid}" if uuid else
                    f"gpu-index-{visible[i] if i < len(visible) else i}")
    return keys


def _try_lock(path: Path) -> int | None:
    """An open descriptor of ``path`` holding its exclusive flock, or None if another holds it."""
    import fcntl

    fd = os.open(path, os.O_RDONLY | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    except BaseException:
        os.close(fd)
        raise
    return fd


def claim_gpu(keys: Sequence[str], where: Path, *, poll: float = 2.0,
              sleep: Callable[[float], None] = time.sleep,
              log: Callable[[str], None] = print) -> tuple[int, int | None]:
    """The index of the first GPU (of ``keys``, one name per device) that no other job holds,
    and the descriptor holding it (close it to give the GPU back). With every GPU held, waits
    (``poll`` seconds between looks) until one is free. With no GPU named, or where the lock
    files cannot be made (an ``OSError``), it is device 0, unheld."""
    if not keys:
        return 0, None
    try:
        where.mkdir(parents=True, exist_ok=True)
        if where.stat().st_uid == os.getuid():
            where.chmod(0o1777)  # other users' jobs share the GPUs, and so the folder
        waited = 0.0
        while True:
            for index, key in enumerate(keys):
                fd = _try_lock(where / f"{key}.lock")
                if fd is not None:
                    if waited:
                        log(f"GPU {index} is free after {waited:.0f} s")
                    return index, fd
            if waited == 0.0 or waited % 600 < poll:
                log(f"waiting for a free GPU: all {len(keys)} are held by other jobs (lock "
                    f"files in {where}); `--resources gpu={len(keys)}` keeps such jobs from "
                    "starting")
            sleep(poll)
            waited += poll
    except OSError as exc:
        log(f"no GPU lock ({exc}); using GPU 0, unclaimed")
        return 0, None


@contextmanager
def claimed(device: torch.device, log: Callable[[str], None] = print) -> Iterator[torch.device]:
    """``device``, where it is CUDA without an index: a GPU this job holds while inside."""
    if device.type != "cuda" or device.index is not None:
        yield device
        return
    index, fd = claim_gpu(gpu_keys(), lock_dir(), log=log)
    try:
        torch.cuda.set_device(index)
        log(f"training on GPU {index} ({torch.cuda.get_device_name(index)})")
        yield torch.device("cuda", index)
    finally:
        if fd is not None:
            os.close(fd)


def set_determinism(deterministic: bool) -> None:
    """On CPU our kernels are deterministic already; on CUDA this trades speed for it."""
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
    torch.backends.cuda.matmul.allow_tf32 = False  # float32 means float32, on every device
    torch.backends.cudnn.allow_tf32 = False


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    n = torch.get_num_threads()
    return f"cpu ({platform.processor() or platform.machine()}, {n} thread{'s' if n != 1 else ''})"


def versions() -> dict[str, str]:
    import numpy
    import pandas

    from . import __version__

    return {"dropout_study": __version__, "torch": torch.__version__,
            "numpy": numpy.__version__, "pandas": pandas.__version__,
            "python": platform.python_version()}
