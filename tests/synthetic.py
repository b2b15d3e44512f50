"""Synthetic tidy tables with planted effects, in the exact shape the pipeline writes.

An exercise's claim tests build the tables its analysis reads (``metrics``, ``runs``), plant a
known effect per condition and seed, and check what the analysis says about it. Nothing here
trains a model.
"""

from __future__ import annotations

import functools
import math
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from dropout_study import config as study_config
from dropout_study.results import Results

ROOT = Path(__file__).resolve().parents[1]

Value = Callable[[str, int, int], float]  # (condition, seed, epoch) -> test accuracy


@functools.cache
def _full_config() -> dict:
    return study_config.load(ROOT / "config.yaml")


def config(**overrides) -> dict:
    """The full preset's resolved config, with ``overrides`` merged in (not validated)."""
    return study_config.deep_merge(_full_config(), overrides)


def noise(seed: int, scale: float, key: str = "") -> float:
    """Deterministic jitter in [-scale, scale]: per seed (shared by every condition when
    ``key`` is empty), or per seed and ``key`` (e.g. a condition's own noise)."""
    return scale * math.sin(12.9898 * (seed + 1) + 78.233 * zlib.crc32(key.encode()))


def run_tables(experiment: str, conditions: dict[str, dict], seeds: list[int], epochs: int,
               acc: Value, diverged: dict[tuple[str, int], int] | None = None,
               loss: Value | None = None, extra: dict[str, Value] | None = None,
               job_of: Callable[[str], str] | None = None,
               ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``metrics`` and ``runs`` for ``conditions`` (name -> run-table fields such as rate1,
    rate2, factor_*) over ``seeds`` and epochs 1..``epochs``. ``acc`` gives the test accuracy;
    validation accuracy equals it, training accuracy (eval mode) is 2 points higher. A run in
    ``diverged`` at epoch e has NaN metrics from e on, as the trainer writes them."""
    diverged = diverged or {}
    extra = extra or {}
    metrics, runs = [], []
    for cond, fields in conditions.items():
        job = job_of(cond) if job_of else "j000"
        for seed in seeds:
            dead_at = diverged.get((cond, seed))
            for epoch in range(1, epochs + 1):
                dead = dead_at is not None and epoch >= dead_at
                a = acc(cond, seed, epoch)
                tl = loss(cond, seed, epoch) if loss else 0.45 - 0.01 * epoch
                row = {"experiment": experiment, "condition": cond, "seed": seed,
                       "epoch": epoch, "job": job, "diverged": dead,
                       "test_acc": a, "val_acc": a, "train_eval_acc": a + 0.02,
                       "train_acc": a, "test_loss": tl, "val_loss": tl,
                       "train_loss": tl - 0.05, "train_eval_loss": tl - 0.05,
                       "epoch_seconds": 1.0, "train_seconds": 1.0, "models_in_job": len(seeds)}
                row.update({k: f(cond, seed, epoch) for k, f in extra.items()})
                if dead:
                    for k in row:
                        if k.endswith(("_acc", "_loss")):
                            row[k] = np.nan
                metrics.append(row)
            base = {"rate1": 0.2, "rate2": 0.5, "noise": "dropout", "weight_decay": 0.0,
                    "hidden": 256, "lr": 0.5, "batch_size": 256, "epochs": epochs,
                    "weight_norm1": 10.0, "weight_norm2": 5.0, "weight_norm3": 2.0}
            runs.append({"experiment": experiment, "condition": cond, "seed": seed,
                         "job": job, "model_index": 0, **base, **fields,
                         "diverged": dead_at is not None,
                         "diverged_epoch": float(dead_at) if dead_at is not None else np.nan})
    return pd.DataFrame(metrics), pd.DataFrame(runs)


def results(cfg: dict, metrics: pd.DataFrame, runs: pd.DataFrame,
            activations: pd.DataFrame | None = None,
            extra: dict[str, pd.DataFrame] | None = None) -> Results:
    return Results(metrics, runs, activations if activations is not None else pd.DataFrame(),
                   [], cfg, extra or {})


def write_results(folder: Path, cfg: dict, tables: dict[str, pd.DataFrame]) -> Path:
    """A results folder as the pipeline writes it (``results/<preset>/``): ``tables`` (name ->
    table, e.g. metrics, runs, activations) as parquet, ``config.json`` and an empty
    ``jobs.json``. Each row's job becomes the one ``cfg`` plans for its run, so that
    ``Results.load`` keeps it."""
    import json

    from dropout_study.results import planned_runs

    keys = ["experiment", "condition", "seed"]
    jobs = planned_runs(cfg).runs[[*keys, "job"]]
    folder.mkdir(parents=True, exist_ok=True)
    for name, df in tables.items():
        if {*keys, "job"} <= set(df.columns):
            df = df.drop(columns="job").merge(jobs, on=keys)[list(df.columns)]
        df.to_parquet(folder / f"{name}.parquet", index=False)
    (folder / "config.json").write_text(json.dumps(cfg))
    (folder / "jobs.json").write_text("[]")
    return folder


def combine(*tables: tuple[pd.DataFrame, pd.DataFrame]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Several experiments' (metrics, runs) as one pair of tables."""
    return (pd.concat([t[0] for t in tables], ignore_index=True),
            pd.concat([t[1] for t in tables], ignore_index=True))


def section_markdown(exercise, words: dict, figures: dict, **context) -> str:
    """One exercise's section, analysed and complete, rendered through the report's templates
    (the frame around it minimal)."""
    from dropout_study.report import render_markdown
    from tests.test_report import minimal_context

    section = {"key": exercise.key, "number": exercise.number, "title": exercise.title,
               "missing": None, "failed": [], "figures": figures, **words}
    return render_markdown(minimal_context(sections=[section], **context))


def in_section(exercise, words: dict, text: str, figures: dict) -> bool:
    """Whether ``text`` is in the exercise's rendered section, its line breaks read as spaces."""
    return text in " ".join(section_markdown(exercise, words, figures).split())
