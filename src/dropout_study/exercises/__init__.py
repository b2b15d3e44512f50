"""The registry of exercises, in report order. Each module defines ``EXERCISE``."""

from __future__ import annotations

from importlib import import_module

from .base import Builder, Exercise

MODULES = ("layer_rates", "long_training", "activation_variance", "test_time", "weight_decay",
           "weight_dropout", "noise", "capacity", "ternary", "sanity")


def _load() -> list[Exercise]:  # TEMPORARY while the modules are being ported
    out = []
    for m in MODULES:
        try:
            out.append(import_module(f".{m}", __name__).EXERCISE)
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{m}":
                raise
    return out


EXERCISES: list[Exercise] = _load()

# experiment name -> its conditions builder, over every exercise that trains something
EXPERIMENTS: dict[str, Builder] = {name: build for ex in EXERCISES
                                   for name, build in ex.trains.items()}
OWNER: dict[str, Exercise] = {name: ex for ex in EXERCISES for name in ex.trains}


def enabled(cfg: dict) -> list[str]:
    """The experiments the config asks for, in registry order."""
    return [name for name in EXPERIMENTS if OWNER[name].enabled(cfg)]


def check(cfg: dict) -> None:
    """Each enabled exercise's own config relations (a ``ConfigError`` names the key)."""
    for ex in EXERCISES:
        if ex.check is not None and ex.enabled(cfg):
            ex.check(cfg)
