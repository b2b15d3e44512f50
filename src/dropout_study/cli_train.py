"""``dropout-study train``: one job from its spec, retried by Snakemake, and marked failed on its
last attempt where the study keeps going; a fault can be injected to test that end to end."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from .errors import UserError

FAULT = "DROPOUT_STUDY_FAULT"  # "<experiment>/<job>:<n>": that job raises on attempts 1..n


def _injected_fault(spec, attempt: int) -> None:
    """A failure on purpose, for testing the retry and marking of failed jobs end to end with
    a real Snakemake: ``DROPOUT_STUDY_FAULT=sanity/<job>:1`` (a job's folder name under
    ``results/runs/sanity/``) makes that job raise on its first attempt only."""
    import os

    target, _, upto = os.environ.get(FAULT, "").partition(":")
    if target == f"{spec.experiment}/{spec.job}" and attempt <= int(upto or 1):
        raise RuntimeError(f"fault injected by {FAULT} on attempt {attempt}")


def _cmd_train(a: argparse.Namespace) -> None:
    from .spec import JobSpec
    from .train import run_job

    text = Path(a.spec).read_text() if a.spec else a.spec_json
    try:
        spec = JobSpec.from_json(text)
    except (ValueError, TypeError, KeyError) as exc:
        raise UserError(f"--spec: not a job specification ({exc})") from exc
    if a.device:
        spec.device = a.device
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    try:
        (out / "spec.json").write_text(spec.to_json())
        _injected_fault(spec, a.attempt)
        run_job(spec, out, progress=a.progress)
    except Exception as exc:
        last = a.attempt >= a.attempts
        if not last or a.on_failure != "mark":
            logging.error("job %s/%s failed on attempt %d of %d%s", spec.experiment, spec.job,
                          a.attempt, a.attempts, "" if last else "; Snakemake tries it again")
            raise
        from .train import mark_failed

        logging.exception("job %s/%s failed on its last attempt (%d); marked as failed",
                          spec.experiment, spec.job, a.attempt)
        mark_failed(spec, out, exc, attempt=a.attempt)
