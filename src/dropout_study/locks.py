"""Stale Snakemake locks left by a hard-killed run.

Snakemake locks the working directory while it runs and unlocks it on exit; a ``kill -9`` (or
a power loss) skips the unlock, and the next run stops with "Directory cannot be locked" until
``snakemake --unlock``. The study records which process owns its locks (``record_owner``,
called at ``onstart``); a later run on the same host removes the locks only when that owner
is provably gone: the process no longer exists (or its PID now belongs to a younger process),
and no lock is newer than the owner's record (locks written after it belong to another run
that is starting right now).
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

OWNER = "dropout-study-owner.json"


def _start_ticks(pid: int) -> int | None:
    """The process's start time in clock ticks since boot, or None if there is no such PID."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[19])  # field 22 of proc(5)


def record_owner(snakemake_dir: Path | str = ".snakemake") -> None:
    d = Path(snakemake_dir)
    d.mkdir(parents=True, exist_ok=True)
    pid = os.getpid()
    owner = {"pid": pid, "start": _start_ticks(pid), "host": socket.gethostname()}
    tmp = d / f".{OWNER}.{pid}"
    tmp.write_text(json.dumps(owner))
    tmp.replace(d / OWNER)


def clear_stale_locks(snakemake_dir: Path | str = ".snakemake") -> list[Path]:
    """Remove the locks of a run that was killed; returns what was removed (nothing when in
    doubt: another host, a live owner, or locks the owner did not write)."""
    d = Path(snakemake_dir)
    locks = sorted((d / "locks").glob("*.lock"))
    marker = d / OWNER
    if not locks or not marker.exists():
        return []
    try:
        owner = json.loads(marker.read_text())
        pid, start, host = int(owner["pid"]), owner["start"], owner["host"]
    except (OSError, ValueError, KeyError, TypeError):
        return []
    if host != socket.gethostname() or start is None:
        return []
    if _start_ticks(pid) == start:
        return []  # the owner is still running
    recorded = marker.stat().st_mtime
    if any(lock.stat().st_mtime > recorded for lock in locks):
        return []
    for lock in locks:
        lock.unlink(missing_ok=True)
    return locks
