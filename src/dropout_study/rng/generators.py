"""The "generator" streams (``ModelStreams``: one ``torch.Generator`` per model), the seed of a
named stream, and the keep-masks both kinds of stream build from random bits."""

from __future__ import annotations

import copy
import hashlib
import math

import torch

# Uniforms per random word for a mask entry of ``width`` bits: a generator's 64-bit draw has
# three whole 16-bit pieces (``random_``: uniform on [0, 2^63)) or, drawn over the full 64-bit
# range (``draw``), eight bytes; a counter stream's 32-bit word two 16-bit pieces or four bytes.
GENERATOR_SLOTS = {16: 3, 8: 8}
COUNTER_SLOTS = {16: 2, 8: 4}


def stream_seed(seed: int, name: str) -> int:
    """A 63-bit seed derived from (seed, name); stable across platforms and Python runs."""
    digest = hashlib.sha256(f"dropout-study:{seed}:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def generator(seed: int, name: str, device: torch.device | str = "cpu") -> torch.Generator:
    return torch.Generator(device=device).manual_seed(stream_seed(seed, name))


class ModelStreams:
    """The "generator" streams: one generator per model for one purpose (e.g. the noise of
    every model in a batch).

    ``name`` names the stream: one name for all models, or one per model (the calibration
    condition trains a copy of a condition under another noise-stream name)."""

    kind = "generator"
    SLOTS = GENERATOR_SLOTS  # mask entries a draw

    def __init__(self, seeds: list[int], name: str | list[str],
                 device: torch.device | str = "cpu"):
        self.device = torch.device(device)
        names = _names(seeds, name)
        self.generators = [generator(s, n, self.device) for s, n in zip(seeds, names,
                                                                         strict=True)]

    def __len__(self) -> int:
        return len(self.generators)

    def _filled(self, shape: tuple[int, ...], dtype: torch.dtype, fill) -> torch.Tensor:
        """[M, *shape], row m filled in place from generator m (no per-model tensors to stack)."""
        out = torch.empty(len(self.generators), *shape, dtype=dtype, device=self.device)
        for row, g in zip(out, self.generators, strict=True):
            fill(row, g)
        return out

    def rand(self, *shape: int) -> torch.Tensor:
        """Uniform [0, 1) draws of ``shape`` for every model, stacked: [M, *shape]."""
        return self._filled(shape, torch.float32, lambda t, g: t.uniform_(generator=g))

    def randn(self, *shape: int) -> torch.Tensor:
        return self._filled(shape, torch.float32, lambda t, g: t.normal_(generator=g))

    def keep_mask(self, shape: tuple[int, ...], keep: torch.Tensor,
                  value: torch.Tensor | None = None, width: int = 16) -> torch.Tensor:
        """Float masks [M, *shape]: ``value[m]`` (default 1) with probability ``keep[m]`` for
        model m, else 0; ``width`` random bits an entry (``masks_from_bits`` says how the draws
        become masks)."""
        n = 1
        for d in shape:
            n *= d
        slots = GENERATOR_SLOTS[width]
        bits = self._filled((-(-n // slots),), torch.int64, lambda t, g: draw(t, g, width))
        return masks_from_bits(bits, n, keep, value, slots, width).view(len(self.generators),
                                                                          *shape)

    def keep_rows(self, model: int, rows: int, shape: tuple[int, ...], keep: float,
                  value: float | None = None, width: int = 16) -> torch.Tensor:
        """``rows`` masks of ``shape`` for one model, [rows, *shape], from its generator: row r
        is what ``keep_mask(shape, ...)`` would draw as the r-th of ``rows`` calls for that
        model alone (``replay`` draws them again). Each row takes its own
        run of the stream, so drawing 10 rows at once or 3 then 7 gives the same masks (CPU
        generators are split-invariant; tested): the rows a caller draws at a time, and the
        other models of the batch, never change a model's masks."""
        return rows_from_bits(self.row_bits(model, rows, shape, width), shape, keep, value,
                              GENERATOR_SLOTS[width], width)

    def row_bits(self, model: int, rows: int, shape: tuple[int, ...],
                 width: int = 16) -> torch.Tensor:
        """The random draws of ``keep_rows`` (int64 [rows, words]), for a caller that keeps
        them to build the same masks again (``rows_from_bits``) without drawing twice."""
        n = 1
        for d in shape:
            n *= d
        words = -(-n // GENERATOR_SLOTS[width])
        return draw(torch.empty(rows, words, dtype=torch.int64, device=self.device),
                    self.generators[model], width)

    def state(self) -> list[torch.Tensor]:
        return [g.get_state() for g in self.generators]

    def set_state(self, states: list[torch.Tensor]) -> None:
        for g, s in zip(self.generators, states, strict=True):
            g.set_state(s)

    def replay(self, states: list[torch.Tensor]) -> ModelStreams:
        """A copy of these streams at ``states`` (an earlier ``state()``), for drawing the same
        numbers again; these streams are not moved."""
        other = copy.copy(self)
        other.generators = [torch.Generator(device=self.device) for _ in self.generators]
        other.set_state(states)
        return other

    def model_generators(self) -> list[torch.Generator]:
        """One torch generator per model, for torch's own random kernels (``TorchDropout``),
        which must leave each in the state it moved it to."""
        return self.generators


def _names(seeds: list[int], name: str | list[str]) -> list[str]:
    names = [name] * len(seeds) if isinstance(name, str) else list(name)
    if len(names) != len(seeds):
        raise ValueError(f"{len(names)} stream names for {len(seeds)} models")
    return names




def draw(t: torch.Tensor, g: torch.Generator, width: int) -> torch.Tensor:
    """Fill int64 ``t`` in place from generator ``g`` for masks of ``width``-bit entries: one
    ``random64`` a value either way; 16 bits use the low 48 of [0, 2^63), 8 bits all 64."""
    if width == 8:
        return t.random_(-(1 << 63), None, generator=g)
    return t.random_(generator=g)


def rows_from_bits(bits: torch.Tensor, shape: tuple[int, ...], keep: float,
                   value: float | None, slots: int, width: int) -> torch.Tensor:
    """One model's masks [rows, *shape] from its draws [rows, words] (``row_bits``)."""
    rows, n = bits.shape[0], math.prod(shape)
    k = torch.full((rows,), float(keep), device=bits.device)
    v = None if value is None else torch.full((rows,), float(value), device=bits.device)
    return masks_from_bits(bits, n, k, v, slots, width).view(rows, *shape)


def masks_from_bits(bits: torch.Tensor, n: int, keep: torch.Tensor,
                    value: torch.Tensor | None = None, slots: int = 3,
                    width: int = 16) -> torch.Tensor:
    """Float keep-masks [R, n] from int64 draws [R, words] (slots * words >= n): row r keeps
    with probability ``keep[r]`` and carries ``value[r]`` (default 1) where kept.

    16-bit entries (``width=16``): each 64-bit draw (``random_``: uniform on [0, 2^63), its low
    48 bits uniform) is split into three 16-bit uniforms, a third of the generator's work of
    one float per draw; ``slots=2`` takes the two 16-bit halves of a 32-bit word
    (``CounterStreams``' words) instead. Entry s * words + j is piece s of word j (planar). The
    keep probability is thereby rounded to a multiple of 1/65536 (an error below 1e-5).

    8-bit entries (``width=8``): entry e is byte e of the row's draws in memory order
    (little-endian: the low byte of a word first), ``slots`` = 8 bytes of a full-range 64-bit
    draw or 4 of a 32-bit word. The bytes are read as one contiguous block, so building the
    mask is a straight conversion, and a draw feeds eight entries; the keep probability is
    rounded to a multiple of 1/256 (an error of at most 1/512 ~ 0.002; a keep below 1/256 is
    rounded up to it).

    The mask is built in float32 throughout: on CPU, bool tensors and mixed-dtype products are
    an order of magnitude slower than float ones."""
    r, words = bits.shape
    if width == 8:
        if slots == 4:  # words in [0, 2^32): their low 32 bits as int32, then the bytes
            bits = (bits - ((bits >> 31) << 32)).to(torch.int32)
        u = torch.empty(r, slots * words, device=bits.device)
        u.copy_(bits.reshape(r, words).view(torch.uint8).view(r, slots * words))
        # u uniform on [0, 255]; keep iff u < round(keep * 256), i.e. u <= that - 1
        threshold = ((keep.reshape(-1, 1) * 256).round() - 1).clamp_(0, 255)
        kept = u.le_(threshold)
        if value is not None:
            kept.mul_(value.reshape(-1, 1))
        return kept[:, :n]
    if width != 16:
        raise ValueError(f"mask entries of {width} bits: only 16 or 8")
    # `slots` planes [R, slots, words] of float 16-bit uniforms (little-endian 16-bit pieces of
    # each word, low first; the 4th has 15 bits: never used), planar so that the mask below is
    # one contiguous block per row. As unsigned, u + 32768 is uniform on [0, 65535]; keep iff
    # u + 32768 < keep * 65536, i.e. u <= round(keep * 65536) - 32769 (integers, exact in
    # float32). keep = 1 keeps all; a keep below 1/65536 is rounded up to it.
    u = torch.empty(r, slots, words, device=bits.device)
    u.copy_(bits.view(torch.int16).view(r, words, 4)[:, :, :slots].transpose(1, 2))
    threshold = ((keep.reshape(-1, 1, 1) * 65536).round() - 32769).clamp_(-32768, 32767)
    kept = u.le_(threshold)
    if value is not None:
        kept.mul_(value.reshape(-1, 1, 1))
    return kept.view(r, slots * words)[:, :n]
