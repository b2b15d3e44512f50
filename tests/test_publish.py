"""Publishing a study: what `publish` refuses (before copying anything), and the README's
block. The round trip on a real study (publish, render, compare) is in test_pipeline.py, on
the smoke study it trains."""

import json
import os
import time

import pandas as pd
import pytest

from dropout_study import cli
from dropout_study import config as study_config
from dropout_study.errors import UserError
from dropout_study.plan import all_jobs
from dropout_study.publish import (
    END,
    START,
    block,
    current_block,
    placeholder,
    publish,
    rendered_from,
    write_block,
)

from .conftest import ROOT


def finished(tmp_path, preset="smoke"):
    """A results folder that looks finished to `publish` (every file there, every planned job
    aggregated, the report newest): the refusals are checked before any table is read."""
    cfg = study_config.load(ROOT / "config.yaml", overrides={"preset": preset})
    out = tmp_path / "results" / preset
    (out / "report").mkdir(parents=True)
    (out / "config.json").write_text(json.dumps(cfg))
    jobs = [{"spec": {"experiment": e, "job": j.job}} for e, js in all_jobs(cfg).items()
            for j in js]
    (out / "jobs.json").write_text(json.dumps(jobs))
    (out / "failed_jobs.json").write_text("[]")
    (out / "environment.lock").write_text("# lock\n")
    (out / "machine.json").write_text('{"machines": []}')
    for f in rendered_from(cfg):
        if f.endswith(".parquet"):
            pd.DataFrame().to_parquet(out / f)
    (out / "report" / "context.json").write_text('{"benchmark_files": []}')
    later = time.time() + 5
    (out / "report.html").write_text("<html></html>")
    os.utime(out / "report.html", (later, later))
    return out


def readme(tmp_path):
    path = tmp_path / "README.md"
    path.write_text(f"# project\n\nintro\n\n{placeholder()}\n\nmore\n")
    return path


def refused(results, tmp_path, **kw) -> str:
    """publish's refusal message; asserts that nothing was copied or changed."""
    to, rd = tmp_path / "study", readme(tmp_path)
    before = rd.read_text()
    with pytest.raises(UserError) as exc:
        publish(results, to, rd, **kw)
    assert not to.exists() and not (tmp_path / ".study.publishing").exists()
    assert rd.read_text() == before
    return str(exc.value)


def test_only_the_full_preset_is_published_unless_allowed(tmp_path):
    results = finished(tmp_path)
    msg = refused(results, tmp_path)
    assert msg.startswith(f"refusing to publish {results}:")
    assert "it is the 'smoke' preset: only the full study is published" in msg
    assert "--allow-preset" in msg and msg.count("\n  - ") == 1


def test_an_unfinished_study_is_refused_naming_what_is_missing(tmp_path):
    results = finished(tmp_path)
    (results / "runs.parquet").unlink()
    (results / "environment.lock").unlink()
    msg = refused(results, tmp_path, allow_preset=True)
    assert "unfinished: environment.lock, runs.parquet missing" in msg


def test_a_study_whose_report_is_older_than_its_tables_is_refused(tmp_path):
    results = finished(tmp_path)
    later = time.time() + 60
    os.utime(results / "metrics.parquet", (later, later))
    msg = refused(results, tmp_path, allow_preset=True)
    assert "unfinished: report.html is older than metrics.parquet" in msg


def test_a_study_missing_a_planned_job_is_refused(tmp_path):
    results = finished(tmp_path)
    jobs = json.loads((results / "jobs.json").read_text())
    gone = jobs.pop(0)["spec"]
    (results / "jobs.json").write_text(json.dumps(jobs))
    later = time.time() + 10
    os.utime(results / "report.html", (later, later))
    msg = refused(results, tmp_path, allow_preset=True)
    assert (f"unfinished: 1 planned job(s) not in jobs.json ({gone['experiment']}/"
            f"{gone['job']})") in msg


def test_a_study_with_failed_jobs_is_refused_naming_them(tmp_path):
    results = finished(tmp_path)
    (results / "failed_jobs.json").write_text(json.dumps(
        [{"experiment": "sanity", "job": "c0-s0000-0001", "error": "boom"}]))
    msg = refused(results, tmp_path, allow_preset=True)
    assert "1 job(s) failed on their last attempt and are marked (sanity/c0-s0000-0001)" in msg


def test_every_problem_is_named_at_once(tmp_path):
    results = finished(tmp_path)
    (results / "failed_jobs.json").write_text(json.dumps(
        [{"experiment": "sanity", "job": "j", "error": "boom"}]))
    msg = refused(results, tmp_path)
    assert msg.count("\n  - ") == 2 and "'smoke' preset" in msg and "sanity/j" in msg


def test_a_folder_that_is_not_a_published_study_is_not_replaced(tmp_path):
    results = finished(tmp_path)
    to = tmp_path / "study"
    to.mkdir()
    (to / "notes.txt").write_text("mine")
    rd = readme(tmp_path)
    with pytest.raises(UserError, match="exists and is not a published study"):
        publish(results, to, rd, allow_preset=True)
    assert [p.name for p in to.iterdir()] == ["notes.txt"]


def test_a_readme_without_the_block_is_refused_before_copying(tmp_path):
    results = finished(tmp_path)
    rd = tmp_path / "README.md"
    rd.write_text("# no block here\n")
    with pytest.raises(UserError, match="no block to write into"):
        publish(results, tmp_path / "study", rd, allow_preset=True)
    assert not (tmp_path / "study").exists()


def test_the_command_line_says_why_it_refuses_and_exits_non_zero(tmp_path, capsys):
    results = finished(tmp_path)
    rd = readme(tmp_path)
    code = cli.main(["publish", str(results), "--to", str(tmp_path / "study"),
                     "--readme", str(rd)])
    assert code == 2 and "'smoke' preset" in capsys.readouterr().err
    # render: a folder without the files it renders from is named
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "config.json").write_text(
        (results / "config.json").read_text())
    code = cli.main(["render", str(tmp_path / "empty"), "--readme", ""])
    err = capsys.readouterr().err
    assert code == 2 and "cannot render its report: jobs.json, failed_jobs.json" in err


# -- the README's block ---------------------------------------------------------------------

def test_the_block_is_rewritten_between_its_markers_only(tmp_path):
    rd = readme(tmp_path)
    assert current_block(rd) == placeholder()
    write_block(rd, f"{START}\nnew\n{END}")
    assert rd.read_text() == f"# project\n\nintro\n\n{START}\nnew\n{END}\n\nmore\n"
    rd.write_text(f"{END}\n{START}\n")
    with pytest.raises(UserError, match="in that order"):
        current_block(rd)
    # prose may name the markers: only a line of its own is one
    rd.write_text(f"the block (`{START}` to `{END}`):\n{START}\nold\n{END}\n")
    write_block(rd, f"{START}\nnew\n{END}")
    assert rd.read_text() == f"the block (`{START}` to `{END}`):\n{START}\nnew\n{END}\n"


def test_the_project_readme_has_its_block_on_the_first_screen():
    text = (ROOT / "README.md").read_text()
    current_block(ROOT / "README.md")  # its markers, once each, alone on their lines
    assert len(text[:text.index(f"\n{END}\n")].splitlines()) <= 30  # a first screen's lines
    if not (ROOT / "study").exists():  # with a study, CI's `render --check` checks the block
        assert current_block(ROOT / "README.md") == placeholder()


def glance_row(number, lines):
    return {"number": number, "question": f"Question {number} | with a pipe?",
            "anchor": f"sec-{number}", "answer": f"Answer {number}, | in words.", "lines": lines}


def test_the_block_is_the_report_s_glance_table_in_github_markdown():
    one = {"setting": None, "label": "a − b", "effect": "+1.0 pp [+0.2, +1.8] (5 seed pairs "
           "stable in both arms)", "verdict": "a is higher"}
    older = one | {"setting": "the older edition's lr 0.5, p = (0.2, 0.5)"}
    newer = one | {"setting": "the newer edition's lr 0.1, p = (0.5, 0.5)",
                   "verdict": "no detectable difference"}
    ctx = {"level": 0.95, "preset": "full", "glance": {"rows": [
        glance_row(1, [older, newer]), glance_row(2, [one])]},
        "provenance": {"runs": 120, "code_version": "abc1234"}}
    text = block(ctx, {"seeds": 10}, "study/report.html")
    lines = text.splitlines()
    assert lines[0] == START and lines[-1] == END
    assert ("[its report](study/report.html) (preset full, 10 seeds, 120 training runs, trained "
            "at code version `abc1234`)") in lines[1]
    table = [x for x in lines if x.startswith("|")]
    assert table[0] == ("| # | question | answer | headline effect [95% interval unless the row "
                        "says another] (n) | verdict |")
    assert len(table) == 2 + 2  # header, rule, one row per exercise
    assert table[2] == ("| [1](study/report.html#sec-1) | Question 1 \\| with a pipe? | "
                        "Answer 1, \\| in words. | *older:* a − b: +1.0 pp [+0.2, +1.8] (5 seed "
                        "pairs stable in both "
                        "arms)<br>*newer:* a − b: +1.0 pp [+0.2, +1.8] (5 seed pairs stable in "
                        "both arms) | *older:* a is higher<br>*newer:* no detectable difference |")
    assert table[3].endswith("| a − b: +1.0 pp [+0.2, +1.8] (5 seed pairs stable in both arms)"
                             " | a is higher |")


def test_render_check_fails_on_a_stale_block_and_writes_nothing(tmp_path, monkeypatch):
    """`render --check` (CI): a README block that the tables no longer give fails, with the
    difference; `render` rewrites it, and the check then passes."""
    from dropout_study import publish as pub

    one = {"setting": None, "label": "a − b", "effect": "+1.0 pp [+0.2, +1.8] (5 seed pairs "
           "stable in both arms)", "verdict": "a is higher"}
    ctx = {"level": 0.95, "preset": "full", "glance": {"rows": [glance_row(1, [one])]},
           "provenance": {"runs": 120, "code_version": "abc1234"}}
    rendered = []

    def render(study, out, templates, engine):  # the analysis and the HTML, stood in for
        rendered.append(out)
        return ctx, {"seeds": 10}

    monkeypatch.setattr(pub, "render", render)
    study = tmp_path / "study"
    study.mkdir()
    rd = readme(tmp_path)
    before = rd.read_text()
    with pytest.raises(UserError, match="block is not what .* give \\(stale\\)") as exc:
        pub.render_study(study, rd, check=True)
    assert "+| [1](study/report.html#sec-1) |" in str(exc.value)  # the difference, shown
    assert rd.read_text() == before and rendered[-1] != study / "report.html"  # written aside

    said = pub.render_study(study, rd)
    assert rendered[-1] == study / "report.html" and "block written" in said
    assert current_block(rd) == block(ctx, {"seeds": 10}, "study/report.html")
    assert "is what they give" in pub.render_study(study, rd, check=True)


def test_a_section_whose_analysis_raised_fails_the_render():
    from dropout_study.publish import _failures

    ctx = {"sections": [
        {"number": 1, "key": "layer_rates", "missing": None,
         "newer": {"missing": "analysis failed at the newer edition's setting: KeyError: 'x'"}},
        {"number": 2, "key": "long_training", "missing": "disabled in the config"},
        {"number": 3, "key": "activation_variance",
         "missing": "analysis failed: ValueError: y"}]}
    assert _failures(ctx) == [
        "exercise 1 (layer_rates) (newer edition): analysis failed at the newer edition's "
        "setting: KeyError: 'x'",
        "exercise 3 (activation_variance): analysis failed: ValueError: y"]


def test_git_keeps_every_file_publish_writes():
    """study/ is committed, so no file `publish` writes may be ignored (``benchmarks/`` is,
    everywhere else)."""
    import shutil
    import subprocess

    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    paths = ["study/README.md", "study/report.html", "study/config.json", "study/jobs.json",
             "study/metrics.parquet", "study/test_time.parquet", "study/environment.lock",
             "study/machine.json", "study/noise_selection.json", "study/rounds/1/precision.json",
             "study/benchmarks/aggregate.tsv", "study/benchmarks/train/sanity/c0-s0000-0009.tsv"]
    out = subprocess.run(["git", "check-ignore", "--no-index", "-v", *paths], cwd=ROOT,
                         capture_output=True, text=True)
    assert out.returncode == 1 and out.stdout == "", out.stdout  # 1: none is ignored
