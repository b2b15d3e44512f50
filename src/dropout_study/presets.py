"""What a smaller preset changes from the full study, in words for the top of its report.

A preset (quick, smoke) trains on a fixed subset of the training images: its accuracies sit
below the full study's, and a reader must be told so before reading any of them. The words
take every number from the config and the runs (the reference model's own endpoints), none
typed in.
"""

from __future__ import annotations

import pandas as pd

from . import words

FASHION_MNIST_TRAIN = 60_000  # images in the data set's training file (validation comes out)
# The full study's design where a smaller preset cuts it (config.yaml's values; a test holds
# them to that file), for the sentence that says, where it applies, what a preset runs less of
FULL_DESIGN: dict[str, dict] = {
    "weight_dropout": {"rates": [0.1, 0.2, 0.3, 0.5, 0.7]},
    "noise": {"epochs": 30, "tune_seeds": 3},
    "capacity": {"widths": [64, 128, 256, 512, 1024]},
    "ternary": {"zero_probability": [0.1, 0.3, 0.5, 0.7]},
}
FULL_VALIDATION = 10_000  # the full study's validation split (config.yaml's data block)
FULL_SEEDS = 10  # the full study's seeds per condition (config.yaml's seeds)


def reference_runs(ends: pd.DataFrame, cfg: dict) -> pd.DataFrame:
    """The runs of the reference model at the study's own setting (the config's training
    block: its rates with inverted dropout, width, learning rate, batch and epochs) that are
    stable at their endpoint, from every experiment that trains it."""
    if ends.empty:
        return ends
    t = cfg["training"]
    p1, p2 = (float(x) for x in t["rates"])
    keep = (ends["stable"] & ends["noise"].eq("dropout") & ends["rate1"].eq(p1)
            & ends["rate2"].eq(p2) & ends["hidden"].eq(t["hidden"]) & ends["lr"].eq(t["lr"])
            & ends["epochs"].eq(t["epochs"]) & ends["batch_size"].eq(t["batch_size"]))
    if "weight_decay" in ends.columns:
        keep &= ends["weight_decay"].fillna(0.0).eq(0.0)
    return ends[keep]


def subset(cfg: dict, ends: pd.DataFrame) -> str:
    """A sentence for a preset that trains on part of the images the full study trains on
    (``data.train_size``), with where its reference model's test accuracy lands; "" where it
    trains on all of them."""
    data = cfg["data"]
    size = data.get("train_size")
    pool = FASHION_MNIST_TRAIN - int(data["validation_size"])
    full = FASHION_MNIST_TRAIN - FULL_VALIDATION
    if not size or size >= min(pool, full):
        return ""
    # one short sentence: the box it opens must leave the answers on a phone's first screen;
    # the validation split is the Methods' to say
    text = (f"It trains on {_count(size)} images where the full study trains on "
            f"{_count(full)}, so its accuracies sit lower")
    ref = reference_runs(ends, cfg)
    if not ref.empty:
        t = cfg["training"]
        text += (f": its reference model (lr {t['lr']:g}, p = ({t['rates'][0]:g}, "
                 f"{t['rates'][1]:g}), {t['epochs']} epochs) has a median endpoint of "
                 f"{100 * ref['endpoint'].median():.1f}% test accuracy")  # the last k's mean
    return text + ". "


def throughout(cfg: dict) -> str:
    """The preset's departures that hold in every exercise (fewer seeds, fewer training
    images), in one sentence for the head of each section, where they apply (STUDY.md,
    "Presets"); "" for a study with the full study's seeds and images."""
    parts = []
    if int(cfg["seeds"]) < FULL_SEEDS:
        parts.append(f"{cfg['seeds']} seeds where the full study runs {FULL_SEEDS}")
    size, full = cfg["data"].get("train_size"), FASHION_MNIST_TRAIN - FULL_VALIDATION
    if size and size < full:
        parts.append(f"{_count(size)} training images where it trains on {_count(full)} (so "
                     "lower accuracies)")
    if not parts:
        return ""
    return (f"Preset {cfg.get('preset', 'full')}, here as throughout the report: "
            f"{words.join(parts)}; the full study is the answer.")


def _count(n: int) -> str:
    """A count with its thousands apart: ``10 000``."""
    return f"{int(n):,}".replace(",", " ")


def _value(x) -> str:
    return ", ".join(f"{float(v):g}" for v in x) if isinstance(x, list | tuple) else f"{x:g}"


def departure(cfg: dict, block: str, said: dict[str, tuple[str, str]]) -> str:
    """Where this study runs less of an exercise's design than the full study (a preset's
    cut), in one sentence said where it applies: ``said`` maps a key of the block to its
    name in words and what the cut costs ("" for nothing more to say); "" where every key is
    as in the full study."""
    full, mine = FULL_DESIGN.get(block, {}), cfg["experiments"].get(block, {})
    parts = []
    for key, (what, cost) in said.items():
        if key not in full or key not in mine or _value(mine[key]) == _value(full[key]):
            continue
        parts.append(f"{what} {_value(mine[key])} where the full study runs "
                     f"{_value(full[key])}" + (f" ({cost})" if cost else ""))
    if not parts:
        return ""
    return (f"This study (preset {cfg.get('preset', 'full')}) departs from the full study "
            f"here: {words.join(parts)}; the full study is the answer.")


def data_departure(cfg: dict, shapes: str) -> str:
    """Where a preset trains on fewer images than the full study, said in an exercise whose
    answer the data's size shapes (``shapes``: how, in words); "" where it trains on all."""
    data = cfg["data"]
    size = data.get("train_size")
    if not size or size >= FASHION_MNIST_TRAIN - int(data["validation_size"]):
        return ""
    val = int(data["validation_size"])
    return (f"This study (preset {cfg.get('preset', 'full')}) trains on {_count(size)} images "
            f"where the full study trains on {_count(FASHION_MNIST_TRAIN - FULL_VALIDATION)}"
            + (f", and validates on {_count(val)} where it validates on "
               f"{_count(FULL_VALIDATION)}" if val != FULL_VALIDATION else "")
            + f": {shapes}; the full study is the answer.")


def selection_departure(cfg: dict) -> str:
    """Where a preset picks settings on a smaller validation split than the full study's,
    said in an exercise that selects on it: its scores move in coarser steps (one image);
    "" where the split is the full study's."""
    val = int(cfg["data"]["validation_size"])
    if val >= FULL_VALIDATION:
        return ""
    return (f"This study (preset {cfg.get('preset', 'full')}) picks on a validation split of "
            f"{_count(val)} images where the full study's has {_count(FULL_VALIDATION)}: one "
            f"image is {100 / val:.2f} points of a run's validation accuracy where it is "
            f"{100 / FULL_VALIDATION:.2f} there, so close settings are told apart more coarsely; "
            "the full study is the answer.")
