"""Jobs run twice and compared, on any device: a seed trained alone against the same seed in a
packed job, and the tables of two runs. Used by tests/test_train.py (CPU) and
tests/test_cuda.py (the GPU)."""

from pathlib import Path

import pandas as pd

from dropout_study.spec import Condition, JobSpec
from dropout_study.train import run_job

TABLES = ("metrics", "runs", "activations")
# what says where and how fast a model was trained, not what it computed
PLACE = ("job", "model_index", "models_in_job")


def tables(out: Path) -> dict[str, pd.DataFrame]:
    return {name: pd.read_parquet(out / f"{name}.parquet") for name in TABLES}


def numbers(df: pd.DataFrame, place: bool = False) -> pd.DataFrame:
    """A table without its timing columns (and, with ``place``, without where it ran)."""
    drop = [c for c in df.columns if "seconds" in c or (place and c in PLACE)]
    return df.drop(columns=drop).reset_index(drop=True)


def assert_tables_close(a: pd.DataFrame, b: pd.DataFrame) -> None:
    """The same rows, keys and flags, and numbers equal to float32 rounding: what a model
    computes in packs of other sizes where the BLAS takes another path (a pack of one model
    on a CPU; another batch count on a GPU, where cuBLAS may pick another kernel).
    Accuracies may differ by up to two images of a thousand: a logit tie within rounding
    flips a prediction (a real difference moves them by points)."""
    assert len(a) == len(b) > 0
    acc = [c for c in a.columns if c.endswith("_acc")]
    pd.testing.assert_frame_equal(a.drop(columns=acc), b.drop(columns=acc), check_exact=False,
                                  rtol=1e-4, atol=1e-5)
    pd.testing.assert_frame_equal(a[acc], b[acc], check_exact=False, rtol=0, atol=2e-3)


def conditions(epochs: int = 2, noise: str = "dropout") -> list[Condition]:
    return [Condition("t", name, noise=noise, rates=rates, epochs=epochs, probe=True)
            for name, rates in (("a", (0.2, 0.5)), ("b", (0.5, 0.5)), ("c", (0.0, 0.2)),
                                ("d", (0.2, 0.2)))]


def alone_and_packed(data_path: Path, tmp: Path, device: str, deterministic: bool = False,
                     noise: str = "dropout", rng: str = "auto") -> tuple[dict, dict]:
    """Seed 1 of condition b trained alone, and the same (condition, seed) cut out of a job
    of three conditions x three seeds: their tables, without timing and placement columns."""
    conds = conditions(noise=noise)[:3]
    common = dict(data_path=str(data_path), device=device, deterministic=deterministic,
                  rng=rng)
    run_job(JobSpec("t", "alone", [conds[1]], [1], **common), tmp / "alone", progress=False)
    run_job(JobSpec("t", "packed", conds, [0, 1, 2], **common), tmp / "packed", progress=False)
    alone = {k: numbers(v, place=True) for k, v in tables(tmp / "alone").items()}
    packed = {}
    for k, v in tables(tmp / "packed").items():
        v = v[(v["condition"] == "b") & (v["seed"] == 1)]
        packed[k] = numbers(v, place=True)
    return alone, packed
