"""Named, per-model random streams.

A seed's streams depend only on the seed and the stream's name, never on which other models
share its batch: that is what makes conditions paired by seed and batching invisible.

Two implementations offer one interface (``rand``, ``randn``, ``keep_mask``, ``keep_rows``,
``state``/``set_state``, ``replay``, ``model_generators``, ``len``, ``device``):

* ``ModelStreams`` ("generator"): one ``torch.Generator`` per model, row m of a draw filled
  from generator m: one kernel launch per model per draw.
* ``CounterStreams`` ("counter"): counter-based; word i of model m's stream is a hash of
  (model m's key, i), so a draw for all M models is a fixed number of tensor ops whatever M.

``make_streams`` picks one (``rng: auto`` is the counter on CUDA, the generator on CPU).
"""

from __future__ import annotations

import torch

from .counter import _HIGH, _MUL, MASK32, CounterStreams, counter_hash, normals_from_words
from .generators import ModelStreams, generator, masks_from_bits, rows_from_bits, stream_seed

__all__ = ["MASK32", "RNG_KINDS", "_HIGH", "_MUL", "CounterStreams", "ModelStreams",
           "counter_hash", "generator", "make_streams", "masks_from_bits", "normals_from_words",
           "resolve_rng", "rows_from_bits", "stream_seed"]

RNG_KINDS = ("auto", "counter", "generator")


def resolve_rng(kind: str, device: torch.device | str) -> str:
    """``auto``: the counter streams on CUDA, the per-model generators elsewhere (so that every
    CPU number stays what it was before the counter streams existed)."""
    if kind not in RNG_KINDS:
        raise ValueError(f"rng: {kind!r} is not one of {', '.join(RNG_KINDS)}")
    if kind == "auto":
        return "counter" if torch.device(device).type == "cuda" else "generator"
    return kind


def make_streams(seeds: list[int], name: str | list[str], device: torch.device | str = "cpu",
                 kind: str = "auto") -> ModelStreams | CounterStreams:
    """The streams of ``kind`` (``RNG_KINDS``) for these models."""
    cls = CounterStreams if resolve_rng(kind, device) == "counter" else ModelStreams
    return cls(seeds, name, device)
