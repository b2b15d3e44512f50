"""Time the random numbers of one training step under both kinds of stream (``rng/``).

    PYTHONPATH=src python scripts/bench_rng.py                 # the reference job, on CPU
    PYTHONPATH=src python scripts/bench_rng.py --device cuda --models 80
    PYTHONPATH=src python scripts/bench_rng.py --check-cuda    # counter bits: CPU == CUDA?

For the reference job (10 models, batch 256, two hidden layers of 256) it times, per kind
(``generator``: one torch.Generator per model; ``counter``: ``CounterStreams``):

* dropout: the keep masks of one step, [M, batch, hidden] for each hidden layer (what
  ``Dropout.factor`` draws);
* gaussian: the normals of one step, the same shapes (``GaussianMultiplicative``);
* dropconnect: the per-example weight masks of one chunk of examples for one model
  (``keep_rows``, ``noise.chunk_rows`` rows of hidden x hidden), what exact DropConnect draws
  per chunk, per model and per layer, in its forward pass and again in its backward;

with the current torch thread count (``--threads`` sets it), and prints seconds per draw (the
median of ``--repeats`` after ``--warmup``) and the ratio counter / generator. Only the random
numbers are timed, not the GEMMs they feed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch

from dropout_study.noise import chunk_rows
from dropout_study.rng import CounterStreams, ModelStreams

KINDS = {"generator": ModelStreams, "counter": CounterStreams}


def draws(streams, models: int, batch: int, hidden: int, layers: int, rows: int,
          device: torch.device) -> dict:
    keep = torch.full((models,), 0.8, device=device)
    inv = 1.0 / keep

    def dropout():
        for _ in range(layers):
            streams.keep_mask((batch, hidden), keep, inv)

    def gaussian():
        for _ in range(layers):
            streams.randn(batch, hidden)

    def dropconnect():
        streams.keep_rows(0, rows, (hidden, hidden), 0.8)

    return {"dropout step": dropout, "gaussian step": gaussian,
            f"dropconnect chunk ({rows} rows)": dropconnect}


def seconds(fn, device: torch.device, warmup: int, repeats: int) -> float:
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bench(args) -> None:
    device = torch.device(args.device)
    rows = args.rows or chunk_rows(args.hidden, args.hidden)
    seeds = list(range(args.models))
    print(f"{args.models} models, batch {args.batch}, {args.layers} hidden layers of "
          f"{args.hidden}, on {device} with {torch.get_num_threads()} threads; median of "
          f"{args.repeats} after {args.warmup} warm-up draws")
    results = {}
    for kind, cls in KINDS.items():
        fns = draws(cls(seeds, "noise", device), args.models, args.batch, args.hidden,
                    args.layers, rows, device)
        for name, fn in fns.items():
            results[name, kind] = seconds(fn, device, args.warmup, args.repeats)
    print(f"{'draw':<34}{'generator s':>14}{'counter s':>14}{'counter/generator':>20}")
    for name in dict.fromkeys(n for n, _ in results):
        g, c = results[name, "generator"], results[name, "counter"]
        print(f"{name:<34}{g:>14.6f}{c:>14.6f}{c / g:>20.3f}")


def check_cuda() -> int:
    """The counter streams' draws on CPU and on CUDA, compared bit for bit."""
    if not torch.cuda.is_available():
        print("no CUDA device")
        return 2
    seeds, bad = [0, 1, 7, 42], 0
    cpu, gpu = CounterStreams(seeds, "noise", "cpu"), CounterStreams(seeds, "noise", "cuda")
    keep = torch.tensor([0.5, 0.8, 0.2, 1.0])
    checks = [("words", lambda s, d: s.words(100_003)),
              ("keep_mask", lambda s, d: s.keep_mask((256, 255), keep.to(d), 1 / keep.to(d))),
              ("rand", lambda s, d: s.rand(300, 7)),
              ("randn", lambda s, d: s.randn(256, 257)),
              ("keep_rows", lambda s, d: s.keep_rows(2, 5, (64, 33), 0.7, 1 / 0.7))]
    for name, fn in checks:
        a, b = fn(cpu, "cpu"), fn(gpu, "cuda").cpu()
        same = torch.equal(a, b)
        bad += not same
        diff = "" if same else f" (max |diff| {float((a.double() - b.double()).abs().max()):.3g})"
        print(f"{name:<10} CPU == CUDA: {same}{diff}")
    # and past 2^32 words, where the position's high word enters the hash
    for s in (cpu, gpu):
        s.set_state([torch.full((len(seeds),), 2 ** 32 - 10, dtype=torch.int64)])
    same = torch.equal(cpu.words(50), gpu.words(50).cpu())
    bad += not same
    print(f"{'words>2^32':<10} CPU == CUDA: {same}")
    return 1 if bad else 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", type=int, default=10)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--rows", type=int, default=0,
                   help="examples per DropConnect chunk (0: noise.chunk_rows, as training)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: leave as is)")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--check-cuda", action="store_true",
                   help="compare the counter streams' bits on CPU and CUDA instead")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.check_cuda:
        return check_cuda()
    bench(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
