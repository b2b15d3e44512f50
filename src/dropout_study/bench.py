"""``dropout-study bench``: batched training against the book's loop and the matmul limit.

Three measurements in one process, on the same data: (1) the device's peak float32 matmul rate,
the best over a few square GEMMs and the batched shapes of the training step (TF32 off);
(2) the reference config trained the book's way (torchvision dataset, DataLoader with
ToTensor, one ``nn.Sequential`` with ``nn.Dropout``, ``torch.optim.SGD``); (3) the same config
as one batched job of N seeds. The roofline is the matmul FLOPs the batched step really does
per model-epoch (``flops_per_model_epoch``: no input gradient for the first layer) at the peak
rate.
"""

from __future__ import annotations

import gzip
import json
import math
import resource
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .data import IDX_MD5, load_fashion_mnist, resolve_data_dir
from .device import device_name, resolve_device, set_determinism
from .model import N_IN, N_OUT
from .spec import Condition, JobSpec
from .train import DeviceData, Trainer

HIDDEN = 256
BATCH = 256  # the reference config's minibatch
PARAMS = 784 * HIDDEN + HIDDEN + HIDDEN * HIDDEN + HIDDEN + HIDDEN * 10 + 10  # 269 322


def layer_sizes(hidden: int = HIDDEN, n_hidden_layers: int = 2) -> list[int]:
    """The widths of the MLP from input to output: [784, hidden, ..., hidden, 10]."""
    return [N_IN] + [hidden] * n_hidden_layers + [N_OUT]


def step_flops_per_image(sizes: Sequence[int]) -> int:
    """The matmul FLOPs one model spends on one training image in one SGD step.

    Per layer of ``in`` x ``out`` weights: the forward product 2·in·out, the weight gradient
    2·in·out, and the gradient with respect to the layer's input 2·in·out for every layer but
    the first (the images need none: ``BatchedMLP.sgd_step`` does not compute it, nor does the
    autograd step, whose input does not require a gradient). Left out, as not matmul work:
    bias adds and bias gradients, ReLU, the noise masks and gates, softmax and the loss, the
    weight decay's scaling and the minibatch gather; they are O(in + out) per image and layer
    against the matmuls' O(in·out).
    """
    layers = list(zip(sizes[:-1], sizes[1:], strict=True))
    forward_and_weights = sum(4 * i * o for i, o in layers)
    inputs = sum(2 * i * o for i, o in layers[1:])
    return forward_and_weights + inputs


def flops_per_model_epoch(images: int, sizes: Sequence[int] | None = None) -> int:
    """The matmul FLOPs of one model's training epoch over ``images`` images (the reference
    MLP unless ``sizes`` says otherwise)."""
    return images * step_flops_per_image(sizes or layer_sizes())


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def best_seconds(fn: Callable[[], object], device: torch.device, repeats: int = 10,
                 min_seconds: float = 0.005) -> float:
    """The fastest of ``repeats`` timings of ``fn``, seconds per call. A call too short to
    time alone (a kernel launch costs microseconds on a GPU) is repeated inside each timing
    until the timing lasts ``min_seconds``."""
    fn()  # warm-up: allocator, kernel choice
    _sync(device)
    inner = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(inner):
            fn()
        _sync(device)
        if time.perf_counter() - t0 >= min_seconds or inner >= 1 << 14:
            break
        inner *= 2
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(inner):
            fn()
        _sync(device)
        best = min(best, (time.perf_counter() - t0) / inner)
    return best


@dataclass(frozen=True)
class MatmulShape:
    """One (batched) matrix product: ``batch`` independent [m, k] @ [k, n] products; the
    operands' layouts as the training step has them where ``step`` names the product."""

    batch: int
    m: int
    k: int
    n: int
    step: str = ""  # "forward", "weight gradient", "input gradient"; "" for a square GEMM

    @property
    def flops(self) -> int:
        return 2 * self.batch * self.m * self.k * self.n

    @property
    def label(self) -> str:
        if not self.step:
            return f"{self.m}x{self.k}x{self.n}"
        return f"{self.step} {self.batch}x[{self.m}x{self.k}]@[{self.k}x{self.n}]"


def step_shapes(models: int, batch: int = BATCH,
                sizes: Sequence[int] | None = None) -> list[MatmulShape]:
    """The distinct batched products of one ``BatchedMLP.sgd_step`` of ``models`` models: per
    layer the forward x W^T [B, in]@[in, out], the weight gradient g^T x [out, B]@[B, in] and,
    above the first layer, the input gradient g W [B, out]@[out, in]."""
    sizes = sizes or layer_sizes()
    layers = list(zip(sizes[:-1], sizes[1:], strict=True))
    shapes = []
    for j, (i, o) in enumerate(layers):
        shapes.append(MatmulShape(models, batch, i, o, "forward"))
        shapes.append(MatmulShape(models, o, batch, i, "weight gradient"))
        if j > 0:
            shapes.append(MatmulShape(models, batch, o, i, "input gradient"))
    return list(dict.fromkeys(shapes))


def _product(shape: MatmulShape, device: torch.device) -> Callable[[], torch.Tensor]:
    """The product of ``shape`` on random float32 operands laid out as the step has them."""
    s = shape
    if not s.step:
        a, b = torch.randn(s.m, s.k, device=device), torch.randn(s.k, s.n, device=device)
        return lambda: a @ b
    if s.step == "forward":  # x [M, B, in] @ w^T, w [M, out, in]
        x, w = torch.randn(s.batch, s.m, s.k, device=device), \
            torch.randn(s.batch, s.n, s.k, device=device)
        return lambda: torch.bmm(x, w.transpose(1, 2))
    if s.step == "weight gradient":  # g^T x, g [M, B, out], x [M, B, in]
        g, x = torch.randn(s.batch, s.k, s.m, device=device), \
            torch.randn(s.batch, s.k, s.n, device=device)
        return lambda: torch.bmm(g.transpose(1, 2), x)
    g, w = torch.randn(s.batch, s.m, s.k, device=device), \
        torch.randn(s.batch, s.k, s.n, device=device)  # g [M, B, out] @ w [M, out, in]
    return lambda: torch.bmm(g, w)


def square_sizes(device: torch.device) -> tuple[int, ...]:
    """The square GEMMs tried for the peak: larger ones on a GPU, which needs them to fill."""
    return (1024, 2048, 4096) if device.type == "cuda" else (1024, 2048)


@dataclass
class Peak:
    """The best float32 matmul rate over the products tried, and each product's rate."""

    rates: dict[str, float] = field(default_factory=dict)  # label -> FLOP/s

    @property
    def flops(self) -> float:
        return max(self.rates.values())

    @property
    def shape(self) -> str:
        return max(self.rates, key=self.rates.__getitem__)

    def merged(self, other: Peak) -> Peak:
        """The better rate of each product over two measurements."""
        keys = dict.fromkeys([*self.rates, *other.rates])
        return Peak({k: max(self.rates.get(k, 0.0), other.rates.get(k, 0.0)) for k in keys})


def peak_matmul(device: torch.device, shapes: Sequence[MatmulShape],
                repeats: int = 10) -> Peak:
    """Each product's best-of-``repeats`` float32 rate (FLOP/s) on ``device``. TF32 must be
    off (``set_determinism`` turns it off) for the rate to be float32's."""
    if device.type == "cuda" and torch.backends.cuda.matmul.allow_tf32:
        raise RuntimeError("TF32 matmuls are on: the rate would not be float32's")
    return Peak({s.label: s.flops / best_seconds(_product(s, device), device, repeats)
                 for s in shapes})


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


@dataclass(frozen=True)
class Batched:
    """The timing of one batched job: seconds per model-epoch (evaluation excluded), the
    training images, and the images one epoch trains on (whole minibatches: drop_last)."""

    seconds: float
    images: int
    trained: int


def batched_seconds_per_model_epoch(device: torch.device, seeds: int, epochs: int,
                                    data_dir: str | None = None) -> Batched:
    """Time ``epochs`` training epochs of the reference config as one batched job of
    ``seeds`` models on the full 60 000 training images, after one untimed warm-up epoch."""
    ds = load_fashion_mnist(data_dir, validation_size=100, download=False)
    data = DeviceData.from_dataset(ds, device)
    full = torch.cat([ds.train_index, ds.val_index])  # the full 60 000 training images
    data.train.x = ds.train_images[full].to(device=device, dtype=torch.float32).div_(255)
    data.train.y = ds.train_labels[full].to(device)
    cond = Condition("bench", "reference", rates=(0.2, 0.5), epochs=epochs, batch_size=BATCH)
    trainer = Trainer(JobSpec("bench", "j000", [cond], list(range(seeds))), data, device)
    if not trainer.model.has_fused_step:  # the step that the FLOP count describes
        raise RuntimeError("the reference config no longer takes the hand-written step")
    trainer.train_epoch(1)  # warm-up (allocator, kernels), not timed
    _sync(device)
    t0 = time.perf_counter()
    for e in range(epochs):
        trainer.train_epoch(e + 2)
    _sync(device)
    seconds = (time.perf_counter() - t0) / (epochs * seeds)
    n = len(data.train.y)
    return Batched(seconds, n, min(n, trainer.steps_per_epoch * BATCH))


def summary(device: str, seeds: int, epochs: int, batched: Batched, reference: float,
            peak: Peak) -> dict:
    """The bench's result from its measurements: the FLOPs really done per model-epoch, the
    rate the batched training reached with them, and that rate against the peak."""
    flops = flops_per_model_epoch(batched.trained)
    achieved = flops / batched.seconds
    limit = flops / peak.flops
    return {
        "device": device, "seeds": seeds, "epochs": epochs, "images": batched.images,
        "images_per_epoch": batched.trained,
        "seconds_per_model_epoch": round(batched.seconds, 4),
        "reference_seconds_per_epoch": round(reference, 4),
        "speedup": round(reference / batched.seconds, 2),
        "flops_per_model_epoch": flops,
        "achieved_flops": round(achieved),
        "peak_flops": round(peak.flops),
        "peak_shape": peak.shape,
        "fraction_of_peak": round(achieved / peak.flops, 3),
        "roofline_seconds_per_model_epoch": round(limit, 4),
        "roofline_fraction": round(limit / batched.seconds, 3),
        "matmul_flops": {k: round(v) for k, v in peak.rates.items()},
    }


def bench(device_arg: str = "auto", seeds: int = 10, epochs: int = 2,
          reference_epochs: int = 1, data_dir: str | None = None) -> dict:
    device = resolve_device(device_arg)
    set_determinism(False)  # and TF32 off: the peak and the training are float32's
    shapes = [MatmulShape(1, n, n, n) for n in square_sizes(device)] + step_shapes(seeds)
    # The peak is measured before and after the training timings and each product's higher
    # rate kept: a machine whose speed drifts (a shared VM) cannot flatter the fraction.
    peak = peak_matmul(device, shapes)
    batched = batched_seconds_per_model_epoch(device, seeds, epochs, data_dir)
    reference = reference_epoch_seconds(resolve_data_dir(data_dir, download=False), device,
                                        reference_epochs)
    peak = peak.merged(peak_matmul(device, shapes))
    out = summary(device_name(device), seeds, epochs, batched, reference, peak)
    out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    out["threads"] = torch.get_num_threads()
    if device.type == "cuda":
        out["peak_gpu_mb"] = round(torch.cuda.max_memory_allocated(device) / 2**20, 1)
    return out


def print_bench(result: dict, json_path: Path | None = None) -> None:
    """One line per field, then the result as one JSON line (and, with ``json_path``, as a
    JSON file)."""
    for k, v in result.items():
        print(f"{k:>34}: {v}")
    text = json.dumps(result)
    if json_path is not None:
        from .io import atomic_write_text

        atomic_write_text(json_path, text + "\n")
    print(text)
