import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DEBIAN_DATA = Path("/usr/share/datasets/fashion-mnist")


@pytest.fixture(scope="session", autouse=True)
def calibration_cache(tmp_path_factory):
    """The wall-time calibration's cache, for the whole session in a scratch folder: the tests
    (and the studies they start, which inherit the environment) never read or write the user's
    ~/.cache, and calibrate once."""
    saved = os.environ.get("DROPOUT_STUDY_CACHE")
    os.environ["DROPOUT_STUDY_CACHE"] = str(tmp_path_factory.mktemp("calibration-cache"))
    yield Path(os.environ["DROPOUT_STUDY_CACHE"])
    if saved is None:
        os.environ.pop("DROPOUT_STUDY_CACHE", None)
    else:
        os.environ["DROPOUT_STUDY_CACHE"] = saved


@pytest.fixture(scope="session")
def real_data_dir() -> Path:
    """The real Fashion-MNIST, from the Debian package (never downloaded in tests)."""
    if not (DEBIAN_DATA / "train-images-idx3-ubyte.gz").exists():
        msg = "Fashion-MNIST missing: apt-get install dataset-fashion-mnist"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    return DEBIAN_DATA


@pytest.fixture(scope="session")
def small_dataset(real_data_dir, tmp_path_factory):
    """The real data set with a small fixed training subset, saved as the pipeline saves it."""
    from dropout_study.data import load_fashion_mnist

    ds = load_fashion_mnist(real_data_dir, validation_size=1000, train_size=1024,
                            probe_size=128, download=False)
    path = tmp_path_factory.mktemp("data") / "fashion-mnist.pt"
    ds.save(path)
    return ds, path


def need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        msg = f"{tool} is not installed (.ci/run installs it)"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    return path


SLOW = {"integration", "browser", "slurm", "cuda"}


def pytest_collection_modifyitems(items):
    """Everything that trains or starts a service (or needs a GPU) is also ``slow``:
    ``pytest -m 'not slow'`` runs the claim and unit tests alone, in well under a minute."""
    for item in items:
        if SLOW & {m.name for m in item.iter_markers()}:
            item.add_marker(pytest.mark.slow)
