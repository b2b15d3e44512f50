"""Snakemake on this project's Snakefile, in a scratch working directory that holds a copy of
``config.yaml`` (as a user's clone does): the layering of config file, preset file and
``--config`` is then exactly the user's."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

from .conftest import ROOT


def snakemake_cmd(workdir: Path, *args: str) -> list[str]:
    workdir.mkdir(parents=True, exist_ok=True)
    if not (workdir / "config.yaml").exists():
        shutil.copy(ROOT / "config.yaml", workdir / "config.yaml")
    return [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"),
            "--directory", str(workdir), *args]


def environment(env: dict | None = None) -> dict:
    """``env`` (default: this process's) with this interpreter's scripts first on PATH, so
    that the rules' ``dropout-study`` is the one installed beside the Snakemake that runs."""
    env = dict(os.environ if env is None else env)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


def snakemake(workdir: Path, *args: str, timeout: int = 900,
              env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(snakemake_cmd(workdir, *args), capture_output=True, text=True,
                          timeout=timeout, env=environment(env))
