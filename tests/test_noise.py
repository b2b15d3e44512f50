import math

import pytest
import torch

from dropout_study.noise import SCHEMES, DropConnect, NoiseContext, scheme
from dropout_study.rng import ModelStreams


def ctx(m=1, seed0=0, progress=0.0):
    return NoiseContext(ModelStreams(list(range(seed0, seed0 + m)), "noise"), progress)


def test_dropout_drop_fraction_within_binomial_bounds():
    p, n = 0.3, 200_000
    h = torch.ones(1, 1, n)
    out = scheme("dropout").train(h, torch.tensor([p]), ctx())
    dropped = int((out == 0).sum())
    sd = math.sqrt(n * p * (1 - p))
    assert abs(dropped - n * p) < 5 * sd
    kept = out[out != 0]
    assert torch.allclose(kept, torch.full_like(kept, 1 / (1 - p)))


def test_dropout_rates_are_per_model():
    h = torch.ones(3, 1, 50_000)
    out = scheme("dropout").train(h, torch.tensor([0.0, 0.5, 0.9]), ctx(3))
    frac = (out == 0).float().mean(dim=(1, 2))
    assert frac[0] == 0
    assert abs(frac[1] - 0.5) < 0.02 and abs(frac[2] - 0.9) < 0.02


@pytest.mark.parametrize("width, slots", [(16, 3), (8, 8)])
@pytest.mark.parametrize("shape", [(300, 8), (301, 7), (300, 11)])  # 3 and 8 | n, or not
def test_keep_masks_are_bernoulli_in_every_slot(shape, width, slots):
    """Each 64-bit draw feeds three 16-bit mask entries, or eight 8-bit ones: every slot (and
    each model) must keep with probability keep (rounded to 1/256 at 8 bits), the masks of two
    models must differ, and a kept entry carries the model's value."""
    keep = torch.tensor([0.8, 0.3])
    streams, draws = ModelStreams([0, 1], "noise"), 200
    masks = torch.stack([streams.keep_mask(shape, keep, width=width) for _ in range(draws)])
    assert masks.shape == (draws, 2, *shape) and set(masks.unique().tolist()) == {0.0, 1.0}
    flat = masks.flatten(2)  # [draws, M, n]
    n = flat.shape[2] // slots * slots
    for m, k in enumerate(keep.tolist()):  # whichever way the slots are laid out
        k = round(k * 2 ** width) / 2 ** width
        parts = [*flat[:, m, :n].chunk(slots, dim=1),
                 *(flat[:, m, s:n:slots] for s in range(slots))]
        for i, part in enumerate(parts):
            bound = 5 * math.sqrt(k * (1 - k) / part.numel())
            assert abs(part.mean() - k) < bound, (m, i, part.mean())
    assert not torch.equal(masks[:, 0], masks[:, 1])
    assert (streams.keep_mask(shape, torch.tensor([1.0, 1.0]), torch.tensor([2.0, 3.0]),
                              width=width) == torch.tensor([2.0, 3.0]).view(2, 1, 1)).all()


ACTIVATION = [n for n, c in SCHEMES.items() if c.target == "activation" and n != "none"]


@pytest.mark.parametrize("name", ACTIVATION)
@pytest.mark.parametrize("rate", [0.2, 0.5])
def test_activation_noise_keeps_the_expectation(name, rate):
    torch.manual_seed(0)
    h = torch.rand(1, 64, 128) * 3
    draws = 400
    s = scheme(name)
    c = ctx(seed0=11)
    total = torch.zeros_like(h)
    for _ in range(draws):
        total += s.train(h, torch.tensor([rate]), c)
    mean = total / draws
    expected = s.eval(h, torch.tensor([rate]))  # what the test-time network uses
    if name == "additive":
        var = (rate * h.std()) ** 2 * torch.ones_like(h)
    else:
        var = max(s.multiplicative_variance(rate), 1e-3) * h ** 2 + 1e-6
        if name == "dropout_vanilla":  # E = (1-p) h, Var = p (1-p) h^2
            var = rate * (1 - rate) * h ** 2 + 1e-6
        if name == "annealed_dropout":  # progress 0: plain dropout
            var = rate / (1 - rate) * h ** 2 + 1e-6
    z = (mean - expected) / torch.sqrt(var / draws)
    # z is ~N(0,1) per element; a bias of even 2% would push |mean z| far off zero.
    assert z.mean().abs() < 0.05 and z.std() < 1.2, (name, z.mean(), z.std())


@pytest.mark.parametrize("name", [n for n in ACTIVATION if n != "dropout_vanilla"])
def test_noise_is_identity_in_eval_mode(name):
    h = torch.randn(2, 8, 16)
    assert torch.equal(scheme(name).eval(h, torch.tensor([0.5, 0.2])), h)


def test_vanilla_dropout_scales_at_test_time():
    h = torch.ones(1, 2, 3)
    assert torch.allclose(scheme("dropout_vanilla").eval(h, torch.tensor([0.2])), 0.8 * h)


def test_torch_dropout_uses_each_models_stream_and_matches_dropout_statistics():
    h = torch.ones(2, 1, 100_000)
    a = scheme("torch_dropout").train(h, torch.tensor([0.5, 0.5]), ctx(2))
    b = scheme("torch_dropout").train(h, torch.tensor([0.5, 0.5]), ctx(2))
    assert torch.equal(a, b)  # reproducible from the streams, not the global RNG
    assert not torch.equal(a[0], a[1])
    assert abs(float((a == 0).float().mean()) - 0.5) < 0.01
    assert set(torch.unique(a).tolist()) == {0.0, 2.0}


def test_ternary_values_and_probabilities():
    a = 0.4
    out = scheme("ternary").train(torch.ones(1, 1, 300_000), torch.tensor([a]), ctx())
    gamma = 4 / (3 * (1 - a))
    values, counts = torch.unique(out, return_counts=True)
    assert torch.allclose(values, torch.tensor([0.0, gamma / 2, gamma]))
    freq = counts.float() / out.numel()
    assert torch.allclose(freq, torch.tensor([a, (1 - a) / 2, (1 - a) / 2]), atol=0.005)


@pytest.mark.parametrize("name", ["dropconnect", "dropconnect_gaussian", "dropconnect_batch"])
def test_weight_noise_keeps_expected_preactivation(name):
    torch.manual_seed(1)
    x, w, b = torch.rand(1, 32, 256), torch.randn(1, 256, 16) / 16, torch.randn(1, 1, 16)
    s, c, p, draws = scheme(name), ctx(seed0=5), 0.5, 600
    total = sum(s.linear(x, w, b, torch.tensor([p]), c) for _ in range(draws))
    exact = torch.baddbmm(b, x, w)
    sd = torch.sqrt(torch.bmm(x * x, w * w) * p / (1 - p))
    z = (total / draws - exact) / (sd / math.sqrt(draws))
    # each z is ~N(0,1). With one mask per minibatch the 32 rows of a column share their
    # masks, so only the 16 columns are independent: the mean of z has sd <= 1/sqrt(16) there,
    # against 1/sqrt(512) for a fresh mask per example. Five sd either way.
    independent = 16 if name == "dropconnect_batch" else 32 * 16
    assert z.abs().max() < 5 and z.mean().abs() < 5 / math.sqrt(independent), \
        (z.mean(), z.abs().max())


@pytest.mark.parametrize("name", ["dropconnect", "dropconnect_gaussian", "dropconnect_batch"])
def test_weight_noise_at_rate_zero_is_the_plain_linear_layer(name):
    x, w, b = torch.rand(2, 5, 7), torch.randn(2, 7, 3), torch.randn(2, 1, 3)
    out = scheme(name).linear(x, w, b, torch.zeros(2), ctx(2))
    assert torch.allclose(out, torch.baddbmm(b, x, w), atol=1e-5)


def test_unknown_scheme_is_named():
    with pytest.raises(ValueError, match="nonsense"):
        scheme("nonsense")


def test_a_stream_name_per_model_changes_only_that_models_draws():
    same = ModelStreams([3, 3], ["noise", "noise"]).rand(64)
    assert torch.equal(same[0], same[1])
    mixed = ModelStreams([3, 3], ["noise", "calibration"]).rand(64)
    assert torch.equal(mixed[0], same[0]) and not torch.equal(mixed[1], same[0])
    with pytest.raises(ValueError, match="2 stream names for 3 models"):
        ModelStreams([1, 2, 3], ["a", "b"])


# -- exact per-example DropConnect --------------------------------------------------------------

def _exact(x, w, b, keep, seeds, budget=None):
    """The exact scheme's layer with weights w [M, out, in], as the model calls it."""
    s = scheme("dropconnect")
    if budget is not None:
        s.budget = budget
    c = NoiseContext(ModelStreams(seeds, "noise"))
    return s.linear(x, w.transpose(1, 2), b, torch.tensor([1 - k for k in keep]), c)


def test_exact_dropconnect_draws_a_bernoulli_mask_on_the_weights_per_example():
    """With a one-hot input and unit weights, output j of example b is that example's mask
    entry (j, i) itself: 0 or 1/(1-p), dropped with probability p, different per example."""
    n, out, inp, i, p = 400, 64, 8, 3, 0.3
    x = torch.zeros(1, n, inp)
    x[:, :, i] = 1.0
    y = _exact(x, torch.ones(1, out, inp), torch.zeros(1, 1, out), [1 - p], [0])[0]
    assert torch.unique(y).tolist() == pytest.approx([0.0, 1 / (1 - p)])
    dropped, total = float((y == 0).sum()), y.numel()
    assert abs(dropped - total * p) < 5 * math.sqrt(total * p * (1 - p))
    assert not torch.equal(y[0], y[1])  # a fresh mask per example
    # entries of one example are independent: the mask is not shared along a row or column
    assert 0 < float((y == 0).float().mean(1).std()) < 0.2


def test_exact_dropconnect_gradients_equal_a_direct_reference_at_any_chunk():
    """Forward and backward against the masks materialised whole (the small-size reference),
    with chunks of 1 example, of 3 and of the whole batch: the same masks, the same numbers."""
    torch.manual_seed(0)
    m, n, inp, out, keep, seeds = 2, 7, 5, 4, [0.6, 0.8], [3, 4]
    x0, w0, b0 = torch.rand(m, n, inp), torch.randn(m, out, inp), torch.randn(m, 1, out)
    g = torch.randn(m, n, out)
    streams = ModelStreams(seeds, "noise")
    masks = torch.stack([streams.keep_rows(j, n, (out, inp), keep[j], 1 / keep[j],
                                           width=DropConnect.width)
                         for j in range(m)])  # [M, B, out, in]
    x, w, b = (t.clone().requires_grad_() for t in (x0, w0, b0))
    ref = torch.einsum("mboi,mbi->mbo", masks * w[:, None], x) + b
    want = torch.autograd.grad((ref * g).sum(), (x, w, b))
    per_entry = 12 * out * inp  # noise.BYTES_PER_ENTRY bytes per mask entry
    for budget in (per_entry, 3 * per_entry, 100 * per_entry):
        x, w, b = (t.clone().requires_grad_() for t in (x0, w0, b0))
        y = _exact(x, w, b, keep, seeds, budget)
        got = torch.autograd.grad((y * g).sum(), (x, w, b))
        assert torch.allclose(y, ref, atol=1e-5), budget
        for a, c in zip(got, want, strict=True):
            assert torch.allclose(a, c, atol=1e-5), budget


def test_exact_dropconnect_chunks_fit_the_memory_budget():
    from dropout_study.noise import BYTES_PER_ENTRY, MEMORY_BUDGET, chunk_rows

    rows = chunk_rows(256, 256)
    assert rows >= 1 and rows * BYTES_PER_ENTRY * 256 * 256 <= MEMORY_BUDGET
    assert (rows + 1) * BYTES_PER_ENTRY * 256 * 256 > MEMORY_BUDGET  # the most that fit
    assert chunk_rows(4096, 4096) == 1  # never zero


def test_exact_dropconnect_masks_of_a_seed_do_not_depend_on_its_batch_mates():
    torch.manual_seed(1)
    x, w, b = torch.rand(3, 6, 9), torch.randn(3, 5, 9), torch.randn(3, 1, 5)
    batch = _exact(x, w, b, [0.5, 0.7, 0.5], [1, 2, 3])
    alone = _exact(x[2:], w[2:], b[2:], [0.5], [3])
    assert torch.allclose(batch[2], alone[0], atol=1e-6)
    other = _exact(x[2:], w[2:], b[2:], [0.5], [4])
    assert not torch.allclose(other[0], alone[0])  # a seed's own stream


@pytest.mark.parametrize("width", [16, 8])
def test_keep_rows_are_split_invariant(width):
    """Drawing 10 rows at once or 3 then 7 gives the same masks: a chunk size never changes a
    model's masks."""
    a = ModelStreams([5], "noise")
    whole = a.keep_rows(0, 10, (4, 5), 0.4, width=width)
    b = ModelStreams([5], "noise")
    parts = torch.cat([b.keep_rows(0, 3, (4, 5), 0.4, width=width),
                       b.keep_rows(0, 7, (4, 5), 0.4, width=width)])
    assert torch.equal(whole, parts)
    assert abs(float(whole.mean()) - 0.4) < 0.15  # 200 draws: over 4 sd
