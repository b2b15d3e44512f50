import pytest
import torch

from dropout_study.device import resolve_device, set_determinism
from dropout_study.errors import UserError


def test_auto_picks_cuda_only_when_torch_sees_it():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    assert resolve_device("cpu").type == "cpu"


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_asking_for_cuda_without_one_is_a_clear_error():
    with pytest.raises(UserError, match="device: 'cuda'.*no CUDA device"):
        resolve_device("cuda")


def test_float32_means_float32():
    set_determinism(False)
    assert not torch.backends.cuda.matmul.allow_tf32
    assert not torch.backends.cudnn.allow_tf32


def test_one_thread_is_singular():
    import torch

    from dropout_study.device import device_name

    saved = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        assert device_name(torch.device("cpu")).endswith(", 1 thread)")
        torch.set_num_threads(2)
        assert device_name(torch.device("cpu")).endswith(", 2 threads)")
    finally:
        torch.set_num_threads(saved)
