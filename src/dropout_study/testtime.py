"""Exercise 4: what dropout does at test time, on trained models (no retraining).

For each trained model: the deterministic eval-mode prediction; single stochastic passes with
the training-time noise left on (accuracy per pass, and how often two passes disagree); and
Monte-Carlo averages of the predicted probabilities over T passes (accuracy, NLL, calibration).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pandas as pd
import torch

from .data import FashionMNIST
from .device import resolve_device
from .errors import UserError
from .io import weights_stub
from .model import FORMAT as MODEL_FORMAT
from .model import BatchedMLP
from .noise import NoiseContext, scheme
from .rng import ModelStreams

log = logging.getLogger(__name__)


def expected_calibration_error(probs: torch.Tensor, labels: torch.Tensor,
                               bins: int = 15) -> torch.Tensor:
    """ECE with equal-width confidence bins: sum_b |B|/N |accuracy(B) - confidence(B)|.

    ``probs`` is [..., N, C]; returns one value per leading index."""
    conf, pred = probs.max(-1)
    correct = (pred == labels).to(probs.dtype)
    # bin b holds confidences in (b/bins, (b+1)/bins]; a confidence of exactly 0 goes to bin 0
    idx = (conf * bins).ceil().long().clamp(1, bins) - 1
    shape = (*conf.shape[:-1], bins)
    def per_bin(v: torch.Tensor) -> torch.Tensor:
        return torch.zeros(shape, dtype=probs.dtype, device=probs.device).scatter_add_(-1, idx, v)

    return (per_bin(conf) - per_bin(correct)).abs().sum(-1) / conf.shape[-1]


def scores(probs: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
    """Accuracy, mean NLL and ECE of predicted probabilities [M, N, C]."""
    picked = probs.gather(-1, labels.expand(probs.shape[0], -1).unsqueeze(-1)).squeeze(-1)
    return {"acc": (probs.argmax(-1) == labels).float().mean(-1),
            "nll": -picked.clamp_min(1e-12).log().mean(-1),
            "ece": expected_calibration_error(probs, labels)}


def load_models(weights_path: Path, condition: str,
                device: torch.device) -> tuple[BatchedMLP, list[int]]:
    stub = weights_stub(weights_path)
    if stub is not None:
        raise UserError(f"{weights_path}: holds no weights ({stub}); re-run its training job "
                        f"(snakemake --forcerun {weights_path})")
    blob = torch.load(weights_path, weights_only=False)
    if blob.get("format") != MODEL_FORMAT:
        raise UserError(f"{weights_path}: saved by another version of dropout-study (weight "
                        "layout differs); re-run its training job (delete its directory)")
    rows = [r for r in blob["models"] if r["condition"] == condition and not r["diverged"]]
    if not rows:
        return None, []
    idx = [r["model_index"] for r in rows]
    seeds = [r["seed"] for r in rows]
    rates = torch.tensor([[r["rate1"], r["rate2"]] for r in rows])
    model = BatchedMLP(seeds, blob["hidden"], scheme(blob["noise"]), rates, device)
    model.load_state_dict({k: v[idx] for k, v in blob["state"].items()})
    return model, seeds


@torch.no_grad()
def compare_test_time(model: BatchedMLP, seeds: list[int], x: torch.Tensor, y: torch.Tensor,
                      passes: list[int]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Returns (per model x T: the MC-averaged scores; per model: eval mode, single passes,
    flip rate and costs)."""
    sync = (lambda: torch.cuda.synchronize()) if x.is_cuda else (lambda: None)  # noqa: E731
    model(x[:256], train=False)  # warm-up
    sync()
    t0 = time.perf_counter()
    eval_probs = torch.softmax(model(x, train=False), -1)
    sync()
    eval_seconds = time.perf_counter() - t0
    ev = scores(eval_probs, y)
    ctx = NoiseContext(ModelStreams(seeds, "test-time", x.device))
    total = torch.zeros_like(eval_probs)
    previous = None
    single_acc, flips = [], []
    mc_rows = []
    t_max = max(passes)
    stochastic_seconds = 0.0
    for t in range(1, t_max + 1):
        sync()
        t0 = time.perf_counter()
        probs = torch.softmax(model(x, train=True, ctx=ctx), -1)
        sync()
        stochastic_seconds += time.perf_counter() - t0
        pred = probs.argmax(-1)
        single_acc.append((pred == y).float().mean(-1))
        if previous is not None:
            flips.append((pred != previous).float().mean(-1))
        previous = pred
        total += probs
        if t in passes:
            mc = scores(total / t, y)
            for m, s in enumerate(seeds):
                mc_rows.append({"seed": s, "passes": t, **{k: float(v[m]) for k, v in mc.items()}})
    single = torch.stack(single_acc)  # [T, M]
    flip = torch.stack(flips) if flips else torch.full((1, len(seeds)), float("nan"))
    per_model = []
    for m, s in enumerate(seeds):
        per_model.append({
            "seed": s, "eval_acc": float(ev["acc"][m]), "eval_nll": float(ev["nll"][m]),
            "eval_ece": float(ev["ece"][m]),
            "single_acc_mean": float(single[:, m].mean()),
            "single_acc_sd": float(single[:, m].std()),
            "single_acc_min": float(single[:, m].min()),
            "single_acc_max": float(single[:, m].max()),
            "flip_rate": float(flip[:, m].mean()),
            "eval_pass_seconds": eval_seconds / len(seeds),
            "stochastic_pass_seconds": stochastic_seconds / t_max / len(seeds),
        })
    return pd.DataFrame(mc_rows), pd.DataFrame(per_model)


def run(weights: Path, condition: str, data_path: Path, passes: list[int], out: Path,
        device_name: str = "auto", models_out: Path | None = None) -> None:
    """``out``: per model and number of passes; ``models_out`` (default: beside ``out``, named
    ``<out>_models.parquet``): per model."""
    from .io import atomic_write

    device = resolve_device(device_name)
    ds = FashionMNIST.load(data_path)
    x = ds.test_images.to(device=device, dtype=torch.float32).div_(255)
    y = ds.test_labels.to(device)
    model, seeds = load_models(weights, condition, device)
    if model is None:  # no stable model of the condition, or its training job failed
        mc, per_model = pd.DataFrame(), pd.DataFrame()
    else:
        mc, per_model = compare_test_time(model, seeds, x, y, sorted(set(passes)))
        mc["condition"] = per_model["condition"] = condition
    atomic_write(models_out or out.with_name(out.stem + "_models.parquet"),
                 lambda tmp: per_model.to_parquet(tmp, index=False))
    atomic_write(out, lambda tmp: mc.to_parquet(tmp, index=False))
