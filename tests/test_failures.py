"""A job that fails inside: retried, then stopped or marked; a marked job is aggregated and
named in the report."""

import json

import pandas as pd
import pytest

from dropout_study import cli
from dropout_study.aggregate import aggregate
from dropout_study.report import render_markdown
from dropout_study.spec import Condition, JobSpec
from dropout_study.train import run_job

from .test_report import minimal_context


def spec(data_path, job="j000"):
    return JobSpec("t", job, [Condition("t", "c", rates=(0.2, 0.5), epochs=1)], [0, 1],
                   data_path=str(data_path), device="cpu")


def test_a_failing_job_is_marked_aggregated_and_named(small_dataset, tmp_path):
    _, path = small_dataset
    good, bad = tmp_path / "t" / "j000", tmp_path / "t" / "j001"
    run_job(spec(path), good, progress=False)
    broken = spec(tmp_path / "no-such-data.pt", "j001").to_json()

    # on_failure stop (the default): the job fails, with the file named
    assert cli.main(["train", "--spec-json", broken, "--out", str(bad)]) != 0
    assert not (bad / "metrics.parquet").exists()
    # on_failure mark, but not its last attempt: it fails, so that Snakemake tries it again
    assert cli.main(["train", "--spec-json", broken, "--out", str(bad), "--on-failure", "mark",
                     "--attempt", "1", "--attempts", "2"]) != 0
    assert not (bad / "metrics.parquet").exists()

    assert cli.main(["train", "--spec-json", broken, "--out", str(bad), "--on-failure", "mark",
                     "--attempt", "2", "--attempts", "2"]) == 0
    failed = json.loads((bad / "job.json").read_text())["failed"]
    assert failed["job"] == "j001" and failed["seeds"] == [0, 1] and failed["attempt"] == 2
    assert "no-such-data.pt" in failed["error"]
    for name in ("metrics", "runs", "activations"):
        assert pd.read_parquet(bad / f"{name}.parquet").empty
    assert json.loads((good / "job.json").read_text())["failed"] is None

    counts = aggregate([good, bad], tmp_path / "results")
    assert counts["failed_jobs"] == 1
    assert len(pd.read_parquet(tmp_path / "results" / "metrics.parquet")) == 2  # 2 seeds x 1 epoch
    listed = json.loads((tmp_path / "results" / "failed_jobs.json").read_text())
    assert [(f["experiment"], f["job"]) for f in listed] == [("t", "j001")]
    assert [j["dir"] for j in json.loads((tmp_path / "results" / "jobs.json").read_text())] \
        == [str(good)]


def test_an_injected_fault_fails_the_attempts_it_names_only(small_dataset, tmp_path,
                                                             monkeypatch):
    _, path = small_dataset
    monkeypatch.setenv(cli.FAULT, "t/j000:1")
    args = ["train", "--spec-json", spec(path).to_json(), "--out", str(tmp_path / "j")]
    with pytest.raises(RuntimeError, match="fault injected by DROPOUT_STUDY_FAULT on attempt 1"):
        cli.main([*args, "--attempt", "1", "--attempts", "2"])
    assert not (tmp_path / "j" / "metrics.parquet").exists()
    assert cli.main([*args, "--attempt", "2", "--attempts", "2"]) == 0
    assert len(pd.read_parquet(tmp_path / "j" / "metrics.parquet")) == 2


def test_the_report_names_failed_jobs_and_marks_their_sections():
    ctx = minimal_context(
        failed_jobs=[{"experiment": "layer_rates", "job": "j001", "conditions": ["a"],
                      "seeds": [0, 1], "error": "RuntimeError: out of memory"}],
        sections=[{"key": "exercise_1", "number": 1, "title": "Rates",
                   "failed": ["layer_rates/j001"],
                   "missing": "no results for layer_rates (its jobs failed)"}])
    md = render_markdown(ctx)
    assert "Incomplete: 1 job(s) failed" in md
    assert "`layer_rates/j001` (a; seeds 0, 1): RuntimeError: out of memory" in md
    assert "not answered: no results for layer_rates (its jobs failed)" in md
