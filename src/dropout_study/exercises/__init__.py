"""The registry of exercises, in report order. Each module defines ``EXERCISE``."""

from __future__ import annotations

from dataclasses import replace
from importlib import import_module

from ..config import edition_config
from ..spec import Condition
from .base import Builder, Exercise

MODULES = ("layer_rates", "long_training", "activation_variance", "test_time", "weight_decay",
           "weight_dropout", "noise", "capacity", "ternary", "sanity")

EXERCISES: list[Exercise] = [import_module(f".{m}", __name__).EXERCISE for m in MODULES]

NEWER = "_newer"  # suffix of an experiment run again at the newer edition's setting


def _at_newer_edition(name: str, build: Builder) -> Builder:
    """The builder of ``name`` at the newer edition's setting: the same conditions under the
    study's config with ``newer_edition`` merged in, named ``<name>_newer``. They answer the
    exercise only: no activation probes (exercise 3) and no saved weights (exercise 4)."""
    def newer(cfg: dict) -> list[Condition]:
        return [replace(c, experiment=name + NEWER, probe=False, save_weights=False)
                for c in build(edition_config(cfg))]

    return newer


# experiment name -> its conditions builder, over every exercise that trains something
EXPERIMENTS: dict[str, Builder] = {name: build for ex in EXERCISES
                                   for name, build in ex.trains.items()}
OWNER: dict[str, Exercise] = {name: ex for ex in EXERCISES for name in ex.trains}
for _ex in EXERCISES:
    if _ex.editions:
        for _name, _build in _ex.trains.items():
            EXPERIMENTS[_name + NEWER] = _at_newer_edition(_name, _build)
            OWNER[_name + NEWER] = _ex


def enabled(cfg: dict) -> list[str]:
    """The experiments the config asks for, in registry order."""
    newer = edition_config(cfg) is not None
    return [name for name in EXPERIMENTS if OWNER[name].enabled(cfg)
            and (newer or not name.endswith(NEWER))]


def check(cfg: dict) -> None:
    """Each enabled exercise's own config relations (a ``ConfigError`` names the key)."""
    for ex in EXERCISES:
        if ex.check is not None and ex.enabled(cfg):
            ex.check(cfg)
