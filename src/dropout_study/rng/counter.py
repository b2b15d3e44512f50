"""The "counter" streams (``CounterStreams``): counter-based, one key and one counter per model,
the same numbers on CPU and CUDA bit for bit."""

from __future__ import annotations

import copy
import math

import torch

from .generators import COUNTER_SLOTS, _names, masks_from_bits, rows_from_bits, stream_seed

# -- counter-based streams -----------------------------------------------------------------------
#
# Model m's stream is the sequence of 32-bit words w_m(i) = hash(key_m, i), i = 0, 1, 2, ...,
# with key_m = stream_seed(seed, name). A draw takes the next run of words of every model at
# once: the positions form a [M, words] tensor and the hash is a fixed sequence of elementwise
# integer ops on it, so the work is a constant number of kernel launches for any M, and row m
# depends on key_m and model m's counter alone, never on its batch-mates.
#
# The hash is written in int64 ops whose results are exact integers on every device: values
# are kept in [0, 2^32), so `>>` (arithmetic in torch) sees no sign bit; the multipliers are odd
# and below 2^31, so a 32-bit value times one stays below 2^63 (no overflow, hence nothing
# device- or compiler-dependent), and `& MASK32` then takes the product modulo 2^32. Its shape:
# round 1 (xor-shift, multiply, xor-shift, multiply) is a bijection of the position's low word
# keyed by the key's low word; the key's high word (and the position's high word, past 2^32
# words) is xored in; round 2 (xor-shift, multiply, xor-shift, multiply, xor-shift) mixes again.
# Our own construction. Multiplier j is the first 4 bytes (little-endian) of
# sha256("dropout-study counter hash 1:j"), j = 0, 1, ..., with bits 0 and 30 set and bit 31
# cleared, kept if 13 to 19 of its bits are set (the fifth spreads the high word): candidate
# set 1 of the sets "... hash k", k = 0..5, the one whose avalanche was closest to ideal.
# Flipping any one of the 95 input bits (position low word, key low and high words) flips
# each output bit with probability 0.5 +- 0.008 over 2^16 random inputs (sampling sd 0.002);
# ``tests/test_rng.py`` checks avalanche, uniformity, independence and the keep rates.
MASK32 = 0xFFFFFFFF
_MUL = (0x5774B141, 0x4166C1D3, 0x6E948E8B, 0x54A245AB)
_HIGH = 0x6798E2C1  # spreads the position's high word over 32 bits
_TWO_24 = 2.0 ** -24


def counter_hash(lo: torch.Tensor, key_lo: torch.Tensor, key_hi: torch.Tensor,
                 hi: torch.Tensor | None = None) -> torch.Tensor:
    """32-bit words, as int64 in [0, 2^32), of positions ``hi`` * 2^32 + ``lo`` (``lo`` in
    [0, 2^32), ``hi`` in [0, 2^31); None: 0) under keys ``key_hi`` * 2^32 + ``key_lo``
    (broadcast: e.g. [M, 1] keys for [M, words] positions). 20 elementwise ops."""
    a, b, c, d = _MUL
    x = lo ^ key_lo
    x ^= x >> 16
    x.mul_(a).bitwise_and_(MASK32)
    x ^= x >> 15
    x.mul_(b).bitwise_and_(MASK32)
    x ^= key_hi
    if hi is not None:
        x ^= (hi * _HIGH).bitwise_and_(MASK32)
    x ^= x >> 16
    x.mul_(c).bitwise_and_(MASK32)
    x ^= x >> 15
    x.mul_(d).bitwise_and_(MASK32)
    x ^= x >> 16
    return x


# -2 log(m) on [0.5, 1) as -4 atanh(s), s = (m - 1) / (m + 1) in (-1/3, 0]:
# -4 s sum_k s^2k / (2k+1), k <= 6 (the rest is below 3e-8 of it); the sine of |d| <= pi/4 by
# its Taylor series to d^9 (the rest below 2e-9)
_NEG_2_LOG = [-4.0 / (2 * k + 1) for k in range(7)]
_SIN = [(-1) ** k / math.factorial(2 * k + 1) for k in range(5)]


def _horner(z: torch.Tensor, coefs: list[float]) -> torch.Tensor:
    """sum_k coefs[k] z^k, by separate multiplies and adds (no fused multiply-add)."""
    p = z * coefs[-1]
    for c in coefs[-2:0:-1]:
        p.add_(c).mul_(z)
    return p.add_(coefs[0])


_QUADRANTS: dict[torch.device, torch.Tensor] = {}


def _quadrants(device: torch.device) -> torch.Tensor:
    """(cos, sin) of 0, pi/2, pi, 3 pi/2, [4, 2], on ``device`` (made once per device)."""
    if device not in _QUADRANTS:
        _QUADRANTS[device] = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]],
                                          device=device)
    return _QUADRANTS[device]


def normals_from_words(w1: torch.Tensor, w2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Two independent standard normals per pair of 32-bit words (Box-Muller).

    Built from exact integer ops and single float32 +, -, *, / and sqrt, one per tensor op (each
    correctly rounded by IEEE 754 on CPU, vectorised or not, and on CUDA under nvcc's default
    precise division and square root; no fused multiply-add can form across ops), instead of
    torch.log/sin/cos, whose last bit may differ between a CPU kernel's vectorised body and its
    tail, or between devices: an element's value depends on its two words alone, never on
    where it lies in the tensor, the tensor's size or (so far as those defaults hold; checked
    by ``scripts/bench_rng.py --check-cuda``) the device. The log is -4 atanh((m-1)/(m+1)) of
    the mantissa plus the exponent's share; the sine a Taylor polynomial on |d| <= pi/4 and the
    cosine sqrt(1 - sin^2); within 2e-6 of float64 Box-Muller. u1 = (2j + 1) / 2^24 from 23
    bits of w1, so
    |z| <= sqrt(-2 ln 2^-24) = 5.77 (beyond it lies a probability of 8e-9); the angle takes 24
    bits of w2: 2 for its quadrant, 22 for its place in it."""
    u1 = torch.bitwise_or(w1 >> 8, 1).to(torch.float32).mul_(_TWO_24)  # (0, 1), exact
    m, e = torch.frexp(u1)  # u1 = m 2^e, m in [0.5, 1)
    s = (m - 1.0).div_(m + 1.0)
    r2 = _horner(s * s, _NEG_2_LOG).mul_(s)  # -2 log(m) >= 0
    r2.sub_(e.to(torch.float32).mul_(2.0 * math.log(2.0)))  # -2 log(u1) = that - 2 e log 2 > 0
    r = r2.sqrt_()
    quadrant = (w2 >> 30).bitwise_and_(3)
    # the angle within the quadrant: (2f + 1 - 2^22) pi/4 / 2^22, f = 22 bits, in (-pi/4, pi/4)
    d = ((w2 >> 8).bitwise_and_((1 << 22) - 1).mul_(2).add_(1 - (1 << 22))
         .to(torch.float32).mul_(math.pi / 4 * 2.0 ** -22))
    d2 = d * d
    sin = _horner(d2, _SIN).mul_(d)
    cos = torch.sqrt(1.0 - sin * sin).mul_(r)  # >= 1/sqrt(2): no cancellation
    sin.mul_(r)
    # rotate by quadrant * pi/2: (cos, sin) -> (c cos - s sin, s cos + c sin), c, s in {0, +-1}
    cq, sq = _quadrants(w1.device)[quadrant].unbind(-1)
    z0 = (cos * cq).sub_(sin * sq)
    z1 = (sin * cq).add_(cos * sq)
    return z0, z1


class CounterStreams:
    """The "counter" streams: counter-based, one key and one counter per model.

    Model m's stream is the word sequence hash(key_m, i) (``counter_hash``) with key_m =
    ``stream_seed(seed, name)``; its counter is the number of words it has drawn. A draw for all
    models hashes the next words of each at once, in a fixed number of tensor ops whatever the
    number of models, and model m's numbers depend only on its key and its counter: the same
    alone as in any batch, and on CPU and CUDA bit for bit (integer ops; for the normals,
    correctly rounded float ops: ``normals_from_words``). Words per value: a keep-mask entry
    takes 16 bits (two per word, the keep rate rounded to 1/65536 as ``masks_from_bits``
    does; or 8, four per word, rounded to 1/256), a uniform one word (24 bits), a pair of
    normals two words. The state is the counters, a CPU int64 tensor [M]."""

    kind = "counter"
    SLOTS = COUNTER_SLOTS  # mask entries a word

    def __init__(self, seeds: list[int], name: str | list[str],
                 device: torch.device | str = "cpu"):
        self.device = torch.device(device)
        keys = torch.tensor([stream_seed(s, n) for s, n in zip(seeds, _names(seeds, name),
                                                                   strict=True)],
                            dtype=torch.int64).view(-1, 1)
        self.key_lo = (keys & MASK32).to(self.device)  # [M, 1]
        self.key_hi = (keys >> 32).to(self.device)  # stream_seed's keys have 63 bits
        self.set_state([torch.zeros(len(keys), dtype=torch.int64)])
        self._aranges: dict[int, torch.Tensor] = {}

    def __len__(self) -> int:
        return len(self.counters)

    def _arange(self, n: int) -> torch.Tensor:
        if n not in self._aranges:
            if len(self._aranges) > 8:
                self._aranges.clear()
            self._aranges[n] = torch.arange(n, dtype=torch.int64, device=self.device)
        return self._aranges[n]

    def _hash(self, start: torch.Tensor, key_lo: torch.Tensor, key_hi: torch.Tensor,
              words: int, end: int) -> torch.Tensor:
        """Words [R, words] at positions start[r] + (0 .. words-1); ``end`` bounds them all."""
        pos = start + self._arange(words)
        if end <= 1 << 32:  # every high word is 0: the same words, five ops fewer
            return counter_hash(pos, key_lo, key_hi)
        return counter_hash(pos & MASK32, key_lo, key_hi, pos >> 32)

    def words(self, n: int) -> torch.Tensor:
        """The next ``n`` words of every model, [M, n] int64 in [0, 2^32)."""
        end = self._end + n
        out = self._hash(self._start, self.key_lo, self.key_hi, n, end)
        self._start += n
        self.counters += n
        self._end = end
        return out

    def rand(self, *shape: int) -> torch.Tensor:
        """Uniform [0, 1) draws of ``shape`` for every model (24 bits each), [M, *shape]."""
        n = math.prod(shape)
        u = (self.words(n) >> 8).to(torch.float32).mul_(_TWO_24)
        return u.view(len(self), *shape)

    def randn(self, *shape: int) -> torch.Tensor:
        """Standard normal draws of ``shape`` for every model (``normals_from_words``)."""
        n = math.prod(shape)
        pairs = -(-n // 2)
        w = self.words(2 * pairs).view(len(self), 2, pairs)
        z0, z1 = normals_from_words(w[:, 0], w[:, 1])
        return torch.cat([z0, z1], 1)[:, :n].reshape(len(self), *shape)

    def keep_mask(self, shape: tuple[int, ...], keep: torch.Tensor,
                  value: torch.Tensor | None = None, width: int = 16) -> torch.Tensor:
        """Float masks [M, *shape]: ``value[m]`` (default 1) with probability ``keep[m]`` for
        model m, else 0; entry j takes ``width`` bits of word j mod ceil(n/slots), two 16-bit
        or four 8-bit slots a word."""
        n = math.prod(shape)
        slots = COUNTER_SLOTS[width]
        bits = self.words(-(-n // slots))
        return masks_from_bits(bits, n, keep, value, slots, width).view(len(self), *shape)

    def keep_rows(self, model: int, rows: int, shape: tuple[int, ...], keep: float,
                  value: float | None = None, width: int = 16) -> torch.Tensor:
        """``rows`` masks of ``shape`` for one model, [rows, *shape]: row r is what
        ``keep_mask(shape, ...)`` would draw as the r-th of ``rows`` calls for that model alone
        (its words start at the counter plus r times a mask's words), so rows drawn at once or
        in chunks give the same masks, as do the other models of the batch."""
        return rows_from_bits(self.row_bits(model, rows, shape, width), shape, keep, value,
                              COUNTER_SLOTS[width], width)

    def row_bits(self, model: int, rows: int, shape: tuple[int, ...],
                 width: int = 16) -> torch.Tensor:
        """The words of ``keep_rows`` (int64 [rows, words]), for a caller that keeps them to
        build the same masks again (``rows_from_bits``) without hashing twice."""
        per_row = -(-math.prod(shape) // COUNTER_SLOTS[width])
        first = int(self.counters[model])
        start = (self._arange(rows) * per_row).add_(first).view(-1, 1)
        end = first + rows * per_row
        bits = self._hash(start, self.key_lo[model], self.key_hi[model], per_row, end)
        self.counters[model].add_(rows * per_row)
        self._start[model].add_(rows * per_row)
        self._end = max(self._end, end)
        return bits

    def state(self) -> list[torch.Tensor]:
        """The counters, [M] int64 on the CPU (in a list, as ``ModelStreams.state``)."""
        return [self.counters.clone()]

    def set_state(self, states: list[torch.Tensor]) -> None:
        (counters,) = states
        if (counters.dtype != torch.int64 or counters.shape != (len(self.key_lo),)
                or bool((counters < 0).any())):
            raise ValueError(f"not the counters of {len(self.key_lo)} counter streams: "
                             f"{counters.dtype} {list(counters.shape)}")
        self.counters = counters.detach().to("cpu", copy=True)
        self._start = self.counters.view(-1, 1).to(self.device, copy=True)
        self._end = int(self.counters.max()) if len(self.counters) else 0

    def replay(self, states: list[torch.Tensor]) -> CounterStreams:
        """A copy of these streams at ``states`` (an earlier ``state()``), for drawing the same
        numbers again; these streams are not moved."""
        other = copy.copy(self)
        other.set_state(states)
        return other

    def model_generators(self) -> list[torch.Generator]:
        """One fresh torch generator per model, for torch's own random kernels
        (``TorchDropout``): seeded with 63 bits of the model's next two words (the counters
        move on by two), so that a model's torch draws too depend on its stream alone."""
        w = self.words(2).cpu()
        seeds = ((w[:, 0] & 0x7FFFFFFF) << 32 | w[:, 1]).tolist()
        return [torch.Generator(device=self.device).manual_seed(s) for s in seeds]
