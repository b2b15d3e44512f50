"""The counter-based random streams (``rng.CounterStreams``): paired by construction (a seed's
numbers depend on its seed, stream name and counter alone), statistically sound, and a fixed
number of tensor ops per draw whatever the number of models."""

import math

import pandas as pd
import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from dropout_study.noise import DropConnect, NoiseContext, scheme
from dropout_study.rng import (
    MASK32,
    CounterStreams,
    ModelStreams,
    counter_hash,
    make_streams,
    masks_from_bits,
    normals_from_words,
    resolve_rng,
    stream_seed,
)
from dropout_study.spec import Condition, JobSpec


def draws(streams, keep=0.7):
    """A few draws in a row, of different kinds and shapes (odd sizes included)."""
    m = len(streams)
    return [streams.keep_mask((5, 7), torch.full((m,), keep)),
            streams.rand(13),
            streams.keep_mask((300,), torch.full((m,), keep), torch.full((m,), 2.0)),
            streams.randn(4, 3),
            streams.randn(7),
            streams.keep_mask((2, 2, 3), torch.full((m,), 0.2))]


@pytest.mark.parametrize("packing", [
    [4],
    [4, 5, 6],
    [6, 5, 4],
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    [4, 4, 9],  # the same seed twice (two conditions of one seed)
])
def test_a_seed_alone_draws_exactly_its_rows_in_any_packing(packing):
    alone = draws(CounterStreams([4], "noise"))
    packed = draws(CounterStreams(packing, "noise"))
    for a, p in zip(alone, packed, strict=True):
        for row, seed in enumerate(packing):
            if seed == 4:
                assert torch.equal(a[0], p[row])


def test_per_model_stream_names_pair_by_seed_and_name():
    mixed = draws(CounterStreams([3, 3, 8], ["noise", "calibration", "noise"]))
    for name, row in (("noise", 0), ("calibration", 1)):
        for a, p in zip(draws(CounterStreams([3], name)), mixed, strict=True):
            assert torch.equal(a[0], p[row])
    assert not torch.equal(mixed[1][0], mixed[1][1])  # another name, another stream
    with pytest.raises(ValueError, match="2 stream names for 3 models"):
        CounterStreams([1, 2, 3], ["a", "b"])


def test_different_seeds_and_names_give_different_masks():
    keep = torch.full((4,), 0.5)
    m = CounterStreams([0, 1, 2, 3], "noise").keep_mask((64, 64), keep)
    other = CounterStreams([0], "probe").keep_mask((64, 64), keep[:1])
    for i in range(4):
        for j in range(i):
            agree = float((m[i] == m[j]).float().mean())
            assert abs(agree - 0.5) < 0.05, (i, j, agree)  # independent masks agree half the time
        assert abs(float((m[i] == other[0]).float().mean()) - 0.5) < 0.05


def test_the_counter_hash_is_the_integer_function_it_claims():
    """Against the same function on Python integers (arbitrary precision, products taken mod
    2^32): the int64 ops never overflow, so any device computes these integers exactly."""
    from dropout_study.rng import _HIGH, _MUL

    def reference(pos, key):
        a, b, c, d = _MUL
        x = (pos & MASK32) ^ (key & MASK32)
        x ^= x >> 16
        x = x * a % 2 ** 32
        x ^= x >> 15
        x = x * b % 2 ** 32
        x ^= (key >> 32) ^ ((pos >> 32) * _HIGH % 2 ** 32)
        x ^= x >> 16
        x = x * c % 2 ** 32
        x ^= x >> 15
        x = x * d % 2 ** 32
        return x ^ (x >> 16)

    seeds = [0, 7, 123456]
    keys = [stream_seed(s, "noise") for s in seeds]
    s = CounterStreams(seeds, "noise")
    got = s.words(5)
    for m, key in enumerate(keys):
        assert got[m].tolist() == [reference(i, key) for i in range(5)]
    # a draw across the 2^32-word boundary (past it, the position's high word enters)
    start = 2 ** 32 - 3
    s.set_state([torch.full((3,), start, dtype=torch.int64)])
    got = s.words(6)
    for m, key in enumerate(keys):
        assert got[m].tolist() == [reference(start + i, key) for i in range(6)]
    assert int(got.min()) >= 0 and int(got.max()) <= MASK32
    # below 2^32 the short path (no high word) is the long one with a zero high word
    lo = torch.arange(100, dtype=torch.int64).view(1, -1)
    k_lo, k_hi = torch.tensor([[keys[0] & MASK32]]), torch.tensor([[keys[0] >> 32]])
    assert torch.equal(counter_hash(lo, k_lo, k_hi), counter_hash(lo, k_lo, k_hi, lo * 0))


def test_every_input_bit_flips_every_output_bit_half_the_time():
    """Avalanche over the position (low word) and both key words: flipping one input bit
    flips each output bit with probability 1/2 (2^12 random inputs: 5 sd is 0.039)."""
    g = torch.Generator().manual_seed(0)
    n = 1 << 12
    lo = torch.randint(0, 2 ** 32, (n,), generator=g, dtype=torch.int64)
    k_lo = torch.randint(0, 2 ** 32, (n,), generator=g, dtype=torch.int64)
    k_hi = torch.randint(0, 2 ** 31, (n,), generator=g, dtype=torch.int64)
    base = counter_hash(lo, k_lo, k_hi)
    bits = torch.arange(32)
    worst = 0.0
    for which, width in ((0, 32), (1, 32), (2, 31)):
        for b in range(width):
            args = [lo, k_lo, k_hi]
            args[which] = args[which] ^ (1 << b)
            flipped = ((base ^ counter_hash(*args))[:, None] >> bits) & 1
            worst = max(worst, float((flipped.double().mean(0) - 0.5).abs().max()))
    assert worst < 5 * 0.5 / math.sqrt(n), worst


@pytest.mark.parametrize("width", [16, 8])
@pytest.mark.parametrize("keep", [0.0, 0.05, 0.3, 0.5, 0.8, 0.999, 1.0])
def test_keep_rate_is_binomial(keep, width):
    """Every slot keeps with the keep rate rounded to 1/65536 (a keep of 0 keeps with
    probability 1/65536, as ``masks_from_bits`` documents), or to 1/256 with 8-bit entries:
    within 5 binomial sd, per model and for each slot of the words (halves, or bytes)."""
    s = CounterStreams([0, 1, 2], "noise")
    n, levels, slots = 2 * 65536, 2 ** width, 32 // width
    masks = torch.cat([s.keep_mask((n,), torch.full((3,), keep), width=width)
                       for _ in range(4)], 1)
    p = max(round(keep * levels), 1) / levels
    for m in range(3):  # 16 bits: planar (halves); 8 bits: byte e of word e // 4
        parts = (masks[m].view(4, slots, -1).transpose(0, 1) if width == 16
                 else masks[m].view(4, -1, slots).permute(2, 0, 1))
        for part in parts:  # one slot of every word
            count = float(part.sum())
            sd = math.sqrt(part.numel() * p * (1 - p))
            assert abs(count - part.numel() * p) <= 5 * sd + 1e-9, (m, count, p)
    if keep == 1.0:
        assert bool((masks == 1).all())


def _corr(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.double().flatten(), b.double().flatten()
    a, b = a - a.mean(), b - b.mean()
    return float((a * b).sum() / (a.norm() * b.norm()))


def test_adjacent_elements_and_models_are_uncorrelated():
    """Correlation of neighbouring entries, of the two entries sharing one word (j and
    j + n/2) and of two models at the same entry, for masks and uniforms: |r| < 5/sqrt(N)."""
    s = CounterStreams([10, 11], "noise")
    n = 1 << 16
    masks = torch.cat([s.keep_mask((n,), torch.full((2,), 0.5)) for _ in range(4)], 1)
    u = s.rand(4 * n)
    for x in (masks, u):
        bound = 5 / math.sqrt(x.shape[1])
        for m in range(2):
            assert abs(_corr(x[m, :-1], x[m, 1:])) < bound
        assert abs(_corr(x[0], x[1])) < bound
    half = masks.view(2, 4, 2, n // 2)  # entries j and j + n/2 of one mask: one word's halves
    assert abs(_corr(half[:, :, 0], half[:, :, 1])) < 5 / math.sqrt(half[:, :, 0].numel())
    # and the words themselves at lags 1, 2 and 3
    w = s.words(1 << 18).double()
    for lag in (1, 2, 3):
        assert abs(_corr(w[:, :-lag], w[:, lag:])) < 5 / math.sqrt(w.numel())


def test_the_16_bit_values_are_uniform():
    """Chi-square of the 16-bit halves of the words (what the masks compare), in 256 bins and
    in 65536 (every value): at the 0.1% level (the streams are fixed, so is the outcome)."""
    from scipy.stats import chi2

    w = CounterStreams([2, 3], "noise").words(1 << 19)
    halves = torch.cat([w & 0xFFFF, w >> 16]).flatten()
    for bins in (256, 65536):
        counts = torch.bincount(halves // (65536 // bins), minlength=bins).double()
        expected = halves.numel() / bins
        stat = float(((counts - expected) ** 2 / expected).sum())
        assert chi2.sf(stat, bins - 1) > 1e-3, (bins, stat)
    u = CounterStreams([4], "noise").rand(1 << 18)
    assert 0.0 <= float(u.min()) and float(u.max()) < 1.0
    counts = torch.histc(u, bins=100, min=0, max=1).double()
    stat = float(((counts - u.numel() / 100) ** 2 / (u.numel() / 100)).sum())
    assert chi2.sf(stat, 99) > 1e-3


def test_normals_have_mean_0_variance_1_and_a_normal_shape():
    from scipy.stats import kstest

    z = CounterStreams([0, 1], "noise").randn(200_001)
    assert z.shape == (2, 200_001) and torch.isfinite(z).all()
    for row in z.double():
        n = row.numel()
        assert abs(float(row.mean())) < 5 / math.sqrt(n)
        assert abs(float(row.var()) - 1) < 5 * math.sqrt(2 / n)
        assert kstest(row.numpy(), "norm").pvalue > 1e-3
    assert float(z.abs().max()) <= math.sqrt(-2 * math.log(2 ** -24)) + 1e-5


def test_normals_are_box_muller_to_float32_accuracy():
    """The own-arithmetic log, sine and cosine against float64 Box-Muller of the same bits."""
    w = CounterStreams([5], "noise").words(2 * 50_000)[0].view(2, -1)
    z0, z1 = normals_from_words(w[0], w[1])
    u1 = ((w[0] >> 8) | 1).double() / 2 ** 24
    f = ((w[1] >> 8) & ((1 << 22) - 1)).double()
    angle = (2 * f + 1 - 2 ** 22) / 2 ** 22 * math.pi / 4 + (w[1] >> 30).double() * math.pi / 2
    r = torch.sqrt(-2 * torch.log(u1))
    assert float((z0.double() - r * torch.cos(angle)).abs().max()) < 2e-6
    assert float((z1.double() - r * torch.sin(angle)).abs().max()) < 2e-6


def test_state_and_set_state_resume_the_same_sequence():
    a = CounterStreams([1, 2], "noise")
    draws(a)
    saved = a.state()
    after = draws(a)
    b = CounterStreams([1, 2], "noise")
    b.set_state([t.clone() for t in saved])
    for x, y in zip(after, draws(b), strict=True):
        assert torch.equal(x, y)
    assert saved[0].dtype == torch.int64 and saved[0].shape == (2,)
    assert torch.equal(a.state()[0], b.state()[0])
    c = a.replay(saved)  # a copy at the saved state; `a` does not move
    before = a.state()[0].clone()
    for x, y in zip(after, draws(c), strict=True):
        assert torch.equal(x, y)
    assert torch.equal(a.state()[0], before)
    with pytest.raises(ValueError, match="counters"):
        b.set_state([torch.zeros(3, dtype=torch.int64)])
    with pytest.raises(ValueError, match="counters"):
        b.set_state([torch.zeros(2, dtype=torch.uint8)])  # a generator's state is no counter


@pytest.mark.parametrize("width, words", [(16, 10), (8, 5)])  # words a 4 x 5 mask takes
def test_keep_rows_are_chunk_invariant_and_the_models_own_keep_masks(width, words):
    shape, keep = (4, 5), 0.4
    whole = CounterStreams([5], "noise").keep_rows(0, 10, shape, keep, width=width)
    b = CounterStreams([5], "noise")
    parts = torch.cat([b.keep_rows(0, 3, shape, keep, width=width),
                       b.keep_rows(0, 7, shape, keep, width=width)])
    assert torch.equal(whole, parts)
    c = CounterStreams([5], "noise")  # row r: the r-th keep_mask of that model alone
    one_by_one = torch.cat([c.keep_mask(shape, torch.tensor([keep]), width=width)
                            for _ in range(10)])
    assert torch.equal(whole, one_by_one)
    assert torch.equal(b.state()[0], c.state()[0])
    packed = CounterStreams([7, 5, 9], "noise")  # among batch-mates, drawn in other chunks
    rows = torch.cat([packed.keep_rows(1, 6, shape, keep, width=width),
                      packed.keep_rows(1, 4, shape, keep, width=width)])
    assert torch.equal(rows, whole)
    assert packed.state()[0].tolist() == [0, 10 * words, 0]  # only model 1 moved: 10 masks
    scaled = CounterStreams([5], "noise").keep_rows(0, 10, shape, keep, 1 / keep, width=width)
    assert torch.equal(scaled, whole / keep)
    other = CounterStreams([5], "noise").keep_rows(0, 10, shape, keep, width=24 - width)
    assert not torch.equal(other, whole)  # the width decides the masks


class _CountOps(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.ops = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops.append(str(func))
        return func(*args, **(kwargs or {}))


# ops that make views or read a CPU scalar: no kernel runs for them
NO_KERNEL = {"view", "alias", "select", "slice", "transpose", "detach", "unbind", "lift_fresh",
             "_local_scalar_dense", "expand", "unsqueeze", "squeeze"}


def _ops(streams, draw) -> list[str]:
    draw(streams)  # once before counting: the same for every M anyway
    with _CountOps() as count:
        draw(streams)
    return count.ops


def _kernels(ops: list[str]) -> list[str]:
    return [op for op in ops if op.split(".")[1] not in NO_KERNEL]


DRAWS = {
    "keep_mask": lambda s: s.keep_mask((32, 16), torch.full((len(s),), 0.6),
                                       torch.full((len(s),), 1 / 0.6)),  # 2 ops of the test's
    "rand": lambda s: s.rand(32, 16),
    "randn": lambda s: s.randn(32, 16),
    "keep_rows": lambda s: s.keep_rows(len(s) - 1, 6, (8, 8), 0.6),
}


@pytest.mark.parametrize("name", list(DRAWS))
def test_a_draw_is_the_same_number_of_tensor_ops_for_1_and_64_models(name):
    """The constant-number-of-kernel-launches property, counted at the dispatcher: every aten
    op a draw runs (and those that run a kernel), the same list for 1 model and for 64. The
    per-model generators run one more fill per model (printed for contrast, with -s)."""
    counts = {m: _ops(CounterStreams(list(range(m)), "noise"), DRAWS[name]) for m in (1, 64)}
    assert counts[1] == counts[64], name
    kernels = len(_kernels(counts[1]))
    generator = {m: _ops(ModelStreams(list(range(m)), "noise"), DRAWS[name]) for m in (1, 64)}
    print(f"\n{name}: counter {len(counts[1])} aten ops ({kernels} kernels) at M=1 and M=64; "
          f"generator {len(generator[1])} ({len(_kernels(generator[1]))}) at M=1, "
          f"{len(generator[64])} ({len(_kernels(generator[64]))}) at M=64")
    assert kernels <= {"keep_mask": 36, "rand": 27, "randn": 90, "keep_rows": 40}[name]
    if name != "keep_rows":  # keep_rows is one model's draw in both
        assert len(_kernels(generator[64])) >= len(_kernels(generator[1])) + 63


def test_masks_from_bits_two_slots_take_the_low_then_the_high_half():
    """Entry j < words is word j's low half, entry words + j its high half. The halves are
    read as signed 16-bit values; a keep of 1/2 keeps the negative ones: 0x8000 is kept,
    0x7FFF is not."""
    bits = torch.tensor([[0x80007FFF, 0x7FFF8000]], dtype=torch.int64)
    m = masks_from_bits(bits, 4, torch.tensor([0.5]), slots=2)
    assert m.tolist() == [[0.0, 1.0, 1.0, 0.0]]


def test_masks_from_bits_8_bit_entries_are_the_bytes_in_memory_order():
    """With 8-bit entries, entry e is byte e of the row's words, low byte first: four of each
    32-bit counter word, all eight of a generator's full-range draw (its top byte too). Read as
    unsigned, a keep of 1/2 keeps 0x00..0x7F and drops 0x80..0xFF; a keep of 0.9 is rounded to
    230/256 (keeps bytes up to 229); a width other than 16 or 8 is refused."""
    bits = torch.tensor([[0x807F00FF, 0xE5E60102]], dtype=torch.int64)  # bytes FF 00 7F 80 ...
    half = masks_from_bits(bits, 8, torch.tensor([0.5]), slots=4, width=8)
    assert half.tolist() == [[0.0, 1.0, 1.0, 0.0, 1.0, 1.0, 0.0, 0.0]]
    rounded = masks_from_bits(bits, 8, torch.tensor([0.9]), slots=4, width=8)
    assert rounded.tolist() == [[0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 1.0]]  # 0xE6 = 230 dropped
    assert masks_from_bits(bits, 6, torch.tensor([0.5]), slots=4, width=8).shape == (1, 6)
    gen = torch.tensor([[0x00FF_8001_7F80_FF00, -(1 << 56)]], dtype=torch.int64)
    both = masks_from_bits(gen, 16, torch.tensor([0.5]), slots=8, width=8)
    assert both.tolist() == [[1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0] + [1.0] * 7 + [0.0]]
    with pytest.raises(ValueError, match="16 or 8"):
        masks_from_bits(bits, 8, torch.tensor([0.5]), slots=8, width=4)


def test_rng_choice_auto_is_the_generator_on_cpu_and_the_counter_on_cuda():
    assert resolve_rng("auto", "cpu") == "generator"
    assert resolve_rng("auto", torch.device("cuda")) == "counter"
    assert resolve_rng("counter", "cpu") == "counter"
    assert isinstance(make_streams([0], "noise", "cpu"), ModelStreams)
    assert isinstance(make_streams([0], "noise", "cpu", "counter"), CounterStreams)
    with pytest.raises(ValueError, match="philox"):
        resolve_rng("philox", "cpu")


def test_rng_enters_the_job_identity_only_when_set():
    spec = JobSpec("t", "j", [Condition("t", "c")], [0])
    assert "rng" not in spec.to_json()  # auto: every job keeps its name and digest
    counter = JobSpec("t", "j", [Condition("t", "c")], [0], rng="counter")
    assert counter.digest() != spec.digest()
    assert JobSpec.from_json(counter.to_json()).rng == "counter"
    assert JobSpec.from_json(spec.to_json()).rng == "auto"


def test_config_takes_rng_and_names_a_bad_value():
    import yaml

    from dropout_study import config as cfgmod
    from dropout_study.errors import ConfigError

    from .conftest import ROOT

    raw = yaml.safe_load((ROOT / "config.yaml").read_text())
    assert raw["rng"] == "auto"
    assert cfgmod.resolve(raw, {"rng": "counter"}, project=ROOT)["rng"] == "counter"
    with pytest.raises(ConfigError, match="'rng'"):
        cfgmod.resolve(raw, {"rng": "philox"}, project=ROOT)


# -- the schemes and training with the counter streams ---------------------------------------------

def test_torch_dropout_with_counter_streams_is_paired_by_seed():
    h = torch.ones(3, 1, 20_000)
    a = scheme("torch_dropout").train(h[:1], torch.tensor([0.5]),
                                      NoiseContext(CounterStreams([2], "noise")))
    b = scheme("torch_dropout").train(h, torch.tensor([0.3, 0.5, 0.5]),
                                      NoiseContext(CounterStreams([1, 2, 3], "noise")))
    assert torch.equal(a[0], b[1]) and not torch.equal(b[1], b[2])
    assert abs(float((a == 0).float().mean()) - 0.5) < 0.02


def test_exact_dropconnect_gradients_with_counter_streams_equal_a_direct_reference():
    """As in test_noise, with the counter streams: the backward pass's replayed masks are the
    forward pass's, at any chunk."""
    torch.manual_seed(0)
    m, n, inp, out, keep, seeds = 2, 7, 5, 4, [0.6, 0.8], [3, 4]
    x0, w0, b0 = torch.rand(m, n, inp), torch.randn(m, out, inp), torch.randn(m, 1, out)
    g = torch.randn(m, n, out)
    streams = CounterStreams(seeds, "noise")
    masks = torch.stack([streams.keep_rows(j, n, (out, inp), keep[j], 1 / keep[j],
                                           width=DropConnect.width)
                         for j in range(m)])
    x, w, b = (t.clone().requires_grad_() for t in (x0, w0, b0))
    ref = torch.einsum("mboi,mbi->mbo", masks * w[:, None], x) + b
    want = torch.autograd.grad((ref * g).sum(), (x, w, b))
    for rows in (1, 3, 100):
        s = scheme("dropconnect")
        s.budget = rows * 12 * out * inp
        x, w, b = (t.clone().requires_grad_() for t in (x0, w0, b0))
        ctx = NoiseContext(CounterStreams(seeds, "noise"))
        y = s.linear(x, w.transpose(1, 2), b, torch.tensor([1 - k for k in keep]), ctx)
        got = torch.autograd.grad((y * g).sum(), (x, w, b))
        assert torch.allclose(y, ref, atol=1e-5), rows
        for a, c in zip(got, want, strict=True):
            assert torch.allclose(a, c, atol=1e-5), rows


def _tables(path):
    out = {}
    for table in ("metrics", "activations", "runs"):
        df = pd.read_parquet(path / f"{table}.parquet")
        drop = [c for c in df.columns
                if "seconds" in c or c in ("job", "model_index", "models_in_job")]
        out[table] = df.drop(columns=drop)
    return out


@pytest.mark.parametrize("noise", ["dropout", "gaussian"])
def test_a_seed_trained_alone_gives_the_tables_it_gets_in_a_pack(small_dataset, tmp_path, noise):
    """rng: counter on CPU. Seed 2 of condition b with one batch-mate, and inside a job of
    3 seeds x 2 conditions (seed 2 in the middle): the same tables, bit for bit. Trained alone
    (a job of one model) it draws the same masks too, but CPU torch runs a batch of one
    through another GEMM path whose last bits differ (the generator streams show the same):
    equal to float32 rounding there."""
    from dropout_study.train import run_job

    _, path = small_dataset
    a = Condition("t", "a", noise=noise, rates=(0.5, 0.5), epochs=2, probe=True)
    b = Condition("t", "b", noise=noise, rates=(0.2, 0.5), epochs=2, probe=True)
    for name, conds, seeds in (("alone", [b], [2]), ("pair", [b], [2, 9]),
                               ("pack", [a, b], [1, 2, 3])):
        run_job(JobSpec("t", name, conds, seeds, data_path=str(path), device="cpu",
                        rng="counter"), tmp_path / name, progress=False)
    runs = {name: _tables(tmp_path / name) for name in ("alone", "pair", "pack")}
    for table, want in runs["alone"].items():
        got = {}
        for name in ("pair", "pack"):
            df = runs[name][table]
            got[name] = df[(df["seed"] == 2) & (df["condition"] == "b")].reset_index(drop=True)
            assert len(want) == len(got[name]) > 0, table
        pd.testing.assert_frame_equal(got["pair"], got["pack"], check_exact=True)
        pd.testing.assert_frame_equal(want, got["pack"], check_exact=False, rtol=1e-5, atol=1e-7)
    metrics = runs["pack"]["metrics"]
    assert metrics.groupby("seed")["train_loss"].first().nunique() == 3  # seeds differ


def test_a_counter_checkpoint_resumes_its_counters_and_refuses_another_kind(small_dataset,
                                                                            tmp_path):
    from dropout_study.train import DeviceData, Trainer

    ds, path = small_dataset
    data = DeviceData.from_dataset(ds, torch.device("cpu"))
    cond = Condition("t", "c", rates=(0.2, 0.5), epochs=2, checkpoint_every=1)
    spec = JobSpec("t", "j", [cond], [0, 1], data_path=str(path), device="cpu", rng="counter")
    first = Trainer(spec, data, torch.device("cpu"))
    assert isinstance(first.noise_streams, CounterStreams)
    first.train_epoch(1)
    first.checkpoint(tmp_path / "checkpoint.pt")
    again = Trainer(spec, data, torch.device("cpu"))
    assert again.resume(tmp_path / "checkpoint.pt")
    counters = first.noise_streams.state()[0]
    assert int(counters[0]) > 0 and torch.equal(again.noise_streams.state()[0], counters)
    assert torch.equal(again.noise_streams.keep_mask((9,), torch.full((2,), 0.5)),
                       first.noise_streams.keep_mask((9,), torch.full((2,), 0.5)))
    # the same spec with generator streams (a checkpoint of a CPU run resumed on CUDA under
    # auto, say) starts afresh instead of failing on the other kind's state
    other = Trainer(spec, data, torch.device("cpu"))
    other.noise_streams = ModelStreams([0, 1], "noise")
    assert not other.resume(tmp_path / "checkpoint.pt")
