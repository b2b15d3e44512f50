"""What every experiment's conditions share: the reference condition, names, seeds.

The conditions of each experiment are built by the exercise that trains them
(``dropout_study.exercises``)."""

from __future__ import annotations

from .spec import Condition

TUNING_SEED_OFFSET = 1000  # tuning seeds are disjoint from the seeds of reported comparisons


def seeds(cfg: dict, name: str) -> list[int]:
    """The seeds of an experiment: the study's, except for tuning runs (fresh ones)."""
    if name == "noise_tuning":
        n = cfg["experiments"]["noise"]["tune_seeds"]
        return list(range(TUNING_SEED_OFFSET, TUNING_SEED_OFFSET + n))
    return list(range(cfg["seeds"]))


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
