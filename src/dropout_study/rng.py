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

    def state(self) -> list[torch.Tensor]:
        return [g.get_state() for g in self.generators]

    def set_state(self, states: list[torch.Tensor]) -> None:
        for g, s in zip(self.generators, states, strict=True):
            g.set_state(s)
