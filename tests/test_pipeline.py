"""The whole DAG, end to end, on the real data: the smoke preset, then the report in Chromium."""

import base64
import json
import os
import re
import signal
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from dropout_study.frame import PHONE_SUFFIX, phone_path
from dropout_study.plots import PHONE_DPI, PHONE_MAX_PIXELS, PHONE_MIN_PT

from .conftest import ROOT, need
from .snakemake_run import environment, snakemake, snakemake_cmd

pytestmark = pytest.mark.integration


def without_timings(path: Path) -> pd.DataFrame:
    df = pd.read_parquet(path)
    return df.drop(columns=[c for c in df.columns if "seconds" in c])


SMOKE = Path("results", "smoke")  # the smoke preset's results
SEEN_WHILE_RUNNING: list[dict] = []  # `dropout-study status` while the smoke run trained
SMOKE_LIMIT_S = 1200  # 3 min on a quiet 2-core machine: a study still running is stuck


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory, real_data_dir):
    """The smoke study, in the background; `dropout-study status` is read while it runs."""
    import time

    from dropout_study.status import status

    need("pandoc")
    work = tmp_path_factory.mktemp("smoke")
    # Snakemake's console goes to a file, not a pipe: a pipe read only at the end fills (64 KiB,
    # less than the smoke study prints) and blocks Snakemake for ever
    console = work / "snakemake.out"
    with console.open("w") as sink:
        proc = subprocess.Popen(snakemake_cmd(work, "--cores", "2", "--config", "preset=smoke"),
                                stdout=sink, stderr=subprocess.STDOUT, text=True,
                                env=environment(), start_new_session=True)
        deadline = time.monotonic() + SMOKE_LIMIT_S
        while proc.poll() is None and time.monotonic() < deadline:
            if (work / "logs" / "smoke" / "plan.json").exists():
                SEEN_WHILE_RUNNING.append(status(work))
            time.sleep(2)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            pytest.fail(f"the smoke study did not finish in {SMOKE_LIMIT_S} s:\n"
                        + console.read_text()[-6000:])
    assert proc.returncode == 0, console.read_text()[-6000:]
    return work


def test_smoke_preset_writes_tidy_results(smoke_run):
    m = pd.read_parquet(smoke_run / SMOKE / "metrics.parquet")
    runs = pd.read_parquet(smoke_run / SMOKE / "runs.parquet")
    # one row per run x epoch, every run of every condition present
    assert not m.duplicated(["experiment", "condition", "seed", "epoch"]).any()
    per_run = m.groupby(["experiment", "condition", "seed"])["epoch"].max()
    assert len(per_run) == len(runs)
    expected = {"layer_rates": 4 * 2, "long_training": 2 * 2, "weight_decay": 2 * 3 * 2,
                "weight_dropout": (3 * 2 + 1) * 2}
    counts = runs.groupby("experiment").size().to_dict()
    assert {k: counts.get(k) for k in expected} == expected
    assert {"train_loss", "train_acc", "val_acc", "test_acc", "test_loss",
            "epoch_seconds"} <= set(m.columns)
    acts = pd.read_parquet(smoke_run / SMOKE / "activations.parquet")
    assert set(acts["layer"]) == {1, 2} and acts["var_post"].gt(0).all()


def test_report_answers_exercises_with_embedded_figures(smoke_run):
    html = (smoke_run / SMOKE / "report.html").read_text()
    for k in range(1, 7):
        assert re.search(rf"<h2[^>]*>Exercise {k}: ", html), f"no Exercise {k} section"
    assert "Missing" not in html and "not answered" not in html
    images = re.findall(r'<img[^>]+src="data:image/png;base64,([^"]+)"', html)
    assert len(images) >= 3
    for img in images:
        assert base64.b64decode(img)[:8] == b"\x89PNG\r\n\x1a\n"
    assert "[" in html and "pp" in html  # intervals are shown
    assert "Provenance" in html and "torch" in html


def smoke_jobs() -> int:
    """The smoke preset's training jobs, as the plan counts them."""
    from dropout_study import config as study_config
    from dropout_study.plan import all_jobs

    cfg = study_config.load(ROOT / "config.yaml", overrides={"preset": "smoke"})
    return sum(len(js) for js in all_jobs(cfg).values())


def test_the_start_prints_the_estimate_before_any_training(smoke_run):
    out = (smoke_run / "snakemake.out").read_text()
    said = re.search(rf"dropout-study: the smoke study, {smoke_jobs()} training jobs: estimated "
                     r"wall time "
                     r"(\d+ h \d+ min|\d+ min \d+ s) with --cores 2 on cpu", out)
    assert said, out[:3000]
    first_job = re.search(r"rule (train|train_keeping_weights|train_selected):", out)
    assert first_job and said.start() < first_job.start()
    assert "more than an hour" not in out  # a few minutes: no cheaper way to offer


def test_the_pandoc_fallback_is_said_on_the_console(smoke_run):
    import shutil

    out = (smoke_run / "snakemake.out").read_text()
    said = "results/smoke/report.html was rendered by pandoc: Quarto is not on PATH"
    assert (said in out) == (shutil.which("quarto") is None)


def test_status_showed_every_jobs_progress_while_the_study_ran(smoke_run):
    from dropout_study.status import status

    assert SEEN_WHILE_RUNNING, "status was never read while the study ran"
    running = [s for s in SEEN_WHILE_RUNNING if not s["finished"]]
    n = smoke_jobs()
    assert running and all(len(s["jobs"]) == n for s in running)
    # a job seen midway: some epochs done, not all, with its models and time left
    midway = [r for s in running for r in s["jobs"]
              if r["state"] == "running" and 0 < r["epochs_done"] < r["epochs"]]
    assert midway and all(r["models"] > 0 and r["left"] > 0 for r in midway)
    done = [s["done"] for s in running]
    assert done == sorted(done) and done[0] < n  # it counted up while the study ran
    assert any(s["left_seconds"] > 0 for s in running)
    # once finished: every job done, nothing left, and the command says so
    final = status(smoke_run)
    assert final["finished"] and final["done"] == n and final["left_seconds"] == 0
    assert all(r["epochs_done"] == r["epochs"] for r in final["jobs"])
    shown = subprocess.run(["dropout-study", "status", "--dir", str(smoke_run)],
                           capture_output=True, text=True, env=environment())
    assert shown.returncode == 0, shown.stderr
    assert f"sanity/{first_job()}" in shown.stdout and "done" in shown.stdout
    assert f"the smoke study: {n} of {n} training jobs done" in shown.stdout


def test_the_workflow_profile_is_loaded(smoke_run):
    """profiles/default beside the Snakefile is Snakemake's workflow profile: it is used, and
    its rerun-incomplete is in effect (the killed run below resumes without the flag)."""
    out = (smoke_run / "snakemake.out").read_text()
    assert "Using workflow specific profile" in out and "profiles/default" in out


# Run B of the replication below: the smoke preset at another seed offset, cut to the
# exercises that read exercise 1's and 2's runs (1 and 2 at both editions' settings, 3, 4)
REPLICATED = ("layer_rates", "long_training", "test_time")
NOT_REPLICATED = ("weight_decay", "weight_dropout", "noise", "capacity", "ternary", "sanity")
REPLICATION_LIMIT_S = 600  # about a minute on a quiet 2-core machine


def test_compare_judges_a_replication_on_fresh_seeds(smoke_run, tmp_path_factory):
    """`dropout-study compare A B` where B is a re-run on fresh seeds: the smoke study (A,
    seeds 0-1) against the smoke preset at seed_offset 10 (B, seeds 10-11), B cut to exercises
    1-4 and built up to its tables (what compare reads; no figures nor report). Every headline
    both answer is compared: both estimates with their intervals, B − A with Welch's interval,
    and the verdict "agree" (two seeds a side: wide intervals, so this checks the machinery
    and the seeds, not a fine agreement); B − A is not zero (the seeds differ); the exercises
    B does not run are rows "not comparable", saying why."""
    work = tmp_path_factory.mktemp("replication")
    off = {e: {"enabled": False} for e in NOT_REPLICATED}
    tables = [f"{SMOKE}/{t}" for t in ("jobs.json", "config.json", "test_time.parquet",
                                        "test_time_models.parquet")]
    console = work / "snakemake.out"  # a file, not a pipe (see smoke_run)
    with console.open("w") as sink:
        done = subprocess.run(snakemake_cmd(work, "--cores", "2", *tables, "--config",
                                            "preset=smoke", "seed_offset=10",
                                            f"experiments={off!r}"),
                              stdout=sink, stderr=subprocess.STDOUT, env=environment(),
                              timeout=REPLICATION_LIMIT_S)
    assert done.returncode == 0, console.read_text()[-6000:]
    assert not (work / SMOKE / "report.html").exists()  # its tables alone
    b_runs = pd.read_parquet(work / SMOKE / "runs.parquet")
    assert set(b_runs["seed"]) == {10, 11}
    assert set(b_runs["experiment"]) == {"layer_rates", "layer_rates_newer", "long_training",
                                         "long_training_newer"}

    a, b = smoke_run / SMOKE, work / SMOKE
    shown = subprocess.run(["dropout-study", "compare", str(a), str(b), "--json"],
                           capture_output=True, text=True, env=environment())
    assert shown.returncode == 0, shown.stderr
    doc = json.loads(shown.stdout)
    assert doc["seeds"] == {"a": [0, 1], "b": [10, 11]}
    rows = {(r["exercise"], r["setting"]): r for r in doc["rows"]}
    compared = {("layer_rates", "older"), ("layer_rates", "newer"), ("long_training", "older"),
                ("long_training", "newer"), ("activation_variance", ""), ("test_time", "")}
    assert compared <= set(rows)
    for key in sorted(compared):
        r = rows[key]
        assert r["verdict"] == "agree", r
        assert r["a"]["n"] == r["b"]["n"] == 2, r  # both seed pairs stable in both arms
        for side in ("a", "b", "b_minus_a"):
            assert r[side]["lo"] <= r[side]["value"] <= r[side]["hi"], (side, r)
        d = r["b_minus_a"]
        assert d["lo"] < (1.0 if r["unit"] == "factor" else 0.0) < d["hi"], r
    assert sum(rows[k]["b_minus_a"]["value"] != (1.0 if rows[k]["unit"] == "factor" else 0.0)
               for k in compared) == len(compared)  # fresh seeds: not one estimate repeated
    # the exercises B does not run: a row where A has a headline (not comparable), else
    # listed as answered in neither (the smoke preset's exercise 8 has too few widths for one)
    others = {k: r for k, r in rows.items() if k not in compared}
    assert others and all(r["verdict"] == "not comparable" and r["b"] is None
                          and r["b_minus_a"] is None
                          and r["why"].startswith("B: disabled (experiments.")
                          for r in others.values()), others
    assert all("B disabled (experiments." in x for x in doc["neither"]), doc["neither"]
    said = {k[0] for k in others} | {x.split()[1] for x in doc["neither"]}
    assert said == {"weight_decay", "weight_dropout", "noise", "capacity", "ternary", "sanity"}

    text = subprocess.run(["dropout-study", "compare", str(a), str(b)], capture_output=True,
                          text=True, env=environment())
    assert text.returncode == 0, text.stderr
    (work / "compare.txt").write_text(text.stdout)  # kept beside the run, for a reader
    assert f"A: {a} (preset smoke, seeds 0–1)" in text.stdout
    assert f"B: {b} (preset smoke, seeds 10–11)" in text.stdout
    swap = next(x for x in text.stdout.splitlines() if re.match(r"1 layer_rates +older ", x))
    assert swap.count("(n=2)") == 2 and swap.count("pp [") == 3 and "agree" in swap


def first_job(experiment: str = "sanity", **config) -> str:
    """The name of an experiment's first job in the smoke preset (a job is named by what it
    trains: a hash of its conditions and its seed range)."""
    from dropout_study.plan import all_jobs

    from .test_config import resolve

    return all_jobs(resolve(preset="smoke", **config))[experiment][0].job


def tree(root: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``root`` (Snakemake's own .snakemake/ aside) with its size and mtime."""
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*")) if p.is_file() and ".snakemake" not in p.parts}


def test_a_job_that_raises_once_is_retried_and_completes_unmarked(smoke_run, tmp_path_factory):
    import shutil

    work = tmp_path_factory.mktemp("retry") / "study"
    shutil.copytree(smoke_run, work, symlinks=True)
    job = f"results/smoke/runs/sanity/{first_job()}"
    env = os.environ | {"DROPOUT_STUDY_FAULT": f"sanity/{first_job()}:1"}  # attempt 1 only
    out = snakemake(work, "--cores", "2", "--config", "preset=smoke", "retries=1",
                    "on_failure=mark", "--forcerun", f"{job}/metrics.parquet", env=env)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    log = out.stdout + out.stderr
    assert "Trying to restart job" in log  # Snakemake's second attempt
    assert json.loads((work / job / "job.json").read_text())["failed"] is None
    assert json.loads((work / SMOKE / "failed_jobs.json").read_text()) == []
    assert "Incomplete" not in (work / SMOKE / "report.html").read_text()
    pd.testing.assert_frame_equal(without_timings(smoke_run / SMOKE / "metrics.parquet"),
                                  without_timings(work / SMOKE / "metrics.parquet"))


def test_a_job_that_raises_on_every_attempt_is_marked_then_retried_by_forcerun(
        smoke_run, tmp_path_factory):
    import shutil

    work = tmp_path_factory.mktemp("marked") / "study"
    shutil.copytree(smoke_run, work, symlinks=True)
    job = f"results/smoke/runs/sanity/{first_job()}"
    args = ("--cores", "2", "--config", "preset=smoke", "retries=1", "on_failure=mark")
    env = os.environ | {"DROPOUT_STUDY_FAULT": f"sanity/{first_job()}:99"}
    out = snakemake(work, *args, "--forcerun", f"{job}/metrics.parquet", env=env)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    failed = json.loads((work / job / "job.json").read_text())["failed"]
    assert failed["attempt"] == 2 and "fault injected" in failed["error"]  # both attempts
    assert f"--forcerun {job}/metrics.parquet" in out.stderr  # how to retry it, said
    html = (work / SMOKE / "report.html").read_text()
    assert "Incomplete: 1 job(s) failed" in html and f"sanity/{first_job()}" in html

    # a dry run changes nothing (no marker or table is removed while the DAG is built) ...
    before = tree(work)
    out = snakemake(work, *args, "-n")
    assert out.returncode == 0 and tree(work) == before
    # ... and the command the study printed retries the job
    out = snakemake(work, *args, "--forcerun", f"{job}/metrics.parquet")
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert json.loads((work / job / "job.json").read_text())["failed"] is None
    assert "Incomplete" not in (work / SMOKE / "report.html").read_text()
    pd.testing.assert_frame_equal(without_timings(smoke_run / SMOKE / "metrics.parquet"),
                                  without_timings(work / SMOKE / "metrics.parquet"))


def test_a_job_that_fails_its_last_attempt_stops_the_study_by_default(smoke_run,
                                                                     tmp_path_factory):
    import shutil

    work = tmp_path_factory.mktemp("stopped") / "study"
    shutil.copytree(smoke_run, work, symlinks=True)
    job = f"results/smoke/runs/sanity/{first_job()}"
    env = os.environ | {"DROPOUT_STUDY_FAULT": f"sanity/{first_job()}:99"}
    out = snakemake(work, "--cores", "2", "--config", "preset=smoke", "retries=0",
                    "--forcerun", f"{job}/metrics.parquet", env=env)
    assert out.returncode != 0
    log = work / "logs" / "smoke" / "train" / "sanity" / f"{first_job()}.log"
    assert "fault injected" in log.read_text()
    assert not (work / job / "metrics.parquet").exists()  # Snakemake removed its outputs


def test_a_rerun_does_nothing(smoke_run):
    out = snakemake(smoke_run, "-n", "--cores", "1", "--config", "preset=smoke")
    assert out.returncode == 0
    assert "Nothing to be done" in out.stdout + out.stderr


@pytest.mark.browser
def test_report_opens_in_headless_chromium(smoke_run, tmp_path):
    chromium = need("chromium")
    report = smoke_run / SMOKE / "report.html"
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
    shot = smoke_run / SMOKE / "report.png"
    subprocess.run([chromium, *flags, "--window-size=1200,3000", f"--screenshot={shot}",
                    report.as_uri()], capture_output=True, timeout=120)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 50_000


@pytest.mark.browser
@pytest.mark.parametrize("width, height", [(1280, 800), (390, 844)])
def test_the_report_reads_at_a_glance_on_a_laptop_and_a_phone(smoke_run, tmp_path, width,
                                                              height):
    """In Chromium at a laptop's and a phone's width: the summary table and the forest plot
    come before the first exercise (the table starts on the first screen), every link of the
    contents lands on its section, every image decodes and has alt text, and the page does
    not scroll sideways. The screenshots of the first screen stay beside the report."""
    from dropout_study.exercises import EXERCISES

    from .browser import look

    chromium = need("chromium")
    shot = smoke_run / SMOKE / f"report-{width}px.png"
    m = look(chromium, smoke_run / SMOKE / "report.html", width, height, tmp_path, shot)
    assert m["inner_width"] == width
    assert m["table_shown"] and m["table_rows"] == len(EXERCISES)
    assert m["forest_shown"] and m["forest_decoded"]
    assert m["forest_alt"].startswith("Forest plot of ")
    assert m["table_top"] < height, "the summary table is not on the first screen"
    assert m["table_top"] < m["forest_top"] < m["first_exercise_top"]
    assert m["scroll_width"] <= width, "the page scrolls sideways"
    assert m["images"] >= 3 and m["decoded"] == m["images"] and m["without_alt"] == 0
    assert len(m["toc"]) == len(EXERCISES) + 3  # the glance, the exercises, methods, provenance
    assert all(t["found"] and t["landed"] for t in m["toc"]), \
        [t for t in m["toc"] if not t["landed"]]
    assert m["toc_position"] == ("fixed" if width >= 1000 else "static")  # sidebar / top
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.browser
@pytest.mark.parametrize("width, height", [(1280, 800), (390, 844)])
def test_the_report_passes_axe_core_and_every_figure_fits_its_box(smoke_run, tmp_path, width,
                                                                 height):
    """axe-core (WCAG) finds no serious or critical fault, and neither a `main` landmark
    missing nor content outside the landmarks; no figure is wider than its box, nor does a
    box scroll sideways; a phone is served each figure's phone rendering, a laptop none."""

    from .browser import AXE, inspect

    chromium = need("chromium")
    if not AXE.exists():
        assert not os.environ.get("DROPOUT_STUDY_REQUIRE_AXE"), f"{AXE} is missing"
        pytest.skip(f"axe-core is not installed ({AXE}): run `npm ci --prefix tests`")
    m = inspect(chromium, smoke_run / SMOKE / "report.html", width, height, tmp_path)
    faults = [v for v in m["violations"] if v["impact"] in ("serious", "critical")
              or v["id"] in ("landmark-one-main", "region")]
    assert not faults, faults
    figures = m["figures"]
    assert len(figures) >= 3
    for f in figures:
        assert f["width"] <= f["box_client"] + 0.5, f
        assert f["box_scroll"] <= f["box_client"], f
        assert f["phone_source"], f  # every figure has a phone rendering
        assert f["phone_served"] == (width < 640), f
        if f["phone_served"]:  # its smallest text, in CSS pixels on the phone's screen
            shown = f["width"] / f["natural"] * PHONE_DPI / 72 * PHONE_MIN_PT
            assert shown >= 10, f


def test_every_figure_has_a_phone_rendering_drawn_at_a_phone_s_width(smoke_run):
    from matplotlib.image import imread

    figures = smoke_run / SMOKE / "report" / "figures"
    wide = [p for p in figures.rglob("*.png") if not p.name.endswith(PHONE_SUFFIX)]
    assert len(wide) >= 10
    for p in wide:
        width = imread(phone_path(p)).shape[1]
        assert width <= PHONE_MAX_PIXELS, (p, width)  # (the tight box may crop margins)


def test_no_figure_has_texts_that_run_into_each_other(smoke_run):
    """Referee reads 3 and 4: titles, labels, legends, tick labels and annotations that
    overlapped in figures 1-15; the figures step records each figure's overlaps (both
    editions, wide and phone) in context.json."""
    ctx = json.loads((smoke_run / SMOKE / "report" / "context.json").read_text())
    assert ctx["overlapping_texts"] == {}


def glance_cells(report: Path) -> list[str]:
    """The text of every cell of a report's answers at a glance."""
    import html

    table = re.search(r'<table class="glance">.*?</table>', report.read_text(), re.S).group(0)
    return [" ".join(html.unescape(re.sub(r"<[^>]+>", " ", c)).split())
            for c in re.findall(r"<td\b[^>]*>(.*?)</td>", table, re.S)]


def test_the_published_study_renders_the_same_answers_and_the_readme_block(smoke_run,
                                                                          tmp_path):
    """publish (the smoke study, --allow-preset) into a scratch study/ and a copy of the
    README, then render from the published tables alone: the same answers at a glance as the
    study's own report, the lock in the provenance, the README's block with a row per
    exercise, compare reading the published folder; a missing or broken table fails."""
    import hashlib
    import shutil
    import time

    from dropout_study.exercises import EXERCISES
    from dropout_study.publish import END, START, current_block

    study, readme = tmp_path / "study", tmp_path / "README.md"
    shutil.copy(ROOT / "README.md", readme)

    def cli(*args):
        return subprocess.run(["dropout-study", *args, "--readme", str(readme), "--templates",
                               str(ROOT / "report")], capture_output=True, text=True,
                              env=environment())

    out = cli("publish", str(smoke_run / SMOKE), "--to", str(study), "--allow-preset")
    assert out.returncode == 0, out.stderr[-3000:]
    assert not (study / "runs").exists() and (study / "README.md").is_file()
    original = glance_cells(smoke_run / SMOKE / "report.html")
    assert len(original) == 5 * len(EXERCISES) and any(" pp [" in c for c in original)
    assert glance_cells(study / "report.html") == original

    # the provenance states the published lock: its digest and its packages
    lock = (study / "environment.lock").read_bytes()
    assert lock == (smoke_run / SMOKE / "environment.lock").read_bytes()
    packages = [x for x in lock.decode().splitlines() if not x.startswith("#")]
    page = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", (study / "report.html").read_text()))
    assert f"sha256 of the file {hashlib.sha256(lock).hexdigest()[:12]}" in page
    assert f", {len(packages)} packages, locked in environment.lock" in page

    # the README's block: the link and one row per exercise, the rest of the README as it was
    block = current_block(readme)
    assert "[its report](study/report.html) (preset smoke, 2 seeds" in block
    rows = re.findall(r"^\| \[(\d+)\]\(study/report\.html#sec-[a-z-]+\) \|", block, re.M)
    assert [int(n) for n in rows] == [ex.number for ex in EXERCISES]
    text, before = readme.read_text(), (ROOT / "README.md").read_text()
    assert text.split(START)[0] == before.split(START)[0]
    assert text.split(END)[1] == before.split(END)[1]

    # CI's check: the report renders from the published tables, and the block is theirs
    t0 = time.monotonic()
    check = cli("render", str(study), "--check")
    assert check.returncode == 0, check.stderr[-3000:]
    print(f"render --check of the smoke study: {time.monotonic() - t0:.1f} s")

    # compare reads the published folder: the same runs, so every headline agrees exactly
    shown = subprocess.run(["dropout-study", "compare", str(study), str(smoke_run / SMOKE),
                            "--json"], capture_output=True, text=True, env=environment())
    assert shown.returncode == 0, shown.stderr
    rows = json.loads(shown.stdout)["rows"]
    agree = [r for r in rows if r["verdict"] == "agree"]
    assert agree and not [r for r in rows if r["verdict"] == "differ"], rows
    assert all(r["b_minus_a"]["value"] in (0.0, 1.0) for r in agree)

    # a missing table: render fails naming it, and writes nothing
    html_before = (study / "report.html").read_bytes()
    (study / "runs.parquet").unlink()
    failed = cli("render", str(study))
    assert failed.returncode == 2
    assert "cannot render its report: runs.parquet missing" in failed.stderr
    assert (study / "report.html").read_bytes() == html_before
    # a table that does not read: the analysis's error, named
    shutil.copy(smoke_run / SMOKE / "runs.parquet", study / "runs.parquet")
    (study / "metrics.parquet").write_bytes(b"not a parquet file")
    failed = cli("render", str(study))
    assert failed.returncode == 2 and "the analysis failed: " in failed.stderr
    assert (study / "report.html").read_bytes() == html_before
    assert current_block(readme) == block


def test_a_hard_killed_run_resumes_and_its_progress_restored_elsewhere_finishes_the_same_study(
        smoke_run, tmp_path_factory):
    """Two ways a study goes on, with one study's training (the costliest part of the suite):

    1. kill -9 of the whole run (Snakemake and its jobs) midway, then `snakemake --unlock` and
       the same command (the workflow profile adds --rerun-incomplete): it finishes. Run A is
       half the smoke study (exercises 1, 2 and 5's older jobs, the sanity rows, exercise 4's
       evaluation);
    2. `dropout-study progress save` of A, restored into a fresh folder B: `snakemake -n` there
       lists none of the restored jobs and every other one, and the study finished from there
       has the uninterrupted run's numbers (so A's resumed jobs have them too), and every
       headline agrees with it, B − A exactly zero (`dropout-study compare`)."""
    import time

    from dropout_study.config import load
    from dropout_study.plan import all_jobs

    cfg = load(ROOT / "config.yaml", {"preset": "smoke"}, detect=False)
    jobs = all_jobs(cfg)
    half = ("layer_rates", "long_training", "weight_decay", "sanity")
    first = [f"{SMOKE}/runs/{e}/{j.job}/job.json" for e in half for j in jobs[e]]
    a, b = tmp_path_factory.mktemp("progress-a"), tmp_path_factory.mktemp("progress-b")
    args = ("--cores", "2", "--config", "preset=smoke")
    targets = (*first, f"{SMOKE}/test_time.parquet")  # targets before --config
    proc = subprocess.Popen(snakemake_cmd(a, *targets, *args), start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=environment())
    runs = a / SMOKE / "runs"
    deadline = time.monotonic() + 600
    while len(list(runs.glob("*/*/metrics.parquet"))) < 3 and time.monotonic() < deadline:
        assert proc.poll() is None, "the run ended before it could be killed"
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (a / SMOKE / "test_time.parquet").exists()
    assert list((a / ".snakemake" / "locks").glob("*.lock")), "no lock left to test"

    out = snakemake(a, *targets, *args)
    assert out.returncode != 0 and "cannot be locked" in out.stdout + out.stderr
    assert snakemake(a, *targets, *args, "--unlock").returncode == 0
    out = snakemake(a, *targets, *args)  # incomplete outputs rebuilt: the profile's
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]  # rerun-incomplete

    common = ("--config", str(ROOT / "config.yaml"), "--set", "preset=smoke")
    saved = subprocess.run(["dropout-study", "progress", "save", str(a / "p.tar.gz"),
                            "--dir", str(a), *common], capture_output=True, text=True,
                           env=environment())
    assert saved.returncode == 0, saved.stderr
    n = len(first)
    assert f"finished training jobs, {n} (" in saved.stdout
    assert "and steps 1 (test_time 1)" in saved.stdout  # exercise 4's evaluation

    restored = subprocess.run(["dropout-study", "progress", "restore", str(a / "p.tar.gz"),
                               "--dir", str(b), *common[:2]], capture_output=True, text=True,
                              env=environment())
    assert restored.returncode == 0, restored.stderr
    assert f"restored into {b / SMOKE}: {n + 1} (" in restored.stdout
    dry = snakemake(b, *args, "-n")
    assert dry.returncode == 0, dry.stdout[-3000:] + dry.stderr[-3000:]
    listed = set(re.findall(r"job=(c[0-9a-f]{8}-s\d{4}-\d{4})", dry.stdout))
    done = {j.job for e in half for j in jobs[e]}
    rest = {j.job for e, js in jobs.items() for j in js} - done
    assert listed == rest  # every unfinished job, none of the restored ones
    assert "rule prepare_data" not in dry.stdout and "rule test_time:" not in dry.stdout

    out = snakemake(b, *args)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    for table in ("metrics.parquet", "runs.parquet", "test_time.parquet"):
        pd.testing.assert_frame_equal(without_timings(smoke_run / SMOKE / table),
                                      without_timings(b / SMOKE / table), check_exact=True)

    # `dropout-study compare` on the two studies: the same seeds on the same device, so every
    # headline agrees, with B − A exactly zero
    shown = subprocess.run(["dropout-study", "compare", str(smoke_run / SMOKE), str(b / SMOKE),
                            "--json"], capture_output=True, text=True, env=environment())
    assert shown.returncode == 0, shown.stderr
    rows = json.loads(shown.stdout)["rows"]
    agree = [r for r in rows if r["verdict"] == "agree"]
    assert agree and not [r for r in rows if r["verdict"] == "differ"], rows
    assert all(r["b_minus_a"]["value"] in (0.0, 1.0) for r in agree)  # 1: a factor B / A
