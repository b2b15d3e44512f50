"""The packing of conditions into jobs (``conditions_per_job`` / ``threads_per_job``: auto) and
the memory model of a job on a GPU, with planted GPU memory sizes: no GPU needed."""

import pytest

from dropout_study import packing
from dropout_study.errors import ConfigError
from dropout_study.packing import GIB, Shape, job_memory, model_bytes, models_that_fit
from dropout_study.plan import all_jobs

from .test_config import resolve

H100, SMALL, H200 = 80 * GIB, 16 * GIB, 141 * GIB
REFERENCE = Shape()  # the book's MLP: 784-256-256-10, batch 256, 50 000 training images


def on_gpus(cfg, *memories):
    """``cfg`` resolved as on a machine whose GPUs have these memories."""
    return packing.resolve(cfg, gpus=list(memories))


def names(cfg):
    return {(e, j.job) for e, js in all_jobs(cfg).items() for j in js}


def test_the_reference_models_memory_is_the_sum_of_its_parts():
    """The model, worked by hand for the reference shape: 269 322 parameters x 4 copies x 4
    bytes, an int64 minibatch order over 50 000 images, and the largest phase: an evaluation
    chunk of 2 500 images x (3 x 256 hidden + 4 x 10) floats (a training step of 256 images
    x (784 + 2 x 256 x 6 + 40) floats is smaller)."""
    assert packing.parameters(256) == 269_322
    train = 256 * (784 + 2 * 256 * 6 + 40) * 4
    evaluation = 2500 * (3 * 256 + 40) * 4
    assert train < evaluation
    assert model_bytes(REFERENCE) == 269_322 * 4 * 4 + 50_000 * 8 + evaluation == 12_789_152
    # the data set: 80 000 images (train, its eval slice, validation, test) and the probe
    assert packing.data_bytes(REFERENCE) == 80_000 * (784 * 4 + 8) + 1000 * 784 * 4
    assert job_memory(REFERENCE, 10) - job_memory(REFERENCE, 9) == model_bytes(REFERENCE)


@pytest.mark.parametrize("memory", [SMALL, H100, H200])
def test_the_most_models_that_fit_are_under_the_budget_and_one_more_is_not(memory):
    n = models_that_fit(REFERENCE, memory)
    assert job_memory(REFERENCE, n) <= 0.6 * memory < job_memory(REFERENCE, n + 1)


def test_more_memory_fits_more_models_and_wider_models_fewer():
    fits = [models_that_fit(REFERENCE, m) for m in (SMALL, H100, H200)]
    assert fits == sorted(fits) and fits[0] > 500  # hundreds of reference models on 16 GiB
    # each GiB of budget beyond the fixed part (data set, CUDA context) holds more models
    assert fits[2] - fits[0] == pytest.approx(0.6 * (H200 - SMALL) / model_bytes(REFERENCE),
                                              abs=1)
    wide = Shape(hidden=1024)
    assert models_that_fit(wide, H100) < models_that_fit(REFERENCE, H100) / 3
    probed = Shape(probe=True)  # exercise 3's probe batch, 1 000 images
    assert model_bytes(probed) > model_bytes(REFERENCE)
    assert models_that_fit(REFERENCE, 0.5 * GIB) == 0  # the CUDA context alone is 0.5 GiB


def test_exact_dropconnect_counts_its_chunk_once_and_its_kept_draws_per_model():
    """Exact DropConnect walks the models one at a time, a chunk of examples whose masks fit
    in MEMORY_BUDGET (the same constant noise.py chunks by): a fixed cost per job, with the
    backward pass's peak above the budget it counts; and it keeps every model's random draws
    of a step for the backward pass: KEPT_DRAW_BYTES per mask entry, per example."""
    from dropout_study import noise

    assert noise.MEMORY_BUDGET is packing.MEMORY_BUDGET
    assert noise.BYTES_PER_ENTRY is packing.BYTES_PER_ENTRY
    rows = noise.chunk_rows(256, 256)
    assert rows * packing.BYTES_PER_ENTRY * 256 * 256 <= packing.MEMORY_BUDGET
    exact, dropout = Shape(noise="dropconnect"), Shape(noise="dropout")
    kept = 256 * (256 * 256 + 256 * 10) * packing.KEPT_DRAW_BYTES  # batch x entries x bytes
    assert model_bytes(exact) - model_bytes(dropout) == kept
    extra = job_memory(exact, 1) - job_memory(dropout, 1) - kept
    assert extra == job_memory(exact, 100) - job_memory(dropout, 100) - 100 * kept
    assert packing.MEMORY_BUDGET < extra <= 3 * packing.MEMORY_BUDGET
    # the cheap weight schemes hold their noisy weights whole, per model
    assert model_bytes(Shape(noise="dropconnect_batch")) > model_bytes(dropout)


def test_conditions_per_job_is_at_least_one_and_at_most_the_group():
    assert packing.conditions_that_fit(REFERENCE, 10, 16, H200) == 16
    assert packing.conditions_that_fit(REFERENCE, 10, 16, 1 * GIB) == 1  # halved when it runs
    n = models_that_fit(REFERENCE, 2 * GIB)
    assert packing.conditions_that_fit(REFERENCE, 10, 16, 2 * GIB) == n // 10 < 16


def test_on_a_cpu_auto_is_todays_packing_and_keeps_every_job_name():
    auto = resolve(device="cpu")
    assert auto["conditions_per_job"] == "auto" and auto["threads_per_job"] == "auto"
    assert auto["packing"]["device"] == "cpu"
    assert auto["packing"]["conditions_per_job"] == 1 and auto["packing"]["threads_per_job"] == 0
    explicit = resolve(device="cpu", conditions_per_job=1, threads_per_job=0)
    assert names(auto) == names(explicit) and len(names(auto)) == 140  # the README's plan
    # a preset's explicit values are kept, on any device
    for cfg in (resolve(preset="quick", device="cpu"), on_gpus(resolve(preset="quick"), H100)):
        assert cfg["packing"]["conditions_per_job"] == 8
        assert cfg["packing"]["threads_per_job"] == 1


@pytest.mark.parametrize("memory", [SMALL, H100, H200])
def test_on_a_gpu_the_full_study_packs_each_shape_into_one_job(memory):
    cfg = on_gpus(resolve(), memory)
    p = cfg["packing"]
    assert p["device"] == "cuda" and p["conditions_per_job"] == "memory"
    assert p["gpu_memory_gib"] == memory / GIB and p["gpus"] == 1
    jobs = all_jobs(cfg)
    assert sum(len(js) for js in jobs.values()) == 36  # 140 on a CPU
    assert max(len(j.models) for js in jobs.values() for j in js) == 160  # exercise 1's grid
    for js in jobs.values():
        assert len({c.batch_key() for j in js for c in j.conditions}) == len(js)  # one a shape
        for j in js:
            assert packing.job_memory_of(j, cfg) <= 0.6 * memory
    cpu = all_jobs(resolve(device="cpu"))
    pairs = {(e, c.name, s) for e, js in jobs.items() for j in js for c, s in j.models}
    assert pairs == {(e, c.name, s) for e, js in cpu.items() for j in js for c, s in j.models}


def test_a_small_gpu_splits_a_shape_into_jobs_that_fit():
    cfg = on_gpus(resolve(), 2 * GIB)
    layer_rates = all_jobs(cfg)["layer_rates"]
    assert 1 < len(layer_rates) < 16
    for j in layer_rates:
        assert packing.job_memory_of(j, cfg) <= 0.6 * 2 * GIB
    assert sum(len(j.conditions) for j in layer_rates) == 16


@pytest.mark.parametrize("memory", [2 * GIB, H100])
def test_seed_blocks_do_not_depend_on_the_device_and_added_seeds_keep_finished_jobs(memory):
    cpu, gpu = resolve(device="cpu"), on_gpus(resolve(), memory)
    blocks = lambda cfg: {tuple(j.seeds) for js in all_jobs(cfg).values() for j in js}  # noqa: E731
    assert blocks(cpu) == blocks(gpu)
    ten, twenty = on_gpus(resolve(seeds=10), memory), on_gpus(resolve(seeds=20), memory)
    assert names(ten) < names(twenty)  # seeds 10-19 add jobs; none of 0-9 is renamed
    # a precision round's cut seed blocks never repack the jobs before them
    five = on_gpus(resolve(seeds=5), memory)
    experiments = list(all_jobs(five))
    round_2 = all_jobs(five, {e: 15 for e in experiments}, {e: (5,) for e in experiments})
    assert names(five) <= {(e, j.job) for e, js in round_2.items() for j in js}


def test_auto_device_with_gpus_packs_for_the_smallest_and_splits_the_cores(monkeypatch):
    monkeypatch.setattr(packing, "local_gpus", lambda: [H200, H100])
    monkeypatch.setattr(packing, "cpu_cores", lambda: 16)
    cfg = resolve()  # device: auto, as in config.yaml
    assert cfg["device"] == "auto"  # the jobs' specs (and names) keep the config's device
    p = cfg["packing"]
    assert p["device"] == "cuda" and p["gpus"] == 2 and p["gpu_memory_gib"] == 80
    assert p["threads_per_job"] == 8  # --cores all: one training job per GPU
    assert resolve(gpu_memory=40)["packing"]["gpu_memory_gib"] == 40  # the config wins
    monkeypatch.setattr(packing, "local_gpus", lambda: [])
    assert resolve()["packing"]["device"] == "cpu"


def test_where_the_jobs_run_elsewhere_the_packing_follows_from_the_config_alone(monkeypatch):
    """A cluster: the submitting host has no GPU and the nodes do; both must plan alike."""
    monkeypatch.setattr(packing, "local_gpus", lambda: pytest.fail("looked at this machine"))
    from dropout_study import config as cfgmod

    from .test_config import RAW, ROOT

    cuda = cfgmod.resolve(RAW, {"device": "cuda", "gpu_memory": 80}, project=ROOT,
                          detect=False)
    assert cuda["packing"]["device"] == "cuda" and cuda["packing"]["gpu_memory_gib"] == 80
    auto = cfgmod.resolve(RAW, {}, project=ROOT, detect=False)
    assert auto["packing"]["device"] == "cpu"  # as the study always planned device: auto
    with pytest.raises(ConfigError, match="config key 'gpu_memory'.*--config gpu_memory="):
        cfgmod.resolve(RAW, {"device": "cuda"}, project=ROOT, detect=False)
    explicit = cfgmod.resolve(RAW, {"device": "cuda", "conditions_per_job": 4}, project=ROOT,
                              detect=False)
    assert explicit["packing"]["conditions_per_job"] == 4  # no memory needed


@pytest.mark.parametrize("over, key, words", [
    ({"conditions_per_job": "many"}, "conditions_per_job", "give an integer or auto"),
    ({"conditions_per_job": 0}, "conditions_per_job", "less than the minimum of 1"),
    ({"threads_per_job": "all"}, "threads_per_job", "give an integer or auto"),
    ({"threads_per_job": -1}, "threads_per_job", "less than the minimum of 0"),
    ({"gpu_memory": 0}, "gpu_memory", "less than or equal to the minimum of 0"),
    ({"gpu_memory": "big"}, "gpu_memory", "is invalid"),
])
def test_bad_packing_values_name_their_key(over, key, words):
    with pytest.raises(ConfigError, match=f"config key '{key}'.*{words}"):
        resolve(**over)


def test_the_resolved_config_cannot_be_given_a_packing_of_its_own():
    with pytest.raises(ConfigError, match="unknown config key 'packing'"):
        resolve(packing={"device": "cuda"})


def test_without_nvidias_driver_the_gpus_are_not_looked_for_with_torch(tmp_path):
    """`plan` and the Snakefile resolve `device: auto` on every start: on a machine without
    NVIDIA's driver that costs no torch import."""
    import subprocess
    import sys

    if packing.NVIDIA_DRIVER.exists():
        pytest.skip("this machine has NVIDIA's driver")
    code = ("import sys; from dropout_study import packing; "
            "print(packing.local_gpus(), 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.stdout.split() == ["[]", "False"], out.stderr[-2000:]


def test_the_snakefiles_dag_packs_as_plan_does(tmp_path):
    """`snakemake -n --config device=cuda gpu_memory=141` on a machine without a GPU: the
    training jobs of the DAG are plan's, and where the memory is missing the key is named."""
    import re

    from .snakemake_run import snakemake

    out = snakemake(tmp_path, "-n", "--cores", "1", "--config", "device=cuda", "gpu_memory=141",
                    timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    counts = dict(re.findall(r"^(train\w*)\s+(\d+)$", out.stdout + out.stderr, re.M))
    jobs = all_jobs(resolve(device="cuda", gpu_memory=141))
    assert sum(int(n) for n in counts.values()) == sum(len(js) for js in jobs.values()) == 36
    if not packing.local_gpus():
        out = snakemake(tmp_path, "-n", "--cores", "1", "--config", "device=cuda",
                        timeout=300)
        assert out.returncode != 0 and "config key 'gpu_memory'" in out.stdout + out.stderr
