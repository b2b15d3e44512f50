import json
import math

import pandas as pd
import pytest
import torch

from dropout_study.noise import NoiseContext
from dropout_study.spec import Condition, JobSpec
from dropout_study.train import DeviceData, Trainer, activation_stats, run_job


@pytest.fixture(scope="module")
def data(small_dataset):
    ds, _ = small_dataset
    return DeviceData.from_dataset(ds, torch.device("cpu"))


def cond(name="c", **kw):
    kw.setdefault("epochs", 1)
    return Condition("t", name, **kw)


def trainer(data, conds, seeds, **kw):
    return Trainer(JobSpec("t", "j000", conds, seeds, **kw), data, torch.device("cpu"))


def test_a_seed_trained_alone_equals_the_same_seed_inside_a_batch(data):
    alone = trainer(data, [cond(rates=(0.2, 0.5))], [3])
    batch = trainer(data, [cond("a", rates=(0.5, 0.5)), cond("b", rates=(0.2, 0.5))], [1, 2, 3])
    alone.train_epoch(1)
    batch.train_epoch(1)  # 4 steps of 256 on 1024 images, with dropout masks
    m = batch.spec.models.index((batch.spec.conditions[1], 3))
    for wa, wb in zip(alone.model.params, batch.model.params, strict=True):
        assert torch.allclose(wa[0], wb[m], atol=1e-5, rtol=1e-4)


def test_exact_dropconnect_trains_a_seed_alone_as_inside_a_batch(data):
    """Per-example weight masks come from each model's own noise stream: a seed trained with
    other conditions and seeds moves exactly as it does alone (paired by seed)."""
    alone = trainer(data, [cond(noise="dropconnect", rates=(0.5, 0.5))], [2])
    batch = trainer(data, [cond("a", noise="dropconnect", rates=(0.2, 0.2)),
                           cond("b", noise="dropconnect", rates=(0.5, 0.5))], [1, 2])
    start = [p.detach().clone() for p in alone.model.params]
    alone.train_epoch(1)
    batch.train_epoch(1)
    m = batch.spec.models.index((batch.spec.conditions[1], 2))
    for wa, wb, w0 in zip(alone.model.params, batch.model.params, start, strict=True):
        assert torch.allclose(wa[0], wb[m], atol=1e-5, rtol=1e-4)
        assert not torch.allclose(wa[0], w0[0])


def test_seed_fixes_init_and_order_across_conditions(data):
    t = trainer(data, [cond("a", rates=(0.0, 0.0)), cond("b", rates=(0.5, 0.5))], [7, 8])
    w0 = t.model.weights[0]
    assert torch.equal(w0[0], w0[2]) and not torch.equal(w0[0], w0[1])  # (a,7) == (b,7)
    perms = [torch.randperm(10, generator=g) for g in t.order]
    assert torch.equal(perms[0], perms[2]) and not torch.equal(perms[0], perms[1])


def test_weight_decay_applies_to_weights_not_biases(data):
    t = trainer(data, [cond("plain", rates=(0.0, 0.0)),
                       cond("decay", rates=(0.0, 0.0), weight_decay=0.1)], [0])
    before = [p.detach().clone() for p in t.model.params]
    x, y = data.train.x[:64].expand(2, -1, -1), data.train.y[:64].expand(2, -1)
    logits = t.model(x, train=True, ctx=NoiseContext(t.noise_streams))
    loss = torch.nn.functional.cross_entropy(logits.transpose(1, 2), y,
                                             reduction="none").mean(1).sum()
    grads = torch.autograd.grad(loss, t.model.params)
    t._sgd_step(grads)
    for w, w_before, g in zip(t.model.weights, before, grads, strict=False):
        assert torch.allclose(w[0], w_before[0] - 0.5 * g[0])
        assert torch.allclose(w[1], w_before[1] - 0.5 * (g[1] + 0.1 * w_before[1]))
    for b in t.model.biases:  # same grads (same init, same batch) and no decay: equal biases
        assert torch.equal(b[0], b[1])


def test_divergence_is_recorded_not_raised(data, tmp_path, small_dataset):
    _, path = small_dataset
    spec = JobSpec("t", "j000", [cond("wild", rates=(0.0, 0.0), lr=1e4, epochs=2),
                                 cond("tame", rates=(0.0, 0.0), lr=0.5, epochs=2)], [0],
                   data_path=str(path), device="cpu")
    run_job(spec, tmp_path, progress=False)
    runs = pd.read_parquet(tmp_path / "runs.parquet").set_index("condition")
    metrics = pd.read_parquet(tmp_path / "metrics.parquet")
    assert runs.loc["wild", "diverged"] and runs.loc["wild", "diverged_epoch"] == 1
    assert not runs.loc["tame", "diverged"]
    wild = metrics[metrics["condition"] == "wild"]
    assert wild["test_acc"].isna().all() and wild["diverged"].all() and len(wild) == 2
    assert metrics.loc[metrics["condition"] == "tame", "test_acc"].notna().all()


def test_activation_statistics_match_a_hand_computation(data):
    t = trainer(data, [cond(rates=(0.0, 0.0))], [0])
    probe = data.probe[:8]
    s = activation_stats(t.model, probe, t.probe_streams)
    w, b = t.model.weights[0][0].detach(), t.model.biases[0][0].detach()  # [out, in]
    h1 = torch.relu(probe @ w.T + b)
    h2 = torch.relu(h1 @ t.model.weights[1][0].detach().T + t.model.biases[1][0].detach())
    for layer, h in ((0, h1), (1, h2)):
        flat = h.flatten().double()
        assert float(s["mean_pre"][0, layer]) == pytest.approx(float(flat.mean()), rel=1e-5)
        assert float(s["var_pre"][0, layer]) == pytest.approx(
            float(((flat - flat.mean()) ** 2).mean()), rel=1e-4)
        assert float(s["var_eval"][0, layer]) == pytest.approx(float(s["var_pre"][0, layer]))


def test_closed_form_post_mask_variance_matches_monte_carlo(data):
    t = trainer(data, [cond(rates=(0.5, 0.2))], [0, 1])
    p = t.model.rates
    measured, predicted = torch.zeros(2, 2), torch.zeros(2, 2)
    for _ in range(100):  # one mask draw leaves ~3% sampling error; 100 draws leave ~0.3%
        s = activation_stats(t.model, data.probe, t.probe_streams)
        measured += s["var_post"]
        predicted += (s["var_pre"] + p * s["mean_pre"] ** 2) / (1 - p)
    ratio = measured / predicted
    assert torch.allclose(ratio, torch.ones_like(ratio), atol=0.01), ratio
    # and the formula is not trivially satisfied: the mask really raises the variance
    assert (predicted > 1.2 * s["var_pre"] * 100).all()


def test_resume_from_checkpoint_gives_identical_numbers(small_dataset, tmp_path):
    _, path = small_dataset
    spec = JobSpec("t", "j000", [cond(rates=(0.2, 0.5), epochs=4, checkpoint_every=1,
                                      probe=True)], [0, 1], data_path=str(path), device="cpu")
    run_job(spec, tmp_path / "straight", progress=False)

    # Interrupt after epoch 2 (the checkpoint written at its end), then resume in a new trainer.
    from dropout_study.data import FashionMNIST

    data = DeviceData.from_dataset(FashionMNIST.load(path), torch.device("cpu"))
    first = Trainer(spec, data, torch.device("cpu"))

    class Stop(Exception):
        pass

    calls = {"n": 0}
    original = first.checkpoint

    def checkpoint_then_stop(p):
        original(p)
        calls["n"] += 1
        if calls["n"] == 2:
            raise Stop

    first.checkpoint = checkpoint_then_stop
    with pytest.raises(Stop):
        first.run(tmp_path / "resumed")
    assert (tmp_path / "resumed" / "checkpoint.pt").exists()
    assert not (tmp_path / "resumed" / "metrics.parquet").exists()
    Trainer(spec, data, torch.device("cpu")).run(tmp_path / "resumed")
    for name in ("metrics", "activations"):
        a = pd.read_parquet(tmp_path / "straight" / f"{name}.parquet")
        b = pd.read_parquet(tmp_path / "resumed" / f"{name}.parquet")
        drop = [c for c in a.columns if "seconds" in c]
        pd.testing.assert_frame_equal(a.drop(columns=drop), b.drop(columns=drop))
    assert not (tmp_path / "resumed" / "checkpoint.pt").exists()


def test_a_killed_training_process_resumes_to_the_same_numbers(small_dataset, tmp_path):
    """SIGKILL a real ``dropout-study train`` process once it has checkpointed an epoch, run
    the same command again, and compare with an uninterrupted run."""
    import signal
    import subprocess
    import sys
    import time

    _, path = small_dataset
    spec = JobSpec("t", "j000", [cond(rates=(0.2, 0.5), epochs=40, checkpoint_every=1,
                                      probe=True)], [0, 1], data_path=str(path), device="cpu")
    run_job(JobSpec.from_json(spec.to_json()), tmp_path / "straight", progress=False)

    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "dropout_study.cli", "train", "--spec-json", spec.to_json(),
           "--out", str(out), "--no-progress"]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    ckpt = out / "checkpoint.pt"
    deadline = time.monotonic() + 120
    while not ckpt.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the job finished before it could be killed"
    assert not (out / "metrics.parquet").exists()
    killed_at = torch.load(ckpt, weights_only=False)["state"]["epoch"]
    assert 1 <= killed_at < 40

    again = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-2000:]
    assert f"at epoch {killed_at}" in again.stderr  # it resumed, not restarted
    for name in ("metrics", "activations", "runs"):
        a = pd.read_parquet(tmp_path / "straight" / f"{name}.parquet")
        b = pd.read_parquet(out / f"{name}.parquet")
        drop = [c for c in a.columns if "seconds" in c]
        pd.testing.assert_frame_equal(a.drop(columns=drop), b.drop(columns=drop),
                                      check_exact=True)


def test_training_learns(small_dataset, tmp_path):
    _, path = small_dataset
    spec = JobSpec("t", "j000", [cond(rates=(0.2, 0.5), epochs=6)], [0, 1],
                   data_path=str(path), device="cpu")
    run_job(spec, tmp_path, progress=False)
    m = pd.read_parquet(tmp_path / "metrics.parquet")
    first, last = m[m["epoch"] == 1], m[m["epoch"] == 6]
    # 1024 images, 24 steps at lr 0.5 (a bumpy ride: 12 steps were not always enough)
    assert (last["test_acc"] > 0.25).all()  # chance is 0.1
    assert last["train_loss"].mean() < first["train_loss"].mean() - 0.3
    assert math.isclose(m["models_in_job"].iloc[0], 2)


def test_same_spec_gives_bit_identical_tables_on_cpu(small_dataset, tmp_path):
    _, path = small_dataset
    spec = JobSpec("t", "j000", [cond(rates=(0.2, 0.5), epochs=2, probe=True)], [0, 1],
                   data_path=str(path), device="cpu")
    for name in ("a", "b"):
        run_job(JobSpec.from_json(spec.to_json()), tmp_path / name, progress=False)
    for table in ("metrics", "activations", "runs"):
        a = pd.read_parquet(tmp_path / "a" / f"{table}.parquet")
        b = pd.read_parquet(tmp_path / "b" / f"{table}.parquet")
        timing = [c for c in a.columns if "seconds" in c]
        pd.testing.assert_frame_equal(a.drop(columns=timing), b.drop(columns=timing),
                                      check_exact=True)


def test_batched_linear_gradients_are_those_of_x_wT_plus_b():
    from dropout_study.model import BatchedLinear

    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 5, 4, generator=g, dtype=torch.float64, requires_grad=True)
    w = torch.randn(3, 2, 4, generator=g, dtype=torch.float64, requires_grad=True)
    b = torch.randn(3, 1, 2, generator=g, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(BatchedLinear.apply, (x, w, b))
    # and without an input gradient (the first layer): same weight and bias gradients
    out = BatchedLinear.apply(x.detach(), w, b)
    ref = x.detach() @ w.transpose(1, 2) + b
    torch.testing.assert_close(out, ref)
    gw, gb = torch.autograd.grad(out.square().sum(), (w, b))
    rw, rb = torch.autograd.grad(ref.square().sum(), (w, b))
    torch.testing.assert_close(gw, rw)
    torch.testing.assert_close(gb, rb)


@pytest.mark.parametrize("noise", ["none", "dropout", "dropout_vanilla", "gaussian", "ternary",
                                   "annealed_dropout"])
def test_hand_written_step_equals_the_autograd_step(data, noise):
    """The fused forward/backward (``BatchedMLP.sgd_step``) against autograd, from the same
    state and the same noise draws, with decay and a short last batch (drop_last off)."""
    conds = [cond("a", noise=noise, rates=(0.2, 0.5), weight_decay=1e-3, drop_last=False,
                  batch_size=300),
             cond("b", noise=noise, rates=(0.5, 0.1), lr=0.1, drop_last=False, batch_size=300)]
    fused, plain = trainer(data, conds, [0, 1]), trainer(data, conds, [0, 1])
    plain.fused = False
    assert fused.model.has_fused_step
    start = [p.detach().clone() for p in plain.model.params]
    loss_f, acc_f = fused.train_epoch(1)  # 1024 images: 3 steps of 300 and one of 124
    loss_p, acc_p = plain.train_epoch(1)
    assert torch.allclose(loss_f, loss_p, rtol=1e-4) and torch.equal(acc_f, acc_p)
    for pf, pp, p0 in zip(fused.model.params, plain.model.params, start, strict=True):
        assert torch.allclose(pf, pp, atol=1e-5, rtol=1e-4)
        assert not torch.allclose(pf, p0, atol=1e-4)  # both moved


def test_schemes_outside_the_hand_written_step_train_through_autograd(data):
    for noise in ("additive", "torch_dropout", "dropconnect", "dropconnect_gaussian",
                  "dropconnect_batch"):
        assert not trainer(data, [cond(noise=noise)], [0]).model.has_fused_step, noise


def test_a_seed_gives_the_same_numbers_in_a_partial_block_and_in_the_full_one(small_dataset,
                                                                               tmp_path):
    """Adding seeds retrains a partial seed block (seeds 2 of 2-3) as the full one: the seeds
    it held before keep their numbers, bit for bit (each seed has its own random streams)."""
    _, path = small_dataset
    conds = [cond("a", rates=(0.2, 0.5), epochs=2, probe=True),
             cond("b", rates=(0.5, 0.5), epochs=2, probe=True)]
    for name, seeds in (("part", [2]), ("full", [2, 3])):
        run_job(JobSpec("t", name, conds, seeds, data_path=str(path), device="cpu"),
                tmp_path / name, progress=False)
    for table in ("metrics", "activations", "runs"):
        part = pd.read_parquet(tmp_path / "part" / f"{table}.parquet")
        full = pd.read_parquet(tmp_path / "full" / f"{table}.parquet")
        full = full[full["seed"] == 2].reset_index(drop=True)
        drop = [c for c in part.columns
                if "seconds" in c or c in ("job", "model_index", "models_in_job")]
        assert len(part) == len(full) > 0
        pd.testing.assert_frame_equal(part.drop(columns=drop), full.drop(columns=drop),
                                      check_exact=True)


@pytest.mark.parametrize("rng", ["auto", "counter"])  # the CPU's streams, and CUDA's
def test_a_seed_alone_equals_the_same_seed_in_a_packed_job_on_cpu(small_dataset, tmp_path,
                                                                   rng):
    """The CPU run of tests/test_cuda.py's check: every table row of (condition b, seed 1),
    trained alone and among three conditions x three seeds, has the same numbers to float32
    rounding. Not to the bit: a pack of one model takes another MKL path in the output
    layer's weight update (measured: an in-place batched GEMM of batch 1 differs from the
    same slice of a larger batch), ~1e-7 after two epochs; packs of two or more models agree
    to the bit (the next test, and the seed-block test above)."""
    from .packs import TABLES, alone_and_packed, assert_tables_close

    _, path = small_dataset
    alone, packed = alone_and_packed(path, tmp_path, "cpu", rng=rng)
    for name in TABLES:
        assert_tables_close(alone[name], packed[name])


@pytest.mark.parametrize("limit, exact, rng", [(2, True, "auto"), (1, False, "auto"),
                                               (2, True, "counter")])
def test_a_pack_out_of_gpu_memory_trains_in_halves_and_writes_the_same_tables(
        small_dataset, tmp_path, monkeypatch, caplog, limit, exact, rng):
    """A pack of 8 models that 'runs out of GPU memory' (injected: more than ``limit`` models
    at once raise torch.cuda.OutOfMemoryError in the last epoch, after a checkpoint) is
    trained in halves, 4 + 4, each halved again down to ``limit``; its tables and weights are
    those of the pack, row for row: to the bit with halves of 2, to float32 rounding with
    halves of one model (another BLAS path: see the test above). Also with the counter
    streams, CUDA's default."""
    import dataclasses
    import logging

    from dropout_study.train import FAKE_OOM

    from .packs import TABLES, assert_tables_close, conditions, numbers, tables

    _, path = small_dataset
    conds = [dataclasses.replace(c, save_weights=True, checkpoint_every=1)
             for c in conditions()]
    spec = JobSpec("t", "j000", conds, [0, 1], data_path=str(path), device="cpu", rng=rng)
    run_job(JobSpec.from_json(spec.to_json()), tmp_path / "pack", progress=False)
    monkeypatch.setenv(FAKE_OOM, str(limit))
    with caplog.at_level(logging.WARNING, logger="dropout_study.train"):
        run_job(JobSpec.from_json(spec.to_json()), tmp_path / "halves", progress=False)
    halved = [r.getMessage() for r in caplog.records if "halved" in r.getMessage()]
    assert len(halved) == {2: 3, 1: 7}[limit], halved
    assert "out of GPU memory training 8 models at once" in halved[0]
    assert "halved: models 0-3, then 4-7" in halved[0]
    pack, halves = tables(tmp_path / "pack"), tables(tmp_path / "halves")
    for name in TABLES:
        if exact:
            assert len(pack[name]) > 0
            pd.testing.assert_frame_equal(numbers(pack[name]), numbers(halves[name]),
                                          check_exact=True)
        else:
            assert_tables_close(numbers(pack[name]), numbers(halves[name]))
    assert list(halves["runs"]["model_index"]) == list(range(8))
    assert (halves["metrics"]["models_in_job"] == 8).all()
    a, b = (torch.load(tmp_path / d / "weights.pt", weights_only=False) for d in ("pack",
                                                                                   "halves"))
    assert a["state"].keys() == b["state"].keys()
    for k in a["state"]:
        assert a["state"][k].shape == b["state"][k].shape
        # a rounding difference that flips one example's ReLU gate moves a weight by ~1e-5
        same = torch.equal if exact else lambda x, y: torch.allclose(x, y, atol=2e-4)
        assert same(a["state"][k], b["state"][k]), k
    assert [m["seed"] for m in a["models"]] == [m["seed"] for m in b["models"]]
    assert json.loads((tmp_path / "halves" / "job.json").read_text())["models"] == 8
    assert not list((tmp_path / "halves").glob("checkpoint*"))  # the pack's and the parts'


def test_a_single_model_out_of_memory_fails_as_it_would_alone(small_dataset, tmp_path,
                                                               monkeypatch):
    from dropout_study.train import FAKE_OOM

    _, path = small_dataset
    monkeypatch.setenv(FAKE_OOM, "0")
    spec = JobSpec("t", "j000", [cond(rates=(0.2, 0.5))], [0, 1], data_path=str(path),
                   device="cpu")
    with pytest.raises(torch.cuda.OutOfMemoryError, match="1 models are too many"):
        run_job(spec, tmp_path, progress=False)
