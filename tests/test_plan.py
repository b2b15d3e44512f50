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
    # a collapse (unstable, not diverged) also ranks a setting below the stable ones
    for r in rows:
        if r["condition"] == "x,s=0.3":
            r["diverged"], r["train_loss"] = False, 0.5
            r["test_acc"] = {1: 0.8, 2: 0.5, 3: 0.8}[r["epoch"]]
    for r in runs:
        r["diverged"] = False
    chosen = select_strengths(pd.DataFrame(rows), pd.DataFrame(runs), k=2)
    assert chosen["x"]["rates"] == [0.5, 0.5]
    assert json.loads(json.dumps(chosen))["x"]["strength"] == pytest.approx(0.5)


def test_schedule_packs_jobs_on_slots_and_waits_for_dependencies():
    from dropout_study.plan import schedule

    assert schedule({"a": [3.0, 2.0, 1.0]}, slots=1) == 6.0
    assert schedule({"a": [3.0, 2.0, 1.0]}, slots=2) == 3.0  # 3 | 2+1
    # b's jobs start only once all of a's are done, even with a slot free
    assert schedule({"a": [4.0], "b": [1.0, 1.0]}, slots=3, after={"b": "a"}) == 5.0
    assert schedule({"a": [4.0], "c": [1.0, 1.0]}, slots=3) == 4.0


def test_wall_estimate_calibrates_on_this_device_and_scales_with_the_study():
    from dropout_study.plan import estimate_wall

    smoke = resolve(preset="smoke")
    small = estimate_wall(smoke, "cpu", cores=2, log=lambda m: None)
    bigger = estimate_wall(resolve(preset="smoke", seeds=4), "cpu", cores=2, log=lambda m: None)
    assert small["device"] == "cpu" and small["parallel_jobs"] == 2  # threads_per_job: 1
    assert 0 < small["job_seconds"] < bigger["job_seconds"]
    assert small["wall_seconds"] < small["job_seconds"] + 60  # two jobs at a time overlap


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
