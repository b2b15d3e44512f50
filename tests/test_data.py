import gzip
import shutil

import pytest
import torch

from dropout_study.data import IDX_MD5, load_fashion_mnist, parse_idx, resolve_data_dir
from dropout_study.errors import DataError


def test_real_data_loads_verified_and_split(real_data_dir):
    ds = load_fashion_mnist(real_data_dir, validation_size=10000, download=False)
    assert ds.train_images.shape == (60000, 784) and ds.test_images.shape == (10000, 784)
    assert ds.train_images.dtype == torch.uint8
    assert len(ds.train_index) == 50000 and len(ds.val_index) == 10000
    assert not set(ds.train_index.tolist()) & set(ds.val_index.tolist())
    assert set(ds.probe_index.tolist()) <= set(ds.val_index.tolist())
    assert torch.bincount(ds.test_labels).tolist() == [1000] * 10
    again = load_fashion_mnist(real_data_dir, validation_size=10000, download=False)
    assert torch.equal(ds.val_index, again.val_index)  # fixed, seeded split


@pytest.fixture
def data_copy(real_data_dir, tmp_path):
    for f in real_data_dir.glob("*-ubyte.gz"):
        shutil.copy(f, tmp_path / f.name)
    return tmp_path


def test_corrupt_file_is_refused_by_checksum_naming_the_file(data_copy):
    path = data_copy / "t10k-labels-idx1-ubyte.gz"
    raw = bytearray(gzip.decompress(path.read_bytes()))
    raw[100] ^= 0xFF
    path.write_bytes(gzip.compress(bytes(raw)))
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte.gz.*checksum"):
        load_fashion_mnist(data_copy, download=False)


def test_truncated_file_is_refused_naming_the_file(data_copy):
    path = data_copy / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[: 100_000])
    with pytest.raises(DataError, match="train-images-idx3-ubyte.gz.*checksum"):
        load_fashion_mnist(data_copy, download=False)


def test_decompressed_files_are_accepted(data_copy):
    for stem in IDX_MD5:
        gz = data_copy / f"{stem}.gz"
        (data_copy / stem).write_bytes(gzip.decompress(gz.read_bytes()))
        gz.unlink()
    assert len(load_fashion_mnist(data_copy, download=False).test_labels) == 10000


def test_config_data_dir_comes_first_and_must_be_complete(tmp_path, data_copy):
    assert resolve_data_dir(data_copy, download=False) == data_copy
    with pytest.raises(DataError, match="data_dir.*lacks"):
        resolve_data_dir(tmp_path / "empty", download=False)


def test_parse_idx_reads_header_and_refuses_garbage():
    raw = bytes([0, 0, 8, 2]) + (2).to_bytes(4, "big") + (3).to_bytes(4, "big") + bytes(range(6))
    assert parse_idx(raw).tolist() == [[0, 1, 2], [3, 4, 5]]
    with pytest.raises(DataError):
        parse_idx(raw[:-1])
