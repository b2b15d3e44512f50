"""What a smaller preset changes from the full study, in words for the top of its report.

A preset (quick, smoke) trains on a fixed subset of the training images: its accuracies sit
below the full study's, and a reader must be told so before reading any of them. The words
take every number from the config and the runs (the reference model's own endpoints), none
typed in.
"""

from __future__ import annotations

import pandas as pd

FASHION_MNIST_TRAIN = 60_000  # images in the data set's training file (validation comes out)


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
    if not size or size >= pool:
        return ""
    text = (f"It trains on {_count(size)} of the {_count(pool)} training images left after its "
            f"validation split (the full study: all of them), so its accuracies sit below "
            "the full study's")
    ref = reference_runs(ends, cfg)
    if not ref.empty:
        t = cfg["training"]
        text += (f": its reference model (lr {t['lr']:g}, p = ({t['rates'][0]:g}, "
                 f"{t['rates'][1]:g}), {t['epochs']} epochs) ends at a median "
                 f"{100 * ref['endpoint'].median():.1f}% test accuracy")
    return text + ". "


def _count(n: int) -> str:
    """A count with its thousands apart: ``10 000``."""
    return f"{int(n):,}".replace(",", " ")
