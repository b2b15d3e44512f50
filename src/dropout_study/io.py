"""Atomic writes: a killed job never leaves a file that looks complete."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def atomic_write(path: str | os.PathLike, write: Callable[[str], None]) -> None:
    """Call ``write(tmp_path)``, then rename the temporary file onto ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp's 0600 would surprise users sharing results
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write(path, lambda tmp: Path(tmp).write_text(text))


# A weights file that `dropout-study progress restore` wrote in place of weights it did not
# carry (JSON, one key): Snakemake sees the output; whatever would read it stops and says why.
WEIGHTS_STUB = "dropout-study weights not carried"


def weights_stub(path: str | os.PathLike) -> str | None:
    """Why ``path`` holds no weights, where it is such a stub; else None."""
    import json

    with open(path, "rb") as fh:
        head = fh.read(4096)
    if not head.startswith(b"{"):
        return None
    try:
        return json.loads(head).get(WEIGHTS_STUB)
    except ValueError:
        return None
