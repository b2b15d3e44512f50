"""The bench's honest FLOP count, checked against what torch dispatches, and its result."""

import argparse
import json

import pytest
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from dropout_study import bench as bm
from dropout_study import cli
from dropout_study.model import BatchedMLP
from dropout_study.noise import NoiseContext, scheme
from dropout_study.rng import ModelStreams

CPU = torch.device("cpu")
MODELS, BATCH, HIDDEN = 3, 8, 16
SIZES = [784, HIDDEN, HIDDEN, 10]
LAYERS = list(zip(SIZES[:-1], SIZES[1:], strict=True))
# One product of every layer, per model and image: forward, weight gradient, input gradient
FORWARD = sum(2 * i * o for i, o in LAYERS)
INPUTS = sum(2 * i * o for i, o in LAYERS[1:])  # no input gradient for the first layer
BADDBMM, BADDBMM_, BMM = (torch.ops.aten.baddbmm, torch.ops.aten.baddbmm_, torch.ops.aten.bmm)


def test_the_count_of_a_small_net_by_hand():
    # [3, 2, 1]: forward 2·(3·2 + 2·1) = 16, weight gradients 16, the second layer's input
    # gradient 2·2·1 = 4
    assert bm.step_flops_per_image([3, 2, 1]) == 36
    assert bm.flops_per_model_epoch(10, [3, 2, 1]) == 360


def test_the_reference_models_count_is_a_third_below_six_flops_per_parameter():
    per_image = bm.step_flops_per_image(bm.layer_sizes())
    # 268 800 weights (784·256 + 256·256 + 256·10): forward 2·268 800, weight gradients the
    # same, input gradients of layers 2 and 3 2·(256·256 + 256·10)
    assert per_image == 4 * 268_800 + 2 * 68_096 == 1_211_392
    assert bm.flops_per_model_epoch(59_904) == 59_904 * 1_211_392
    # the old count, 6 FLOPs per parameter (biases too), was a third too high
    assert bm.PARAMS == 269_322
    assert 6 * bm.PARAMS / per_image == pytest.approx(1.3339, abs=1e-4)


def small_model() -> tuple[BatchedMLP, torch.Tensor, torch.Tensor, NoiseContext]:
    seeds = list(range(MODELS))
    rates = torch.tensor([[0.2, 0.5]] * MODELS)
    model = BatchedMLP(seeds, HIDDEN, scheme("dropout"), rates, CPU)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(MODELS, BATCH, 784, generator=g)
    y = torch.randint(0, 10, (MODELS, BATCH), generator=g)
    return model, x, y, NoiseContext(ModelStreams(seeds, "noise", CPU))


def batched_product_flops(self_shape, a_shape, b_shape, *args, out_shape=None, **kwargs):
    """baddbmm's count, 2·b·m·k·n for [b, m, k] @ [b, k, n] (the added term is not counted)."""
    b, m, k = a_shape
    return 2 * b * m * k * b_shape[2]


def counted(step) -> dict:
    """The matmul FLOPs torch's FlopCounterMode sees ``step`` dispatch, per operator. Its
    registry has no formula for the in-place ``baddbmm_`` (the hand-written step's weight
    updates, W += g^T x): it is given baddbmm's, the same product."""
    mapping = {BADDBMM_: batched_product_flops}
    with FlopCounterMode(display=False, custom_mapping=mapping) as fc:
        step()
    return {op: n for op, n in fc.get_flop_counts()["Global"].items() if n}


def test_the_count_is_what_the_hand_written_step_dispatches():
    model, x, y, ctx = small_model()
    assert model.has_fused_step
    step = torch.full((MODELS, 1, 1), -0.1 / BATCH)
    ops = counted(lambda: model.sgd_step(x, y, ctx, step, None))
    n = MODELS * BATCH
    assert ops == {BADDBMM: n * FORWARD, BADDBMM_: n * FORWARD, BMM: n * INPUTS}
    assert sum(ops.values()) == n * bm.step_flops_per_image(SIZES)


def test_the_autograd_step_dispatches_the_same_count():
    """Autograd does the same products (its input x needs no gradient, so the first layer's
    is skipped there too); only the weight gradients come from bmm, not an in-place
    baddbmm_."""
    model, x, y, ctx = small_model()

    def step():
        logits = model(x, train=True, ctx=ctx)
        loss = F.cross_entropy(logits.transpose(1, 2), y, reduction="none").mean(1).sum()
        torch.autograd.grad(loss, model.params)

    ops = counted(step)
    n = MODELS * BATCH
    assert ops == {BADDBMM: n * FORWARD, BMM: n * (FORWARD + INPUTS)}
    assert sum(ops.values()) == n * bm.step_flops_per_image(SIZES)


def test_the_peak_is_measured_on_the_steps_own_products():
    shapes = bm.step_shapes(10)
    assert len(shapes) == 8  # 3 forward, 3 weight gradients, 2 input gradients
    assert sum(s.flops for s in shapes) == 10 * bm.BATCH * bm.step_flops_per_image(
        bm.layer_sizes())
    assert "forward 10x[256x784]@[784x256]" in [s.label for s in shapes]
    for s in bm.step_shapes(2, batch=4, sizes=[12, 6, 5, 3]):
        out = bm._product(s, CPU)()
        assert out.shape == (s.batch, s.m, s.n), s.label
    assert bm._product(bm.MatmulShape(1, 6, 4, 5), CPU)().shape == (6, 5)


def test_the_peak_is_the_best_rate_over_the_products_tried():
    shapes = [bm.MatmulShape(1, 32, 32, 32), bm.MatmulShape(2, 8, 16, 4, "forward")]
    peak = bm.peak_matmul(CPU, shapes, repeats=2)
    assert list(peak.rates) == ["32x32x32", "forward 2x[8x16]@[16x4]"]
    assert all(r > 0 and r < float("inf") for r in peak.rates.values())
    assert peak.flops == max(peak.rates.values())
    assert peak.rates[peak.shape] == peak.flops
    merged = bm.Peak({"a": 1.0, "b": 5.0}).merged(bm.Peak({"a": 3.0, "c": 2.0}))
    assert merged.rates == {"a": 3.0, "b": 5.0, "c": 2.0}
    assert (merged.flops, merged.shape) == (5.0, "b")


def test_the_result_puts_the_flops_really_done_against_the_peak():
    batched = bm.Batched(seconds=0.5, images=60_000, trained=59_904)
    peak = bm.Peak({"2048x2048x2048": 2e11, "forward 10x[256x784]@[784x256]": 1e11})
    r = bm.summary("cpu", 10, 2, batched, 5.0, peak)
    flops = 59_904 * 1_211_392
    assert r["flops_per_model_epoch"] == flops
    assert r["achieved_flops"] == round(flops / 0.5)
    assert (r["peak_flops"], r["peak_shape"]) == (200_000_000_000, "2048x2048x2048")
    assert r["fraction_of_peak"] == round(flops / 0.5 / 2e11, 3) == 0.726
    assert r["roofline_seconds_per_model_epoch"] == round(flops / 2e11, 4)
    assert r["roofline_fraction"] == r["fraction_of_peak"]
    assert r["speedup"] == 10.0 and r["images"] == 60_000 and r["images_per_epoch"] == 59_904
    json.dumps(r)  # the result is JSON as it stands


def test_bench_writes_its_result_as_json_where_asked(tmp_path, monkeypatch, capsys):
    result = {"device": "cpu (test)", "flops_per_model_epoch": 7, "fraction_of_peak": 0.5}
    seen = {}

    def fake(device, seeds, epochs, reference_epochs, data_dir):
        seen.update(device=device, seeds=seeds, epochs=epochs)
        return result

    monkeypatch.setattr(bm, "bench", fake)
    out = tmp_path / "sub" / "bench.json"
    assert cli.main(["bench", "--device", "cpu", "--seeds", "3", "--json", str(out)]) == 0
    assert seen == {"device": "cpu", "seeds": 3, "epochs": 2}
    assert json.loads(out.read_text()) == result
    printed = capsys.readouterr().out.strip().splitlines()
    assert json.loads(printed[-1]) == result  # the last line stays the JSON
    assert "flops_per_model_epoch: 7" in printed[1]


def test_every_command_line_option_has_help():
    sub = next(a for a in cli.parser()._actions if isinstance(a, argparse._SubParsersAction))
    assert {"bench", "compare"} <= set(sub.choices)
    missing = [f"{name} {a.dest}" for name, p in sub.choices.items() for a in p._actions
               if not isinstance(a, argparse._HelpAction) and not a.help]
    assert missing == []
