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


# -- a GPU of its own for each training job: the picker, with fake devices (lock names) ------

def test_a_job_claims_the_first_gpu_no_other_job_holds(tmp_path):
    import os

    from dropout_study.device import _try_lock, claim_gpu

    keys = ["gpu-a", "gpu-b", "gpu-c"]
    other = _try_lock(tmp_path / "gpu-a.lock")  # another job holds GPU 0
    try:
        index, fd = claim_gpu(keys, tmp_path, log=lambda m: None)
        assert index == 1 and fd is not None
        second, fd2 = claim_gpu(keys, tmp_path, log=lambda m: None)
        assert second == 2  # GPU 1 is now this job's
        os.close(fd)  # the job ends: its GPU is free again
        third, fd3 = claim_gpu(keys, tmp_path, log=lambda m: None)
        assert third == 1
        os.close(fd2)
        os.close(fd3)
    finally:
        os.close(other)
    index, fd = claim_gpu(keys, tmp_path, log=lambda m: None)
    assert index == 0
    os.close(fd)


def test_with_every_gpu_held_a_job_waits_for_one(tmp_path):
    import os

    from dropout_study.device import _try_lock, claim_gpu

    keys = ["gpu-a", "gpu-b"]
    held = {k: _try_lock(tmp_path / f"{k}.lock") for k in keys}
    messages, naps = [], []

    def sleep(seconds):  # while this job waits, the job on GPU 1 ends
        naps.append(seconds)
        if len(naps) == 2:
            os.close(held.pop("gpu-b"))

    index, fd = claim_gpu(keys, tmp_path, poll=0.5, sleep=sleep, log=messages.append)
    assert index == 1 and naps == [0.5, 0.5]
    assert "waiting for a free GPU: all 2 are held" in messages[0]
    assert "--resources gpu=2" in messages[0]
    assert messages[-1] == "GPU 1 is free after 1 s"
    os.close(fd)
    os.close(held.pop("gpu-a"))


def test_one_gpu_or_no_lock_folder_falls_back_to_device_0(tmp_path):
    import os

    from dropout_study.device import claim_gpu

    index, fd = claim_gpu(["gpu-only"], tmp_path, log=lambda m: None)
    assert index == 0 and fd is not None  # one GPU: it, held while the job runs
    os.close(fd)
    assert claim_gpu([], tmp_path, log=lambda m: None) == (0, None)
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    messages = []
    assert claim_gpu(["gpu-a", "gpu-b"], blocked / "locks", log=messages.append) == (0, None)
    assert "no GPU lock" in messages[0] and "using GPU 0" in messages[0]


def test_gpus_are_named_alike_in_every_process_of_the_machine(monkeypatch):
    """By UUID where torch gives one, else by the index among all devices
    (CUDA_VISIBLE_DEVICES), so that jobs seeing other subsets still name a GPU alike."""
    from types import SimpleNamespace

    from dropout_study import device

    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "get_device_properties",
                        lambda i: SimpleNamespace(uuid=f"u{i}"))
    assert device.gpu_keys() == ["gpu-u0", "gpu-u1"]
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda i: SimpleNamespace())
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5")
    assert device.gpu_keys() == ["gpu-index-3", "gpu-index-5"]
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    assert device.gpu_keys() == ["gpu-index-0", "gpu-index-1"]


def test_a_cpu_job_claims_nothing(tmp_path, monkeypatch):
    from dropout_study import device

    monkeypatch.setenv(device.GPU_LOCKS, str(tmp_path / "locks"))
    with device.claimed(torch.device("cpu"), log=lambda m: None) as d:
        assert d == torch.device("cpu")
    assert not (tmp_path / "locks").exists()
