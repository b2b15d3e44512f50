"""Named, per-model random streams.

A seed's streams depend only on the seed and the stream's name, never on which other models
share its batch: that is what makes conditions paired by seed and batching invisible.
"""

from __future__ import annotations

import hashlib

import torch


def stream_seed(seed: int, name: str) -> int:
    """A 63-bit seed derived from (seed, name); stable across platforms and Python runs."""
    digest = hashlib.sha256(f"dropout-study:{seed}:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def generator(seed: int, name: str, device: torch.device | str = "cpu") -> torch.Generator:
    return torch.Generator(device=device).manual_seed(stream_seed(seed, name))


class ModelStreams:
    """One generator per model for one purpose (e.g. the noise of every model in a batch).

    ``name`` names the stream: one name for all models, or one per model (the calibration
    condition trains a copy of a condition under another noise-stream name)."""

    def __init__(self, seeds: list[int], name: str | list[str],
                 device: torch.device | str = "cpu"):
        self.device = torch.device(device)
        names = [name] * len(seeds) if isinstance(name, str) else list(name)
        if len(names) != len(seeds):
            raise ValueError(f"{len(names)} stream names for {len(seeds)} models")
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
                  value: torch.Tensor | None = None) -> torch.Tensor:
        """Float masks [M, *shape]: ``value[m]`` (default 1) with probability ``keep[m]`` for
        model m, else 0.

        Bernoulli draws are the dominant non-GEMM cost of a training step on CPU, so each
        64-bit draw (``random_``: uniform on [0, 2^63), its low 48 bits uniform) is split into
        three 16-bit uniforms: a third of the generator's work of one float per draw. The keep
        probability is thereby rounded to a multiple of 1/65536 (an error below 1e-5). The
        mask is built in float32 throughout: on CPU, bool tensors and mixed-dtype products
        are an order of magnitude slower than float ones."""
        m, n = len(self.generators), 1
        for d in shape:
            n *= d
        words = -(-n // 3)
        bits = self._filled((words,), torch.int64, lambda t, g: t.random_(generator=g))
        # three planes [M, 3, words] of float 16-bit uniforms (the 4th slot has 15 bits:
        # unused), planar so that the mask below is one contiguous block per model
        u = torch.empty(m, 3, words, device=self.device)
        u.copy_(bits.view(torch.int16).view(m, words, 4)[:, :, :3].transpose(1, 2))
        # as unsigned, u + 32768 is uniform on [0, 65535]; keep iff u + 32768 < keep * 65536,
        # i.e. u <= round(keep * 65536) - 32769 (integers, exact in float32). keep = 1 keeps
        # all; a keep below 1/65536 is rounded up to it.
        threshold = ((keep.reshape(-1, 1, 1) * 65536).round() - 32769).clamp_(-32768, 32767)
        kept = u.le_(threshold)
        if value is not None:
            kept.mul_(value.reshape(-1, 1, 1))
        return kept.view(m, 3 * words)[:, :n].view(m, *shape)

    def state(self) -> list[torch.Tensor]:
        return [g.get_state() for g in self.generators]

    def set_state(self, states: list[torch.Tensor]) -> None:
        for g, s in zip(self.generators, states, strict=True):
            g.set_state(s)
