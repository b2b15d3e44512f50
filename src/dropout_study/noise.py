"""Noise injection schemes, one interface.

Every scheme maps a stacked tensor ``h`` of shape [M, B, H] (M models of one batch) and a
per-model strength ``rate`` of shape [M] to a noisy tensor in training, keeping the
expectation: E[noise(h)] = h. Activation schemes act on a hidden layer's output; weight schemes
(DropConnect) act on the weight matrix that *consumes* that hidden layer, so that rate i always
belongs to hidden layer i. A new scheme is one class here plus its name in the config schema.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch

from .packing import BYTES_PER_ENTRY, MEMORY_BUDGET
from .rng import CounterStreams, ModelStreams, rows_from_bits
from .spec import MASK_BITS


@dataclass
class NoiseContext:
    streams: ModelStreams | CounterStreams  # the per-model noise streams
    progress: float = 0.0  # fraction of training done, in [0, 1]


def _col(rate: torch.Tensor) -> torch.Tensor:
    return rate.view(-1, 1, 1)


class Noise:
    """Base class: the identity. ``target`` says where the scheme acts.

    A *multiplicative* activation scheme multiplies ``h`` by a random factor that does not
    depend on ``h``; it implements ``factor`` (None meaning 1) and gets ``train`` for free, and
    the trainer can then run its hand-written forward/backward step (``BatchedMLP.sgd_step``).
    Any other scheme overrides ``train`` (and sets ``multiplicative = False``): it is trained
    through autograd.
    """

    name: ClassVar[str] = "none"
    target: ClassVar[str] = "activation"  # or "weight"
    strength: ClassVar[str] = "none"  # what the rate means, for the report
    max_rate: ClassVar[float] = 1.0  # rates lie in [0, max_rate)
    multiplicative: ClassVar[bool] = True

    def factor(self, shape: tuple[int, ...], rate: torch.Tensor,
               ctx: NoiseContext) -> torch.Tensor | None:
        """The random factor [M, *shape[1:]], or None for the constant 1."""
        return None

    def train(self, h: torch.Tensor, rate: torch.Tensor, ctx: NoiseContext) -> torch.Tensor:
        f = self.factor(tuple(h.shape), rate, ctx)
        return h if f is None else h * f

    def eval(self, h: torch.Tensor, rate: torch.Tensor) -> torch.Tensor:
        return h

    @staticmethod
    def multiplicative_variance(rate: float) -> float:
        """Var of the multiplicative factor at this rate (0 where it does not apply)."""
        return 0.0


class Dropout(Noise):
    """Inverted Bernoulli dropout: keep with probability 1-p, divide survivors by 1-p."""

    name = "dropout"
    strength = "drop probability p"

    def factor(self, shape, rate, ctx):
        keep = 1.0 - rate.view(-1)
        inv = torch.where(keep > 0, 1.0 / keep, 0.0)
        return ctx.streams.keep_mask(tuple(shape[1:]), keep, inv)  # 0 or 1/(1-p), exactly

    @staticmethod
    def multiplicative_variance(rate: float) -> float:
        return rate / (1.0 - rate)


class VanillaDropout(Noise):
    """The original (Srivastava et al.) form: no rescaling in training, scale by 1-p at test."""

    name = "dropout_vanilla"
    strength = "drop probability p"

    def factor(self, shape, rate, ctx):  # the same masks as inverted dropout, without 1/(1-p)
        return ctx.streams.keep_mask(tuple(shape[1:]), 1.0 - rate.view(-1))

    def eval(self, h, rate):
        return h * (1.0 - _col(rate))


class TorchDropout(Noise):
    """``torch.nn.functional.dropout`` itself, fed from each model's own noise stream."""

    name = "torch_dropout"
    strength = "drop probability p"
    multiplicative = False  # its masks come from torch's own kernel

    def train(self, h, rate, ctx):
        out = []
        default = torch.default_generator if h.device.type == "cpu" else \
            torch.cuda.default_generators[h.device.index or 0]
        saved = default.get_state()
        try:
            for m, g in enumerate(ctx.streams.model_generators()):
                default.set_state(g.get_state())
                out.append(torch.nn.functional.dropout(h[m], float(rate[m]), training=True))
                g.set_state(default.get_state())
        finally:
            default.set_state(saved)
        return torch.stack(out)

    multiplicative_variance = staticmethod(Dropout.multiplicative_variance)


class GaussianMultiplicative(Noise):
    """h * (1 + sigma * eps), eps ~ N(0, 1), with sigma^2 = p / (1 - p): dropout's variance."""

    name = "gaussian"
    strength = "dropout-equivalent p (variance p/(1-p))"

    def factor(self, shape, rate, ctx):
        sigma = torch.sqrt(_col(rate) / (1.0 - _col(rate)))
        return (sigma * ctx.streams.randn(*shape[1:])).add_(1.0)

    multiplicative_variance = staticmethod(Dropout.multiplicative_variance)


class AdditiveGaussian(Noise):
    """h + sigma * s * eps, with s the layer's activation standard deviation (per model, no grad).

    Scaling by the layer's own spread makes the strength a signal-to-noise ratio, comparable
    across layers and over training.
    """

    name = "additive"
    strength = "noise std relative to the layer's activation std"
    max_rate = math.inf
    multiplicative = False

    def train(self, h, rate, ctx):
        scale = h.detach().flatten(1).std(dim=1).view(-1, 1, 1)
        return h + _col(rate) * scale * ctx.streams.randn(*h.shape[1:])


class Ternary(Noise):
    """Mask on {0, g/2, g} with P(0) = a, P(g/2) = P(g) = (1-a)/2 and g = 4 / (3 (1-a)).

    E[mask] = (1-a)/2 * (g/2 + g) = 1 and Var[mask] = 10 / (9 (1-a)) - 1; the free parameter is
    the zero probability a. Matched to Bernoulli dropout's variance when 1 - p = 0.9 (1 - a).
    """

    name = "ternary"
    strength = "zero probability a"

    def factor(self, shape, rate, ctx):
        a = _col(rate)
        gamma = 4.0 / (3.0 * (1.0 - a))
        u = ctx.streams.rand(*shape[1:])
        half = (u >= a) & (u < a + (1.0 - a) / 2)
        full = u >= a + (1.0 - a) / 2
        return half * (gamma / 2) + full * gamma

    @staticmethod
    def multiplicative_variance(rate: float) -> float:
        return 10.0 / (9.0 * (1.0 - rate)) - 1.0


class AnnealedDropout(Dropout):
    """Our own design: inverted dropout whose rate decays linearly from p to 0 over training.

    Rationale: noise helps most early, when the net could memorise; late in training it only
    adds gradient variance that keeps SGD at lr 0.5 from settling. Identity at test, like dropout.
    """

    name = "annealed_dropout"
    strength = "initial drop probability p"

    def factor(self, shape, rate, ctx):
        return super().factor(shape, rate * (1.0 - ctx.progress), ctx)


# Exact per-example DropConnect works on one model and one chunk of examples at a time, holding
# about BYTES_PER_ENTRY bytes per mask entry (the 64-bit draws, the float mask, one product),
# so that a chunk's rows x out x in entries fit in MEMORY_BUDGET bytes however many models and
# examples a step has. The constants live with the memory model of a job (packing.py), which
# counts this chunk once per job, with the backward pass's peak.
def chunk_rows(out_features: int, in_features: int, budget: int = MEMORY_BUDGET) -> int:
    """Examples per chunk of exact DropConnect: the most whose masks fit in ``budget``."""
    return max(1, budget // (BYTES_PER_ENTRY * out_features * in_features))


class _PerExampleMasks(torch.autograd.Function):
    """y[m, b] = b[m] + (W[m] * M[m, b]) x[m, b] with a fresh inverted Bernoulli mask M[m, b]
    (0 or 1/keep[m]) on the weights for every model m and example b.

    x [M, B, in], w [M, out, in], b [M, 1, out]. The masks are drawn per model, ``chunk``
    examples at a time, from the model's own noise stream (``row_bits``, ``width`` random bits
    an entry), and built as floats one chunk at a time. The draws themselves are kept for the
    backward pass, which builds the same masks from them (``rows_from_bits``) instead of
    drawing again: B x out x in bytes per model at 8 bits (twice that with the counter
    streams' 32-bit words in int64), a quarter of the float masks, and half the random draws.
    """

    @staticmethod
    def forward(ctx, x, w, b, keep, streams, chunk, width):
        m_models, n, out_f = x.shape[0], x.shape[1], w.shape[1]
        shape, slots = tuple(w.shape[1:]), streams.SLOTS[width]
        ctx.save_for_backward(x, w)
        ctx.chunk, ctx.keep, ctx.width, ctx.slots = chunk, keep, width, slots
        ctx.bits = []  # [model][chunk]: the draws, for the backward pass
        y = b.expand(m_models, n, out_f).contiguous()
        for m in range(m_models):
            scaled = w[m] / keep[m]  # a kept weight, divided by 1-p
            drawn = []
            for lo in range(0, n, chunk):
                hi = min(n, lo + chunk)
                drawn.append(streams.row_bits(m, hi - lo, shape, width))
                mask = rows_from_bits(drawn[-1], shape, keep[m], None, slots, width)  # 0/1
                y[m, lo:hi] += torch.matmul(mask.mul_(scaled), x[m, lo:hi, :, None]).squeeze(-1)
            ctx.bits.append(drawn)
        return y

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        chunk, keep, shape = ctx.chunk, ctx.keep, tuple(w.shape[1:])
        gx = torch.empty_like(x) if ctx.needs_input_grad[0] else None
        gw = torch.zeros_like(w)
        for m in range(x.shape[0]):
            scaled = w[m] / keep[m]
            for i, lo in enumerate(range(0, x.shape[1], chunk)):
                hi = min(x.shape[1], lo + chunk)
                mask = rows_from_bits(ctx.bits[m][i], shape, keep[m], None, ctx.slots,
                                      ctx.width)  # the forward pass's masks
                gm = g[m, lo:hi]  # [c, out]
                if gx is not None:  # dL/dx_b = (W * M_b)^T g_b
                    gx[m, lo:hi] = torch.matmul(gm[:, None, :], mask * scaled).squeeze(1)
                # dL/dW[j] = sum_b g_bj (M_b[j] * x_b): one GEMV per output j over the chunk
                mask.mul_(x[m, lo:hi, None, :])
                gw[m] += torch.bmm(gm.t()[:, None, :], mask.transpose(0, 1)).squeeze(1)
            gw[m] /= keep[m]
        ctx.bits = None  # the draws are spent
        gb = g.sum(1, keepdim=True) if ctx.needs_input_grad[2] else None
        return gx, gw, gb, None, None, None, None


class DropConnect(Noise):
    """Weight-level dropout with a fresh Bernoulli mask on the weights for every example
    (Wan et al. 2013), inverted: a kept weight is divided by 1-p, so E[output] is the plain
    layer's. Exact, and costly: every example needs its own out x in mask (drawn in chunks,
    ``_PerExampleMasks``). Test time uses the mean weights.

    A mask entry takes ``width`` = 8 random bits (``spec.MASK_BITS``), so the keep rate is
    rounded to a multiple of 1/256 (at most 0.002 off): eight entries from each 64-bit draw of
    a generator where 16-bit entries took three, read from the draws' bytes in memory order
    (``masks_from_bits``); and the forward pass's draws are kept for the backward pass
    (``_PerExampleMasks``). At p = 0.5, one model, a CPU step went from 1 266 M instructions
    (16-bit masks drawn twice) to 365 M, 6.7x activation dropout's 54.5 M
    (``scripts/step_instructions.py``)."""

    name = "dropconnect"
    target = "weight"
    multiplicative = False
    strength = "weight drop probability p"
    budget: int = MEMORY_BUDGET
    width: ClassVar[int] = MASK_BITS["dropconnect"]

    def linear(self, x, w, b, rate, ctx):  # w [M, in, out], the orientation of x @ W
        w = w.transpose(1, 2)  # [M, out, in]: nn.Linear's layout, the mask's
        keep = [1.0 - float(r) for r in rate]
        return _PerExampleMasks.apply(x, w, b, keep, ctx.streams,
                                      chunk_rows(w.shape[1], w.shape[2], self.budget), self.width)

    multiplicative_variance = staticmethod(Dropout.multiplicative_variance)


class DropConnectGaussian(Noise):
    """A Gaussian approximation of per-example DropConnect (not DropConnect itself).

    For input x and weights W under an inverted Bernoulli(1-p) mask per example,
    y_j = sum_i x_i W_ij m_ij / (1-p) has mean (xW)_j and variance p/(1-p) * sum_i x_i^2 W_ij^2;
    this scheme draws y = xW + sqrt(var) * eps, eps ~ N(0, 1) (the moment-matched sampling of
    Wang & Manning, 2013). Exact in the mean and variance of each output (and, as with real
    masks, the outputs of one example are independent given x); an approximation in the shape
    of the distribution (a Bernoulli-weighted sum of a few large terms is far from Gaussian)
    and in the gradient, which flows through sqrt(var) instead of through the masks. Cheap:
    two GEMMs and one Gaussian draw per output. Test time uses the mean weights.
    """

    name = "dropconnect_gaussian"
    target = "weight"
    multiplicative = False
    strength = "weight drop probability p"

    def linear(self, x, w, b, rate, ctx):
        mean = torch.baddbmm(b, x, w)
        var = torch.bmm(x * x, w * w) * (_col(rate) / (1.0 - _col(rate)))
        return mean + torch.sqrt(var + 1e-12) * ctx.streams.randn(*mean.shape[1:])

    multiplicative_variance = staticmethod(Dropout.multiplicative_variance)


class DropConnectBatch(Noise):
    """Weight-level dropout with one mask per minibatch (per model): cheap, exact."""

    name = "dropconnect_batch"
    target = "weight"
    multiplicative = False
    strength = "weight drop probability p"

    def linear(self, x, w, b, rate, ctx):
        return torch.baddbmm(b, x, w * Dropout().factor(tuple(w.shape), rate, ctx))

    multiplicative_variance = staticmethod(Dropout.multiplicative_variance)


SCHEMES: dict[str, type[Noise]] = {
    cls.name: cls
    for cls in (Noise, Dropout, VanillaDropout, TorchDropout, GaussianMultiplicative,
                AdditiveGaussian, Ternary, AnnealedDropout, DropConnect, DropConnectGaussian,
                DropConnectBatch)
}


def scheme(name: str) -> Noise:
    try:
        return SCHEMES[name]()
    except KeyError:
        raise ValueError(f"unknown noise scheme {name!r}; known: {', '.join(SCHEMES)}") from None
