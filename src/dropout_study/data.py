"""Fashion-MNIST: find it, verify it, load it once as tensors, split it.

Resolution order (first hit wins): the config's ``data_dir``; ``data/fashion-mnist/`` in the
working directory; the Debian package's ``/usr/share/datasets/fashion-mnist/``; otherwise a
download through torchvision into ``data/fashion-mnist/``. Whatever the source, the four
decompressed IDX files are checked against their published MD5 sums.
"""

from __future__ import annotations

import gzip
import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .errors import DataError

# MD5 of the *decompressed* IDX files (the same numbers torchvision and the dataset's README use).
IDX_MD5 = {
    "train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
    "train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
    "t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
    "t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965",
}
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
LOCAL_DIR = Path("data/fashion-mnist")
CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)


def _file_in(directory: Path, stem: str) -> Path | None:
    for candidate in (directory / stem, directory / f"{stem}.gz",
                      directory / "FashionMNIST" / "raw" / stem,
                      directory / "FashionMNIST" / "raw" / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _complete(directory: Path) -> bool:
    return all(_file_in(directory, stem) is not None for stem in IDX_MD5)


def candidate_dirs(data_dir: str | os.PathLike | None) -> list[Path]:
    """The places searched, in order."""
    dirs = [Path(data_dir)] if data_dir else []
    return dirs + [LOCAL_DIR, DEBIAN_DIR]


def resolve_data_dir(data_dir: str | os.PathLike | None = None, download: bool = True) -> Path:
    """Return the first directory holding all four IDX files, downloading as a last resort."""
    if data_dir and not _complete(Path(data_dir)):
        missing = [s for s in IDX_MD5 if _file_in(Path(data_dir), s) is None]
        raise DataError(
            f"data_dir: {data_dir} lacks Fashion-MNIST files {', '.join(missing)} "
            "(expected the four *-ubyte or *-ubyte.gz IDX files)"
        )
    for directory in candidate_dirs(data_dir):
        if _complete(directory):
            return directory
    if not download:
        raise DataError(_not_found_message(data_dir))
    return _download(LOCAL_DIR)


def _not_found_message(data_dir: str | os.PathLike | None) -> str:
    places = ", ".join(str(d) for d in candidate_dirs(data_dir))
    return (
        f"Fashion-MNIST not found (looked in {places}). Offline, install the Debian package "
        "'dataset-fashion-mnist' or set data_dir in config.yaml; online, it is downloaded."
    )


def _download(target: Path) -> Path:  # pragma: no cover - needs the internet
    try:
        from torchvision.datasets import FashionMNIST

        FashionMNIST(root=str(target), train=True, download=True)
        FashionMNIST(root=str(target), train=False, download=True)
    except Exception as exc:  # noqa: BLE001 - any failure here means "no data"
        raise DataError(f"{_not_found_message(None)} Download failed: {exc}") from exc
    return target


def read_verified(path: Path, stem: str) -> bytes:
    """The decompressed bytes of one IDX file, after checking their MD5."""
    try:
        raw = path.read_bytes()
        data = gzip.decompress(raw) if path.suffix == ".gz" else raw
    except (EOFError, OSError, gzip.BadGzipFile) as exc:
        raise DataError(f"{path}: checksum failed: the file is truncated or corrupt "
                        f"({exc})") from exc
    digest = hashlib.md5(data).hexdigest()
    if digest != IDX_MD5[stem]:
        raise DataError(
            f"{path}: checksum mismatch (MD5 of the decompressed file is {digest}, "
            f"expected {IDX_MD5[stem]}); the file is truncated or corrupt, replace it"
        )
    return data


def parse_idx(data: bytes) -> np.ndarray:
    """Parse an IDX file (big-endian header: magic with dtype and rank, then the dims)."""
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise DataError("not an unsigned-byte IDX file")
    rank = data[3]
    dims = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(rank))
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * rank)
    if body.size != int(np.prod(dims)):
        raise DataError("IDX body does not match its header")
    return body.reshape(dims)


@dataclass(frozen=True)
class FashionMNIST:
    """The whole data set as uint8 tensors, with a fixed train/validation split."""

    train_images: torch.Tensor  # [60000, 784] uint8
    train_labels: torch.Tensor  # [60000] int64
    test_images: torch.Tensor  # [10000, 784] uint8
    test_labels: torch.Tensor  # [10000] int64
    train_index: torch.Tensor  # indices into train_* used for fitting
    val_index: torch.Tensor  # indices into train_* held out for model selection
    probe_index: torch.Tensor  # fixed images (from validation) for activation statistics
    source: str

    def save(self, path: str | os.PathLike) -> None:
        torch.save({k: getattr(self, k) for k in self.__dataclass_fields__}, path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> FashionMNIST:
        try:
            return cls(**torch.load(path, weights_only=True))
        except (OSError, RuntimeError, EOFError, TypeError) as exc:
            raise DataError(f"{path}: cannot read the prepared data set ({exc}); "
                            "delete it and rerun") from exc


def split_indices(n: int, val_size: int, split_seed: int, train_size: int | None,
                  probe_size: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A seeded permutation of ``range(n)``: the last ``val_size`` validate, the rest train."""
    if not 0 < val_size < n:
        raise DataError(f"validation_size must be in (0, {n}), got {val_size}")
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(split_seed))
    val, train = perm[n - val_size:], perm[: n - val_size]
    if train_size is not None:
        train = train[:train_size]
    return train.sort().values, val.sort().values, val[:probe_size].sort().values


def load_fashion_mnist(data_dir: str | os.PathLike | None = None, *, validation_size: int = 10000,
                       split_seed: int = 0, train_size: int | None = None,
                       probe_size: int = 1000, download: bool = True) -> FashionMNIST:
    directory = resolve_data_dir(data_dir, download=download)
    arrays = {}
    for stem in IDX_MD5:
        path = _file_in(directory, stem)
        assert path is not None
        arrays[stem] = parse_idx(read_verified(path, stem))
    train_x = torch.from_numpy(arrays["train-images-idx3-ubyte"].reshape(-1, 784).copy())
    test_x = torch.from_numpy(arrays["t10k-images-idx3-ubyte"].reshape(-1, 784).copy())
    train_y = torch.from_numpy(arrays["train-labels-idx1-ubyte"].astype(np.int64))
    test_y = torch.from_numpy(arrays["t10k-labels-idx1-ubyte"].astype(np.int64))
    train_idx, val_idx, probe_idx = split_indices(
        len(train_x), validation_size, split_seed, train_size, probe_size)
    return FashionMNIST(train_x, train_y, test_x, test_y, train_idx, val_idx, probe_idx,
                        source=str(directory.resolve()))


def stems() -> Iterable[str]:
    return IDX_MD5.keys()


def prepare(out: str | os.PathLike, data_dir: str | os.PathLike | None = None, *,
            validation_size: int = 10000, split_seed: int = 0, train_size: int | None = None,
            probe_size: int = 1000, download: bool = True) -> FashionMNIST:
    """Find, verify and split Fashion-MNIST (``load_fashion_mnist``), and write the prepared
    set to ``out`` whole or not at all: the ``prepare_data`` rule's work, and ``progress
    restore``'s where a restored study lacks its data."""
    from .io import atomic_write

    ds = load_fashion_mnist(data_dir, validation_size=validation_size, split_seed=split_seed,
                            train_size=train_size, probe_size=probe_size, download=download)
    atomic_write(out, ds.save)
    return ds
