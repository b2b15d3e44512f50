"""Device choice and the provenance every run records."""

from __future__ import annotations

import os
import platform
import subprocess

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


def code_version() -> str:
    """``git describe`` of the code: of this package's folder where it is a checkout (an
    editable install), else of the working directory (a clone, with the package installed)."""
    for where in (os.path.dirname(__file__), os.getcwd()):
        try:
            out = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=where,
                                 capture_output=True, text=True, timeout=5)
        except (OSError, subprocess.SubprocessError):
            continue
        if out.returncode == 0 and out.stdout.strip():
            return out.stdout.strip()
    return "unknown"


def versions() -> dict[str, str]:
    import numpy
    import pandas

    from . import __version__

    return {"dropout_study": __version__, "torch": torch.__version__,
            "numpy": numpy.__version__, "pandas": pandas.__version__,
            "python": platform.python_version()}
