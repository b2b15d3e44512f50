"""What every experiment's conditions share: the reference condition, names, seeds.

The conditions of each experiment are built by the exercise that trains them
(``dropout_study.exercises``)."""

from __future__ import annotations

from .spec import Condition

TUNING_SEED_OFFSET = 1000  # tuning seeds are disjoint from the seeds of reported comparisons
MAX_SEED = 9999  # a job's name holds its seed range in 4 digits (plan.job_name)


def seed_offset(cfg: dict) -> int:
    """The study's first seed (``seed_offset``, 0 in a config that predates the key)."""
    return int(cfg.get("seed_offset", 0))


def study_seeds(cfg: dict, n: int | None = None) -> list[int]:
    """The study's first ``n`` seeds (default: ``seeds``), from ``seed_offset`` on. Every
    reported experiment trains the same ones, so that conditions pair by seed; a re-run at
    another offset trains fresh seeds (a replication, not a copy)."""
    first = seed_offset(cfg)
    return list(range(first, first + (cfg["seeds"] if n is None else n)))


def tuning_seeds(cfg: dict) -> list[int]:
    """Exercise 7's tuning seeds: fixed (1000.., whatever ``seed_offset``), so that a
    re-run at another offset tunes as the study did and reports on fresh seeds."""
    n = cfg["experiments"]["noise"]["tune_seeds"]
    return list(range(TUNING_SEED_OFFSET, TUNING_SEED_OFFSET + n))


def seeds(cfg: dict, name: str, n: int | None = None) -> list[int]:
    """The seeds of an experiment: the study's first ``n`` (default: ``seeds``), except for
    tuning runs (their own, disjoint from the study's)."""
    if name == "noise_tuning":
        return tuning_seeds(cfg)
    return study_seeds(cfg, n)


def base_condition(cfg: dict, experiment_name: str, **kw) -> Condition:
    t = cfg["training"]
    fields = dict(experiment=experiment_name, noise="dropout", rates=tuple(t["rates"]),
                  hidden=t["hidden"], lr=t["lr"], batch_size=t["batch_size"], epochs=t["epochs"],
                  drop_last=t.get("drop_last", True))
    fields.update(kw)
    fields["rates"] = tuple(float(r) for r in fields["rates"])
    fields["factors"] = tuple(fields.get("factors", {}).items()) \
        if isinstance(fields.get("factors"), dict) else fields.get("factors", ())
    return Condition(**fields)


def rates_name(p1: float, p2: float) -> str:
    return f"p1={p1:g},p2={p2:g}"
