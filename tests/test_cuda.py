"""On a CUDA GPU: `pytest -m cuda` (skipped where torch sees no GPU; `-m "not slow"` skips
them too). What the CPU tests cannot show:

- a seed trained alone equals the same seed inside a packed job, to float32 rounding (not to
  the bit: cuBLAS may pick another kernel for another batch count, even with
  ``deterministic: true``, whose promise is run-to-run for one shape);
- ``deterministic: true`` gives bit-identical tables across two runs;
- a pack halved after running out of memory writes the pack's tables, on the GPU;
- our dropout and ``torch.nn.Dropout`` agree: the rate of their masks (binomial bounds), the
  mean and variance of their outputs (scaled by 1/(1-p)), and a short training's accuracy
  (both kinds of random stream where they differ: rng/).

Each helper takes the device, so that they can be tried on a CPU by hand; the CPU's own run of
the first check is tests/test_train.py's.
"""

import math
import os

import pytest
import torch

from dropout_study.noise import NoiseContext, scheme
from dropout_study.rng import make_streams
from dropout_study.spec import Condition, JobSpec
from dropout_study.train import run_job

from .packs import TABLES, alone_and_packed, assert_tables_close, conditions, numbers, tables

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(),
                       reason="no CUDA device (run `pytest -m cuda` on a machine with a GPU)"),
]

DEVICE = "cuda"
# read by cuBLAS when it starts: set before any test's first GEMM (deterministic: true sets it
# too, but only once a job starts, perhaps after another test's GEMMs)
os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")


@pytest.fixture(autouse=True)
def determinism_restored():
    """``deterministic: true`` switches torch's deterministic algorithms on for the process."""
    yield
    torch.use_deterministic_algorithms(False)


def test_a_seed_alone_equals_the_same_seed_in_a_packed_job(small_dataset, tmp_path):
    _, path = small_dataset
    alone, packed = alone_and_packed(path, tmp_path, DEVICE, deterministic=True)
    for name in TABLES:
        assert_tables_close(alone[name], packed[name])


@pytest.mark.parametrize("noise", ["dropout", "additive", "dropconnect_batch"])
def test_deterministic_runs_give_bit_identical_tables(small_dataset, tmp_path, noise):
    """The hand-written step (dropout) and two autograd schemes, probes included."""
    import pandas as pd

    _, path = small_dataset
    spec = JobSpec("t", "j000", conditions(noise=noise), [0, 1], data_path=str(path),
                   device=DEVICE, deterministic=True)
    for run in ("a", "b"):
        run_job(JobSpec.from_json(spec.to_json()), tmp_path / run, progress=False)
    a, b = tables(tmp_path / "a"), tables(tmp_path / "b")
    for name in TABLES:
        assert len(a[name]) > 0
        pd.testing.assert_frame_equal(numbers(a[name]), numbers(b[name]), check_exact=True)


def test_a_pack_out_of_memory_on_the_gpu_writes_the_packs_tables(small_dataset, tmp_path,
                                                                monkeypatch):
    from dropout_study.train import FAKE_OOM

    _, path = small_dataset
    spec = JobSpec("t", "j000", conditions(), [0, 1], data_path=str(path), device=DEVICE,
                   deterministic=True)
    run_job(JobSpec.from_json(spec.to_json()), tmp_path / "pack", progress=False)
    monkeypatch.setenv(FAKE_OOM, "2")
    run_job(JobSpec.from_json(spec.to_json()), tmp_path / "halves", progress=False)
    pack, halves = tables(tmp_path / "pack"), tables(tmp_path / "halves")
    for name in TABLES:
        assert_tables_close(numbers(pack[name]), numbers(halves[name]))


def test_a_job_holds_its_gpu_while_it_trains():
    from dropout_study.device import claimed, gpu_keys, lock_dir

    with claimed(torch.device(DEVICE), log=lambda m: None) as device:
        assert device.type == "cuda" and device.index is not None
        assert torch.cuda.current_device() == device.index
        assert (lock_dir() / f"{gpu_keys()[device.index]}.lock").exists()


def mask_statistics(out: torch.Tensor, p: float) -> None:
    """Masks of one model ([B, H] outputs of an input of ones): keep rate within 5 binomial
    standard deviations of 1-p, kept units at exactly 1/(1-p), mean 1 and variance p/(1-p)
    of the output."""
    n = out.numel()
    keep = float((out != 0).float().mean())
    assert abs(keep - (1 - p)) < 5 * math.sqrt(p * (1 - p) / n), (p, keep)
    kept = out[out != 0]
    assert torch.allclose(kept, torch.full_like(kept, 1 / (1 - p)), rtol=1e-6)
    assert abs(float(out.mean()) - 1) < 5 * math.sqrt(p / (1 - p) / n)
    assert float(out.var()) == pytest.approx(p / (1 - p), rel=0.02)


def dropout_agreement(device: str, p: float, rng: str = "auto") -> tuple[torch.Tensor,
                                                                         torch.Tensor]:
    """Our dropout (4 models, each its own stream) and torch.nn.Dropout on ones [512, 1024]."""
    torch.manual_seed(0)
    h = torch.ones(4, 512, 1024, device=device)
    ctx = NoiseContext(make_streams([0, 1, 2, 3], "noise", device, rng))
    ours = scheme("dropout").train(h, torch.full((4,), p, device=device), ctx)
    theirs = torch.nn.Dropout(p).train()(h)
    return ours, theirs


@pytest.mark.parametrize("rng", ["generator", "counter"])
@pytest.mark.parametrize("p", [0.2, 0.5, 0.8])
def test_our_dropout_and_torch_dropout_agree(p, rng):
    ours, theirs = dropout_agreement(DEVICE, p, rng)
    for m in range(4):
        mask_statistics(ours[m], p)
        mask_statistics(theirs[m], p)
    n = ours.numel()
    gap = float((ours != 0).float().mean() - (theirs != 0).float().mean())
    assert abs(gap) < 5 * math.sqrt(2 * p * (1 - p) / n)
    assert not torch.equal(ours[0], ours[1])  # each model its own masks


@pytest.mark.parametrize("rng", ["generator", "counter"])
def test_torch_dropout_draws_a_models_masks_from_its_own_stream_on_the_gpu(rng):
    """The sanity exercise's `torch_dropout` feeds torch's kernel from each model's stream:
    model 1 of a batch draws what it draws alone (both kinds of stream)."""
    h = torch.ones(3, 64, 256, device=DEVICE)
    rate = torch.full((3,), 0.5, device=DEVICE)
    batch = scheme("torch_dropout").train(
        h, rate, NoiseContext(make_streams([0, 1, 2], "noise", DEVICE, rng)))
    alone = scheme("torch_dropout").train(
        h[:1], rate[:1], NoiseContext(make_streams([1], "noise", DEVICE, rng)))
    assert torch.equal(batch[1], alone[0]) and not torch.equal(batch[0], batch[1])


def short_training_gap(device: str, data, seeds=tuple(range(8)), epochs: int = 10) -> float:
    """Mean over seeds of test accuracy (ours - torch's) after a short training at the
    reference rates (lr 0.1, minibatches of 64), paired by seed: the same init and minibatch
    order, other masks."""
    from dropout_study.train import Trainer, evaluate

    accuracy = []
    for noise in ("dropout", "torch_dropout"):  # two schemes: two jobs
        cond = Condition("t", noise, noise=noise, rates=(0.2, 0.5), lr=0.1, batch_size=64,
                         epochs=epochs)
        t = Trainer(JobSpec("t", "j000", [cond], list(seeds), device=device), data,
                    torch.device(device))
        for epoch in range(1, epochs + 1):
            t.train_epoch(epoch)
        accuracy.append(evaluate(t.model, data.test)[1].cpu())
    return float((accuracy[0] - accuracy[1]).mean())


def test_our_dropout_and_torch_dropout_train_to_the_same_accuracy(small_dataset):
    """1 024 training images, 10 epochs, 8 seeds: the paired mean accuracy gap is within 3
    points. Measured on a CPU with the same code: accuracies about 0.70; with the per-model
    generators a gap of +0.39 points, seed-to-seed spread 0.62 (standard error 0.22); with
    the counter streams (CUDA's default) -0.47 points, spread 1.16 (standard error 0.41):
    3 points is over 7 standard errors."""
    from dropout_study.train import DeviceData

    ds, _ = small_dataset
    data = DeviceData.from_dataset(ds, torch.device(DEVICE))
    assert abs(short_training_gap(DEVICE, data)) < 0.03
