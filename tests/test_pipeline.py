"""The whole DAG, end to end, on the real data: the smoke preset, then the report in Chromium."""

import base64
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from .conftest import ROOT, need

pytestmark = pytest.mark.integration


def snakemake_cmd(workdir: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"),
            "--configfile", str(ROOT / "config.yaml"), "--directory", str(workdir), *args]


def snakemake(workdir: Path, *args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    return subprocess.run(snakemake_cmd(workdir, *args), capture_output=True, text=True,
                          timeout=timeout)


def without_timings(path: Path) -> pd.DataFrame:
    df = pd.read_parquet(path)
    return df.drop(columns=[c for c in df.columns if "seconds" in c])


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory, real_data_dir):
    need("pandoc")
    work = tmp_path_factory.mktemp("smoke")
    out = snakemake(work, "--cores", "2", "--config", "preset=smoke")
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return work


def test_smoke_preset_writes_tidy_results(smoke_run):
    m = pd.read_parquet(smoke_run / "results" / "metrics.parquet")
    runs = pd.read_parquet(smoke_run / "results" / "runs.parquet")
    # one row per run x epoch, every run of every condition present
    assert not m.duplicated(["experiment", "condition", "seed", "epoch"]).any()
    per_run = m.groupby(["experiment", "condition", "seed"])["epoch"].max()
    assert len(per_run) == len(runs)
    expected = {"layer_rates": 4 * 2, "long_training": 2 * 2, "weight_decay": 2 * 3 * 2,
                "weight_dropout": 3 * 2 * 2}
    counts = runs.groupby("experiment").size().to_dict()
    assert {k: counts.get(k) for k in expected} == expected
    assert {"train_loss", "train_acc", "val_acc", "test_acc", "test_loss",
            "epoch_seconds"} <= set(m.columns)
    acts = pd.read_parquet(smoke_run / "results" / "activations.parquet")
    assert set(acts["layer"]) == {1, 2} and acts["var_post"].gt(0).all()


def test_report_answers_exercises_with_embedded_figures(smoke_run):
    html = (smoke_run / "results" / "report.html").read_text()
    for k in range(1, 7):
        assert re.search(rf"<h2[^>]*>Exercise {k}: ", html), f"no Exercise {k} section"
    assert "Missing" not in html and "not answered" not in html
    images = re.findall(r'<img[^>]+src="data:image/png;base64,([^"]+)"', html)
    assert len(images) >= 3
    for img in images:
        assert base64.b64decode(img)[:8] == b"\x89PNG\r\n\x1a\n"
    assert "[" in html and "pp" in html  # intervals are shown
    assert "Provenance" in html and "torch" in html


def test_a_hard_killed_run_resumes_to_identical_metrics(smoke_run, tmp_path_factory):
    """kill -9 of the whole run (Snakemake and its jobs) midway, then the same command with
    --rerun-incomplete: the study finishes, and its metrics equal the uninterrupted run's."""
    import os
    import signal
    import time

    work = tmp_path_factory.mktemp("killed")
    args = ("--cores", "2", "--config", "preset=smoke")
    proc = subprocess.Popen(snakemake_cmd(work, *args), start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    runs = work / "results" / "runs"
    deadline = time.monotonic() + 600
    while len(list(runs.glob("*/*/metrics.parquet"))) < 3 and time.monotonic() < deadline:
        assert proc.poll() is None, "the run ended before it could be killed"
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (work / "results" / "metrics.parquet").exists()
    assert list((work / ".snakemake" / "locks").glob("*.lock")), "no lock left to test"

    out = snakemake(work, *args, "--rerun-incomplete")
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "stale lock" in out.stderr
    pd.testing.assert_frame_equal(without_timings(smoke_run / "results" / "metrics.parquet"),
                                  without_timings(work / "results" / "metrics.parquet"),
                                  check_exact=True)


def test_keep_going_marks_a_failing_job_in_the_report_and_the_next_run_retries_it(
        smoke_run, tmp_path_factory):
    import shutil

    work = tmp_path_factory.mktemp("keep_going") / "study"
    shutil.copytree(smoke_run, work, symlinks=True)
    job = work / "results" / "runs" / "sanity" / "j000"
    for name in ("metrics.parquet", "runs.parquet"):
        (job / name).unlink()
    (job / "spec.json").unlink()
    (job / "spec.json").mkdir()  # the job cannot write its spec: it fails inside
    args = ("--cores", "2", "--config", "preset=smoke")

    # the job's tables are asked for by name (a missing intermediate file alone is not rebuilt)
    out = snakemake(work, *args, "--keep-going", "results/runs/sanity/j000/metrics.parquet",
                    "all")
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "failed and are marked in the report" in out.stderr
    html = (work / "results" / "report.html").read_text()
    assert "Incomplete: 1 job(s) failed" in html and "sanity/j000" in html
    assert "IsADirectoryError" in html

    (job / "spec.json").rmdir()
    out = snakemake(work, *args)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "retrying" in out.stderr and not (job / "failed.json").exists()
    html = (work / "results" / "report.html").read_text()
    assert "Incomplete" not in html
    pd.testing.assert_frame_equal(without_timings(smoke_run / "results" / "metrics.parquet"),
                                  without_timings(work / "results" / "metrics.parquet"))


def test_a_rerun_does_nothing(smoke_run):
    out = snakemake(smoke_run, "-n", "--cores", "1", "--config", "preset=smoke")
    assert out.returncode == 0
    assert "Nothing to be done" in out.stdout + out.stderr


@pytest.mark.browser
def test_report_opens_in_headless_chromium(smoke_run, tmp_path):
    chromium = need("chromium")
    report = smoke_run / "results" / "report.html"
    # A copy of the report with a probe that records, once loaded, whether every image decoded.
    probe = ("<script>window.addEventListener('load', () => {"
             "const imgs = [...document.images];"
             "document.body.setAttribute('data-images', imgs.length);"
             "document.body.setAttribute('data-decoded',"
             " imgs.filter(i => i.complete && i.naturalWidth > 0).length);});</script>")
    checked = tmp_path / "checked.html"
    checked.write_text(report.read_text().replace("</body>", probe + "</body>"))
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--no-first-run", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run([chromium, *flags, "--virtual-time-budget=5000", "--dump-dom",
                          checked.as_uri()], capture_output=True, text=True, timeout=120)
    m = re.search(r'data-images="(\d+)" data-decoded="(\d+)"', dom.stdout)
    assert m, dom.stderr[-2000:]
    assert int(m.group(1)) >= 3 and m.group(1) == m.group(2)
    shot = smoke_run / "results" / "report.png"
    subprocess.run([chromium, *flags, "--window-size=1200,3000", f"--screenshot={shot}",
                    report.as_uri()], capture_output=True, timeout=120)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 50_000
