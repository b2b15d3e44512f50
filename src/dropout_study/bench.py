"""``dropout-study bench``: batched training against the book's loop and the GEMM limit.

Three timings in one process, on the same data: (1) the machine's float32 GEMM rate; (2) the
reference config trained the book's way (torchvision dataset, DataLoader with ToTensor, one
``nn.Sequential`` with ``nn.Dropout``, ``torch.optim.SGD``); (3) the same config as one batched
job of N seeds. The roofline is 6 x images x parameters FLOPs per model-epoch (forward 2,
backward 4) at the measured GEMM rate.
"""

from __future__ import annotations

import gzip
import json
import resource
import tempfile
import time
from pathlib import Path

import torch

from .data import IDX_MD5, load_fashion_mnist, resolve_data_dir
from .device import device_name, resolve_device, set_determinism
from .spec import Condition, JobSpec
from .train import DeviceData, Trainer

HIDDEN = 256
PARAMS = 784 * HIDDEN + HIDDEN + HIDDEN * HIDDEN + HIDDEN + HIDDEN * 10 + 10  # 268 288


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def gemm_flops(device: torch.device, n: int = 2048, repeats: int = 10) -> float:
    """Best-of-``repeats`` float32 GEMM rate, FLOP/s."""
    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)
    a @ b
    _sync(device)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        a @ b
        _sync(device)
        best = min(best, time.perf_counter() - t0)
    return 2 * n ** 3 / best


def reference_epoch_seconds(data_dir: Path, device: torch.device, epochs: int = 1,
                            workers: int = 4) -> float:
    """The book's training loop, timed per epoch (seconds, mean over ``epochs``)."""
    from torch import nn
    from torch.utils.data import DataLoader
    from torchvision import datasets, transforms

    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "FashionMNIST" / "raw"
        raw.mkdir(parents=True)
        for stem in IDX_MD5:  # torchvision wants the decompressed IDX files in <root>/.../raw
            src = data_dir / f"{stem}.gz"
            data = gzip.decompress(src.read_bytes()) if src.exists() else \
                (data_dir / stem).read_bytes()
            (raw / stem).write_bytes(data)
        train = datasets.FashionMNIST(tmp, train=True, transform=transforms.ToTensor(),
                                      download=False)
        loader = DataLoader(train, batch_size=256, shuffle=True, num_workers=workers)
        torch.manual_seed(0)
        net = nn.Sequential(nn.Flatten(), nn.Linear(784, HIDDEN), nn.ReLU(), nn.Dropout(0.2),
                            nn.Linear(HIDDEN, HIDDEN), nn.ReLU(), nn.Dropout(0.5),
                            nn.Linear(HIDDEN, 10)).to(device)
        opt = torch.optim.SGD(net.parameters(), lr=0.5)
        loss_fn = nn.CrossEntropyLoss()
        t0 = time.perf_counter()
        for _ in range(epochs):
            net.train()
            for x, y in loader:
                x, y = x.to(device), y.to(device)
                opt.zero_grad()
                loss_fn(net(x), y).backward()
                opt.step()
        _sync(device)
        return (time.perf_counter() - t0) / epochs


def batched_seconds_per_model_epoch(device: torch.device, seeds: int, epochs: int,
                                    data_dir: str | None = None) -> tuple[float, float]:
    """Training time per model-epoch of one batched job (evaluation excluded), and the
    number of training images."""
    ds = load_fashion_mnist(data_dir, validation_size=100, download=False)
    data = DeviceData.from_dataset(ds, device)
    full = torch.cat([ds.train_index, ds.val_index])  # the full 60 000 training images
    data.train.x = ds.train_images[full].to(device=device, dtype=torch.float32).div_(255)
    data.train.y = ds.train_labels[full].to(device)
    cond = Condition("bench", "reference", rates=(0.2, 0.5), epochs=epochs)
    trainer = Trainer(JobSpec("bench", "j000", [cond], list(range(seeds))), data, device)
    trainer.train_epoch(1)  # warm-up (allocator, kernels), not timed
    _sync(device)
    t0 = time.perf_counter()
    for e in range(epochs):
        trainer.train_epoch(e + 2)
    _sync(device)
    return (time.perf_counter() - t0) / (epochs * seeds), len(data.train.y)


def bench(device_arg: str = "auto", seeds: int = 10, epochs: int = 2,
          reference_epochs: int = 1, data_dir: str | None = None) -> dict:
    device = resolve_device(device_arg)
    set_determinism(False)
    # The GEMM rate is measured before and after the training timings and the higher one is
    # kept: a machine whose speed drifts (a shared VM) cannot flatter the roofline fraction.
    flops = gemm_flops(device, repeats=20)
    per_model_epoch, n = batched_seconds_per_model_epoch(device, seeds, epochs, data_dir)
    reference = reference_epoch_seconds(resolve_data_dir(data_dir, download=False), device,
                                        reference_epochs)
    flops = max(flops, gemm_flops(device, repeats=20))
    limit = 6 * n * PARAMS / flops
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out = {
        "device": device_name(device), "seeds": seeds, "epochs": epochs, "images": n,
        "seconds_per_model_epoch": round(per_model_epoch, 4),
        "reference_seconds_per_epoch": round(reference, 4),
        "speedup": round(reference / per_model_epoch, 2),
        "gemm_flops": round(flops),
        "roofline_seconds_per_model_epoch": round(limit, 4),
        "roofline_fraction": round(limit / per_model_epoch, 3),
        "peak_rss_mb": round(rss, 1),
        "threads": torch.get_num_threads(),
    }
    if device.type == "cuda":
        out["peak_gpu_mb"] = round(torch.cuda.max_memory_allocated(device) / 2**20, 1)
    return out


def print_bench(result: dict) -> None:
    for k, v in result.items():
        print(f"{k:>34}: {v}")
    print(json.dumps(result))
