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
    """One generator per model for one purpose (e.g. the noise of every model in a batch)."""

    def __init__(self, seeds: list[int], name: str, device: torch.device | str = "cpu"):
        self.device = torch.device(device)
        self.generators = [generator(s, name, self.device) for s in seeds]

    def __len__(self) -> int:
        return len(self.generators)

    def rand(self, *shape: int) -> torch.Tensor:
        """Uniform [0, 1) draws of ``shape`` for every model, stacked: [M, *shape]."""
        return torch.stack([torch.rand(shape, generator=g, device=self.device)
                            for g in self.generators])

    def randn(self, *shape: int) -> torch.Tensor:
        return torch.stack([torch.randn(shape, generator=g, device=self.device)
                            for g in self.generators])

    def keep_mask(self, shape: tuple[int, ...], keep: torch.Tensor) -> torch.Tensor:
        """Boolean masks [M, *shape], True with probability ``keep[m]`` for model m.

        Each 32-bit draw is split into two 16-bit uniforms, which halves the generator's work
        against ``rand`` (the dominant non-GEMM cost of a training step on CPU). The keep
        probability is thereby rounded to a multiple of 1/65536 (an error below 1e-5)."""
        n = 1
        for d in shape:
            n *= d
        half = (n + 1) // 2
        bits = torch.stack([
            torch.randint(-2**31, 2**31 - 1, (half,), generator=g, device=self.device,
                          dtype=torch.int32) for g in self.generators]).view(torch.int16)
        # as unsigned, u = bits + 32768 is uniform on [0, 65535]; keep iff u < keep * 65536,
        # i.e. bits <= round(keep * 65536) - 32769, compared in int16 (an int32 threshold
        # would promote, and copy, every draw). keep = 1 keeps all; a keep below 1/65536 is
        # rounded up to it.
        threshold = ((keep.reshape(-1, 1) * 65536).round() - 32769).clamp_(-32768, 32767)
        return (bits[:, :n] <= threshold.to(torch.int16)).view(-1, *shape)

    def state(self) -> list[torch.Tensor]:
        return [g.get_state() for g in self.generators]

    def set_state(self, states: list[torch.Tensor]) -> None:
        for g, s in zip(self.generators, states, strict=True):
            g.set_state(s)
