import dataclasses
import json

import pytest

from dropout_study.plan import all_jobs, runtime_minutes
from dropout_study.selection import select_strengths
from dropout_study.spec import JobSpec

from .test_config import resolve


def test_jobs_cover_every_condition_and_seed_once():
    cfg = resolve(preset="quick")
    for name, jobs in all_jobs(cfg).items():
        pairs = [(c.name, s) for j in jobs for c, s in j.models]
        assert len(pairs) == len(set(pairs)), name
        for j in jobs:
            assert len({c.batch_key() for c in j.conditions}) == 1
            assert len(j.conditions) <= cfg["conditions_per_job"]
            assert len(j.seeds) <= cfg["seeds_per_job"]


def test_seeds_per_job_splits_seed_blocks():
    cfg = resolve(seeds=10, seeds_per_job=4)
    jobs = all_jobs(cfg)["layer_rates"]
    assert sorted(len(j.seeds) for j in jobs if j.conditions[0].name == "p1=0,p2=0") == [2, 4, 4]


def test_tuning_seeds_are_fresh_and_final_jobs_read_the_selection():
    cfg = resolve()
    jobs = all_jobs(cfg)
    tuning = {s for j in jobs["noise_tuning"] for s in j.seeds}
    final = {s for j in jobs["noise_final"] for s in j.seeds}
    assert tuning and final and not tuning & final
    assert all(j.rates_from for j in jobs["noise_final"])
    spec = JobSpec.from_json(jobs["noise_final"][0].to_json())
    assert spec.rates_from == jobs["noise_final"][0].rates_from


def test_a_final_job_trains_and_labels_the_selected_strength(tmp_path):
    """The selection gives each scheme its rates and its strength label (the runs table's
    factor_strength), never the config's placeholder."""
    from dropout_study.train import apply_selection

    cfg = resolve(preset="quick")
    job = all_jobs(cfg)["noise_final"][0]
    chosen = {c.name: {"rates": [0.3, 0.3], "strength": 0.3} for c in job.conditions}
    placeholder = {dict(c.factors)["strength"] for c in job.conditions}
    assert 0.3 not in placeholder  # the planned labels are not the chosen strength
    path = tmp_path / "noise_selection.json"
    path.write_text(json.dumps(chosen))
    spec = apply_selection(dataclasses.replace(job, rates_from=str(path)))
    assert all(c.rates == (0.3, 0.3) for c in spec.conditions)
    assert all(dict(c.factors)["strength"] == 0.3 for c in spec.conditions)
    assert all(dict(c.factors)["method"] == dict(p.factors)["method"]
               for c, p in zip(spec.conditions, job.conditions, strict=True))


def test_runtime_limit_grows_with_the_job():
    cfg = resolve()
    small, big = (all_jobs(resolve(preset=p))["long_training"][0] for p in ("smoke", "full"))
    assert 10 < runtime_minutes(small, 4000) < runtime_minutes(big, 50000)
    assert runtime_minutes(big, 50000, "cuda") < runtime_minutes(big, 50000, "cpu")
    assert cfg["preset"] == "full"


def test_selection_prefers_stable_settings_then_validation_accuracy():
    import pandas as pd

    rows, runs = [], []
    for strength, val, diverged in ((0.1, 0.80, False), (0.3, 0.90, True), (0.5, 0.85, False)):
        cond = f"x,s={strength}"
        for epoch in (1, 2, 3):
            rows.append({"experiment": "noise_tuning", "condition": cond, "seed": 1000,
                         "epoch": epoch, "val_acc": val, "test_acc": 0.5, "train_eval_acc": 1.0,
                         "test_loss": 1.0, "train_loss": 0.5 if not diverged or epoch < 2
                         else float("nan"), "diverged": diverged})
        runs.append({"experiment": "noise_tuning", "condition": cond, "seed": 1000,
                     "diverged": diverged, "factor_method": "x", "factor_strength": strength})
    chosen = select_strengths(pd.DataFrame(rows), pd.DataFrame(runs), k=2)
    assert chosen["x"]["rates"] == [0.5, 0.5]
    # a collapse of the validation accuracy (unstable, not diverged) also ranks a setting
    # below the stable ones, its mean (0.895) above theirs notwithstanding
    for r in rows:
        if r["condition"] == "x,s=0.3":
            r["diverged"], r["train_loss"] = False, 0.5
            r["val_acc"] = {1: 0.95, 2: 0.84, 3: 0.95}[r["epoch"]]
    for r in runs:
        r["diverged"] = False
    chosen = select_strengths(pd.DataFrame(rows), pd.DataFrame(runs), k=2)
    assert chosen["x"]["rates"] == [0.5, 0.5]
    assert json.loads(json.dumps(chosen))["x"]["strength"] == pytest.approx(0.5)
    # the same collapse in the test accuracy alone decides nothing (STUDY.md revision 4: the
    # test set picks nothing): the setting is stable and best on validation
    for r in rows:
        if r["condition"] == "x,s=0.3":
            r["val_acc"], r["test_acc"] = 0.90, {1: 0.8, 2: 0.5, 3: 0.8}[r["epoch"]]
    chosen = select_strengths(pd.DataFrame(rows), pd.DataFrame(runs), k=2)
    assert chosen["x"]["rates"] == [0.3, 0.3]


def test_schedule_packs_jobs_on_slots_and_waits_for_dependencies():
    from dropout_study.estimate import schedule

    assert schedule({"a": [3.0, 2.0, 1.0]}, slots=1) == 6.0
    assert schedule({"a": [3.0, 2.0, 1.0]}, slots=2) == 3.0  # 3 | 2+1
    # b's jobs start only once all of a's are done, even with a slot free
    assert schedule({"a": [4.0], "b": [1.0, 1.0]}, slots=3, after={"b": "a"}) == 5.0
    assert schedule({"a": [4.0], "c": [1.0, 1.0]}, slots=3) == 4.0


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DROPOUT_STUDY_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def trained(monkeypatch):
    """Every training epoch run in this process: (number of models, steps)."""
    from dropout_study.train import Trainer

    epochs = []
    real = Trainer.train_epoch

    def counting(self, epoch, on_step=None):
        epochs.append((self.model.n_models, self.steps_per_epoch))
        return real(self, epoch, on_step)

    monkeypatch.setattr(Trainer, "train_epoch", counting)
    return epochs


def test_wall_estimate_measures_each_scheme_once_then_trains_nothing(cache, trained,
                                                                   monkeypatch):
    from dropout_study import calibration as cal
    from dropout_study.calibration import CALIBRATION_MODELS, CALIBRATION_STEPS
    from dropout_study.estimate import estimate_wall

    monkeypatch.setattr(cal, "others_load", lambda *a: 0.0)  # kept even on a busy machine

    smoke = resolve(preset="smoke")
    schemes = {j.conditions[0].noise for js in all_jobs(smoke).values() for j in js}
    rows: list[dict] = []
    small = estimate_wall(smoke, "cpu", cores=2, log=lambda m: None, jobs_out=rows)
    # one warm-up and one timed epoch of a few steps per noise scheme, not per job shape
    assert len(trained) == 2 * len(schemes) < sum(len(js) for js in all_jobs(smoke).values())
    assert sorted(trained) == sorted(
        (cal.calibration_models(s), cal.calibration_steps(s)) for s in schemes for _ in "ab")
    assert (CALIBRATION_MODELS, CALIBRATION_STEPS) in trained  # the cheap schemes
    assert cal.calibration_models("dropconnect") * cal.calibration_steps("dropconnect") \
        < CALIBRATION_MODELS * CALIBRATION_STEPS  # exact DropConnect: a shorter measurement
    assert (cache / "calibration.json").exists()
    trained.clear()
    bigger = estimate_wall(resolve(preset="smoke", seeds=4), "cpu", cores=2, log=lambda m: None)
    assert trained == []  # the cache answers: nothing trained
    assert small["device"] == "cpu" and small["parallel_jobs"] == 2  # threads_per_job: 1
    assert 0 < small["job_seconds"] < bigger["job_seconds"]
    assert small["wall_seconds"] < small["job_seconds"] + 60  # two jobs at a time overlap
    assert len(rows) == sum(len(js) for js in all_jobs(smoke).values())
    assert abs(sum(r["seconds"] for r in rows) - small["job_seconds"]) < len(rows)


def test_a_jobs_estimate_grows_with_its_flops():
    from dropout_study.estimate import job_cost

    jobs = all_jobs(resolve())["capacity"]
    cal = {"dropout": {"train_s_per_gflop": 0.01, "eval_s_per_gflop": 0.01}}
    by_width = sorted((j.conditions[0].hidden, job_cost(j, cal)["step"]) for j in jobs
                      if j.conditions[0].noise == "dropout")
    steps = [s for _, s in by_width]
    assert steps == sorted(steps) and steps[0] < steps[-1] / 10


def test_cheaper_ways_are_named_only_past_an_hour():
    from dropout_study.estimate import cheaper_ways

    assert cheaper_ways(resolve(), 3599, "cpu") == []
    ways = cheaper_ways(resolve(), 3601, "cpu")
    assert any("preset=quick" in w for w in ways) and any("GPU" in w for w in ways)
    assert not any("GPU" in w for w in cheaper_ways(resolve(), 3601, "cuda:0"))
    assert not any("preset=quick" in w for w in cheaper_ways(resolve(preset="quick"), 9e3,
                                                            "cpu"))


def test_plan_prints_one_aligned_table_and_json_only_on_request(cache, trained, capsys,
                                                               monkeypatch):
    from dropout_study import calibration as cal
    from dropout_study.cli import main

    monkeypatch.setattr(cal, "others_load", lambda *a: 0.0)  # kept even on a busy machine

    assert main(["plan", "--set", "preset=smoke", "--cores", "2"]) == 0
    out, err = capsys.readouterr()
    assert "calibrated" not in err and "{" not in out
    lines = out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("experiment"))
    end = next(i for i, line in enumerate(lines) if line.startswith("estimated"))
    table, rule = lines[header:end], lines[header + 1]
    edges = [i for i, ch in enumerate(rule) if ch == "-" and rule[i + 1:i + 2] in ("", " ")]
    for row in table:  # every column ends where the rule under the header ends
        for e in edges[1:]:
            assert row[e] != " ", (row, e)
    assert any(r.startswith("layer_rates_newer ") for r in table)
    assert "estimated wall time with --cores 2 on cpu" in out
    trained.clear()
    assert main(["plan", "--set", "preset=smoke", "--cores", "2", "--json"]) == 0
    out, _ = capsys.readouterr()
    summary = json.loads(out)
    assert summary["preset"] == "smoke" and summary["jobs"] == 30 and summary["wall_seconds"] > 0
    assert trained == []  # calibrated by the first call: the second trains nothing


def test_exact_dropconnect_jobs_get_its_step_cost():
    from dropout_study.plan import STEP_COST, estimate_seconds

    jobs = {j.conditions[0].noise: j for j in all_jobs(resolve())["weight_dropout"]}
    exact, approx = jobs["dropconnect"], jobs["dropconnect_gaussian"]
    assert len(exact.models) == len(approx.models)  # the same shape, another scheme
    assert estimate_seconds(exact, 50000) > 5 * estimate_seconds(approx, 50000)  # STEP_COST 8
    assert STEP_COST.get("dropconnect_gaussian", 1.0) == 1.0
    assert runtime_minutes(exact, 50000) > runtime_minutes(approx, 50000)


def test_plan_shows_the_rounds_a_precision_target_may_need():
    from dropout_study.plan import precision_rounds

    cfg = resolve(preset="smoke", seeds_per_job=2,
                  precision={"enabled": True, "max_seeds": 10, "step": 4})
    r = precision_rounds(cfg, 4000)
    assert r["seeds"] == [2, 6, 10] and r["rounds"] == 3
    assert r["first"]["jobs"] == sum(len(js) for js in all_jobs(cfg).values())
    # at the cap every non-tuning job has seeds 0-9, cut at the rounds: blocks 0-1, 2-3, 4-5,
    # 6-7, 8-9 (aligned to 2, and cut at 2 and 6)
    per_group = r["cap"]["jobs"] - len(all_jobs(cfg)["noise_tuning"])
    assert per_group == 5 * (r["first"]["jobs"] - len(all_jobs(cfg)["noise_tuning"]))
    assert precision_rounds(resolve(preset="smoke"), 4000) is None


def test_plan_shows_the_gpu_packing_without_a_gpu(cache, trained, capsys):
    """`plan --device cuda --gpu-memory 141`: the jobs, models per job and each experiment's
    largest job's memory, on a machine with or without a GPU; it trains nothing."""
    from dropout_study.cli import main

    assert main(["plan", "--device", "cuda", "--gpu-memory", "141", "--no-estimate"]) == 0
    out, _ = capsys.readouterr()
    lines = out.splitlines()
    assert lines[1].startswith("packing on cuda (141 GiB per GPU: gpu_memory; a job plans for "
                               "60% of it): conditions per job auto")
    header = next(line for line in lines if line.startswith("experiment"))
    assert header.split()[-3:] == ["models/job", "GPU", "memory/job"]
    rows = {line.split()[0]: line.split() for line in lines if line.startswith(("layer_rates ",
                                                                                "total "))}
    assert rows["layer_rates"][1:6] == ["1", "160", "1600", "160", "2.6"]  # one job of 16 x 10
    # the largest job: exact DropConnect's 50 models with a step's kept draws
    assert rows["total"][1:6] == ["36", "1260", "18400", "10-160", "3.1"]
    assert trained == []
    assert main(["plan", "--device", "cuda", "--gpu-memory", "16", "--json",
                 "--no-estimate"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["jobs"] == 36 and summary["packing"]["gpu_memory_gib"] == 16
    assert summary["experiments"]["layer_rates"]["models_per_job"] == [160, 160]
    assert 2 < summary["experiments"]["layer_rates"]["gpu_memory_gib"] < 0.6 * 16


def test_plan_on_a_cpu_shows_todays_packing(capsys):
    from dropout_study.cli import main

    assert main(["plan", "--device", "cpu", "--no-estimate"]) == 0
    out = capsys.readouterr().out
    assert "packing on cpu: conditions per job 1, seeds per job 10, threads per job all of " \
           "--cores" in out
    assert "GPU memory" not in out
    total = next(line for line in out.splitlines() if line.startswith("total")).split()
    assert total[1:6] == ["140", "1260", "18400", "3-10"]


def test_plan_for_cuda_asks_for_the_gpu_memory_where_it_sees_no_gpu(capsys):
    import torch

    from dropout_study.cli import main

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU: plan reads its memory")
    assert main(["plan", "--device", "cuda", "--no-estimate"]) == 2
    err = capsys.readouterr().err
    assert "config key 'gpu_memory'" in err and "dropout-study plan --gpu-memory" in err
    assert main(["plan", "--device", "cuda", "--gpu-memory", "0", "--no-estimate"]) == 2
    assert "config key 'gpu_memory'" in capsys.readouterr().err
    # the time estimate is measured on the device: said, not attempted
    assert main(["plan", "--device", "cuda", "--gpu-memory", "80"]) == 0
    assert "no time estimate: it is measured on the GPU, and this machine has none" in \
        capsys.readouterr().out


def test_a_calibration_on_a_busy_machine_is_used_once_said_and_not_kept(cache, monkeypatch):
    from dropout_study import calibration as cal

    said: list[str] = []
    rates = {"train_s_per_gflop": 1.0, "eval_s_per_gflop": 1.0}
    monkeypatch.setattr(cal, "measure_rates",
                        lambda schemes, *a, **k: ({s: rates for s in schemes}, 1.5))
    assert cal.calibration(["dropout"], "cpu", 2, log=lambda m: None,
                            warn=said.append) == {"dropout": rates}
    assert len(said) == 1 and "1.5 cores busy" in said[0] and "not kept" in said[0]
    assert not (cache / "calibration.json").exists()
    # measured on a quiet machine: kept, and nothing said
    monkeypatch.setattr(cal, "measure_rates",
                        lambda schemes, *a, **k: ({s: rates for s in schemes}, 0.1))
    said.clear()
    cal.calibration(["dropout"], "cpu", 2, log=lambda m: None, warn=said.append)
    assert said == [] and (cache / "calibration.json").exists()


def test_the_load_of_other_processes_is_measured():
    """Two processes spinning beside a sleeping one keep more than half a core busy."""
    import os
    import subprocess
    import sys
    import time

    from dropout_study.calibration import BUSY_CORES, cpu_busy_seconds, others_load

    if cpu_busy_seconds() is None:
        pytest.skip("no /proc/stat")
    spin = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    try:
        time.sleep(0.5)
        t = os.times()
        start = cpu_busy_seconds(), t.user + t.system, time.perf_counter()
        time.sleep(1.5)
        assert others_load(*start) > BUSY_CORES
    finally:
        for p in spin:
            p.kill()
            p.wait()


def test_the_rng_key_reaches_every_job_and_renames_only_when_set():
    """``rng: auto`` leaves every job as it was named before the key existed; an explicit
    generator changes what is trained, so it names other jobs."""
    auto = all_jobs(resolve(preset="smoke"))
    counter = all_jobs(resolve(preset="smoke", rng="counter"))
    assert all(j.rng == "counter" for js in counter.values() for j in js)
    assert all(j.rng == "auto" for js in auto.values() for j in js)
    names = lambda jobs: {j.job for js in jobs.values() for j in js}  # noqa: E731
    assert not names(auto) & names(counter)
