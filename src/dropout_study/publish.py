"""The published study: a finished study's tables and report, carried by the project.

A reader who wants the answers should not have to run anything, and one who re-runs the study
should be able to check their answers against the published ones. So ``publish`` copies a
finished full study's tables, and everything its report is rendered from, out of
``results/full/`` into ``study/``, renders ``study/report.html`` from those copies, and writes
the answers at a glance into a marked block of the top-level README (``START`` ... ``END``).

``study/`` has the layout of a results folder (``results/<preset>/``) less the training jobs'
own folders, so whatever reads a results folder reads it: ``figures`` and ``report``, and
``dropout-study compare study results/full`` for a re-run. ``render`` re-renders its report and
the README's block from its tables with the current analysis code (the ``figures`` and
``report`` commands' own functions, ``write_analysis`` and ``build_report``), training nothing;
CI runs it (``--check``) so that an analysis change reaches the published report without
retraining, and a README block that the tables no longer give fails.
"""

from __future__ import annotations

import difflib
import json
import logging
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

from .environment import LOCK, MACHINE
from .errors import UserError
from .io import atomic_write_text

log = logging.getLogger(__name__)

START, END = "<!-- published-study:start -->", "<!-- published-study:end -->"
TABLES = ("metrics.parquet", "runs.parquet", "activations.parquet")
RECORDS = ("config.json", "jobs.json", "failed_jobs.json", LOCK, MACHINE)
CONTEXT = Path("report", "context.json")  # the figures rule's analysis, in a results folder
BENCHMARKS = "benchmarks"


def _config(folder: Path) -> dict:
    path = folder / "config.json"
    if not folder.is_dir():
        raise UserError(f"{folder}: no such folder")
    if not path.is_file():
        raise UserError(f"{folder}: no config.json there (a study's folder, results/<preset>/ "
                        "or a published study/, was expected)")
    try:
        return json.loads(path.read_text())
    except ValueError as exc:
        raise UserError(f"{path}: not a JSON config ({exc})") from exc


def rendered_from(cfg: dict) -> list[str]:
    """The files (relative to a study's folder) its report is rendered from, besides its
    benchmark files and precision rounds: the records, the tidy tables, and the evaluation
    tables of the exercises its config enables."""
    from .results import evaluation_tables

    return [*RECORDS, *TABLES, *(f"{t}.parquet" for t in evaluation_tables(cfg))]


def _unplanned(results: Path, cfg: dict) -> list[str]:
    """The jobs the config plans (its last precision round's, where it has a target) that
    the study's ``jobs.json`` lacks."""
    from .plan import all_jobs
    from .rounds import last_round

    done = {(j.get("spec") or {}).get("experiment", "") + "/" + (j.get("spec") or {}).get(
        "job", "") for j in json.loads((results / "jobs.json").read_text())}
    return [f"{e}/{j.job}" for e, js in all_jobs(cfg, *last_round(results, cfg)).items()
            for j in js
            if f"{e}/{j.job}" not in done]


def _benchmark_files(results: Path, ctx: dict) -> list[str]:
    """The benchmark files the study's report read (as its analysis recorded them), and the
    analysis's own, relative to the results folder."""
    rel = []
    for b in ctx.get("benchmark_files", []):
        parts = Path(b).parts  # .../benchmarks/<rule>[/<experiment>/<job>].tsv
        at = max((i for i, x in enumerate(parts) if x == BENCHMARKS), default=len(parts) - 2)
        rel.append(Path(BENCHMARKS, *parts[at + 1:]).as_posix())
    if (results / BENCHMARKS / "figures.tsv").is_file():
        rel.append(f"{BENCHMARKS}/figures.tsv")
    return rel


def _rounds(results: Path, cfg: dict) -> list[str]:
    from .rounds import settings

    if not settings(cfg)["enabled"]:
        return []
    return sorted(p.relative_to(results).as_posix()
                  for p in results.glob("rounds/*/precision.json"))


def refusals(results: Path, cfg: dict, allow_preset: bool) -> list[str]:
    """Why the study in ``results`` may not be published (nothing: it may): not the full
    preset, unfinished (a file its report needs missing, its report older than its tables, a
    planned job not aggregated), or with jobs marked failed."""
    out = []
    if cfg.get("preset") != "full" and not allow_preset:
        out.append(f"it is the {cfg.get('preset')!r} preset: only the full study is published "
                   "(--allow-preset publishes another, for tests)")
    missing = [f for f in [*rendered_from(cfg), "report.html", CONTEXT.as_posix()]
               if not (results / f).is_file()]
    if missing:
        return out + [f"unfinished: {', '.join(missing)} missing (the study writes them as it "
                      "ends; run its snakemake command again to finish it)"]
    ctx = json.loads((results / CONTEXT).read_text())
    absent = [b for b in _benchmark_files(results, ctx) if not (results / b).is_file()]
    if absent:
        out.append(f"unfinished: its benchmark files {', '.join(absent)} are missing")
    newer = [f for f in [*TABLES, CONTEXT.as_posix()]
             if (results / f).stat().st_mtime > (results / "report.html").stat().st_mtime]
    if newer:
        out.append(f"unfinished: report.html is older than {', '.join(newer)} (its report was "
                   "not rebuilt since; run its snakemake command again)")
    unplanned = _unplanned(results, cfg)
    if unplanned:
        out.append(f"unfinished: {len(unplanned)} planned job(s) not in jobs.json "
                   f"({', '.join(unplanned[:3])}{', ...' if len(unplanned) > 3 else ''})")
    failed = json.loads((results / "failed_jobs.json").read_text())
    if failed:
        names = ", ".join(f"{f['experiment']}/{f['job']}" for f in failed)
        out.append(f"{len(failed)} job(s) failed on their last attempt and are marked "
                   f"({names}): retry them (the study printed the command) and publish then")
    return out


def to_publish(results: Path, cfg: dict) -> list[str]:
    """Every file ``publish`` copies (relative to the results folder, kept so in study/)."""
    ctx = json.loads((results / CONTEXT).read_text())
    extra = ["noise_selection.json"] if (results / "noise_selection.json").is_file() else []
    return [*rendered_from(cfg), *extra, *_rounds(results, cfg),
            *_benchmark_files(results, ctx)]


# -- the README's block -------------------------------------------------------------------

def placeholder() -> str:
    """The README's block while no study is published."""
    return (f"{START}\n**No study is published yet**: once the full study has run, "
            "`dropout-study publish results/full` puts its tables, report and answers here.\n"
            "Meanwhile the `quick` preset answers every exercise with fewer seeds on a CPU: "
            "`snakemake --cores all --config preset=quick`, then open "
            f"`results/quick/report.html`.\n{END}")


def _cell(text: str) -> str:
    """Text for a GitHub Markdown table cell."""
    return " ".join(str(text).split()).replace("|", "\\|")


def _lines(g: dict, key: str) -> str:
    def one(x: dict) -> str:
        where = f"*{'older' if 'older' in x['setting'] else 'newer'}:* " if x["setting"] else ""
        label = f"{x['label']}: " if key == "effect" and x["label"] else ""
        return _cell(where + label + x[key])

    return "<br>".join(one(x) for x in g["lines"])


def block(ctx: dict, cfg: dict, link: str) -> str:
    """The README's block for a published study: a link to its report and the report's
    answers at a glance (the same rows, from the same context) as a GitHub Markdown table."""
    p = ctx["provenance"]
    pct = f"{100 * ctx['level']:g}%"
    head = (f"**The published study**: [its report]({link}) (preset {ctx['preset']}, "
            f"{cfg['seeds']} seeds, {p['runs']} training runs, trained at code version "
            f"{p.get('code_versions', '`' + p['code_version'] + '`')}). Each exercise's "
            "headline contrast a − b (a / b for a "
            f"ratio), paired by seed, with its {pct} interval and n; *older* and *newer*: the "
            "book's two editions' settings.")
    # the answer in words, with its caveats (an unstable learning rate, a preset's departure),
    # as the report's row gives it: the numbers alone were misread (a newcomer's read)
    rows = [f"| # | question | answer | headline effect [{pct} interval unless the row says "
            "another] (n) | verdict |",
            "|---:|---|---|---|---|"]
    rows += [f"| [{g['number']}]({link}#{g['anchor']}) | {_cell(g['question'])} | "
             f"{_cell(g['answer'])} | {_lines(g, 'effect')} | {_lines(g, 'verdict')} |"
             for g in ctx["glance"]["rows"]]
    return "\n".join([START, head, "", *rows, END])


def _span(text: str, readme: Path) -> tuple[int, int]:
    """Where the README's block starts and ends (the end marker included). A marker is a line
    of its own, so prose may name it."""
    starts, ends = ([m.start() for m in re.finditer(f"^{re.escape(x)}$", text, re.M)]
                    for x in (START, END))
    if len(starts) != 1 or len(ends) != 1 or ends[0] < starts[0]:
        raise UserError(f"{readme}: no block to write into: it needs the lines {START} and "
                        f"{END}, each once, alone on its line, in that order")
    return starts[0], ends[0] + len(END)


def current_block(readme: Path) -> str:
    if not readme.is_file():
        raise UserError(f"--readme {readme}: no such file")
    text = readme.read_text()
    start, end = _span(text, readme)
    return text[start:end]


def write_block(readme: Path, new: str) -> None:
    text = readme.read_text()
    start, end = _span(text, readme)
    atomic_write_text(readme, text[:start] + new + text[end:])


def link_to(report: Path, readme: Path) -> str:
    return Path(os.path.relpath(report.resolve(), readme.resolve().parent)).as_posix()


# -- render ---------------------------------------------------------------------------------

def _failures(ctx: dict) -> list[str]:
    """The sections whose analysis raised (the report would mark them; a published one may
    not)."""
    out = []
    for s in ctx["sections"]:
        for entry, where in ((s, ""), (s.get("newer") or {}, " (newer edition)")):
            if (entry.get("missing") or "").startswith("analysis failed"):
                out.append(f"exercise {s['number']} ({s['key']}){where}: {entry['missing']}")
    return out


def render(study: Path, out: Path | None = None, templates: Path | None = None,
           engine: str = "auto") -> tuple[dict, dict]:
    """Re-render the study's report (to ``out``, default ``study/report.html``) from its
    tables with the current analysis code; returns its context and config. A ``UserError``
    names a missing file or a failing analysis; nothing is written then."""
    from .report import build_report, templates_dir, write_analysis

    cfg = _config(study)
    missing = [f for f in rendered_from(cfg) if not (study / f).is_file()]
    if missing:
        raise UserError(f"{study}: cannot render its report: {', '.join(missing)} missing "
                        "(`dropout-study publish` copies them from the study's results)")
    templates = templates_dir(templates)
    benchmarks = sorted((study / BENCHMARKS).rglob("*.tsv"))
    with tempfile.TemporaryDirectory(prefix="dropout-study-render-") as tmp:
        analysis = Path(tmp, "report")
        try:
            write_analysis(study, cfg, analysis, benchmarks)
        except Exception as exc:  # a table that does not read, an analysis that raises
            raise UserError(f"{study}: the analysis failed: {type(exc).__name__}: {exc}") \
                from exc
        ctx = json.loads((analysis / "context.json").read_text())
        failures = _failures(ctx)
        if failures:
            raise UserError(f"{study}: the analysis failed in " + "; ".join(failures))
        build_report(analysis / "context.json", study / "config.json",
                     out or study / "report.html", engine=engine, templates=templates)
    return ctx, cfg


def render_study(study: Path, readme: Path | None, check: bool = False,
                 templates: Path | None = None, engine: str = "auto") -> str:
    """``dropout-study render``: the report and the README's block from the published tables.
    With ``check`` nothing is written: the report is rendered aside, and a README block that
    is not what the tables give fails. Returns what it did, in words."""
    if readme is not None:
        current = current_block(readme)  # a README without its block fails before rendering
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="dropout-study-check-") as tmp:
        html = Path(tmp, "report.html") if check else study / "report.html"
        ctx, cfg = render(study, html, templates, engine)
    took = f"{time.monotonic() - t0:.0f} s"
    if readme is None:
        return f"{study}: report re-rendered from its tables in {took}"
    want = block(ctx, cfg, link_to(study / "report.html", readme))
    if not check:
        write_block(readme, want)
        return f"{study}: report re-rendered from its tables in {took}; {readme}'s block written"
    if current != want:
        diff = "\n".join(difflib.unified_diff(current.splitlines(), want.splitlines(),
                                              "README (now)", "from the tables", lineterm=""))
        raise UserError(f"{readme}: its published-study block is not what {study}'s tables "
                        f"give (stale); `dropout-study render {study}` rewrites it:\n{diff}")
    return (f"{study}: its report renders from its tables ({took}, written nowhere: --check) "
            f"and {readme}'s block is what they give")


# -- publish --------------------------------------------------------------------------------

STUDY_README = """# The published study

The tables and report of the study that `dropout-study publish` published here: preset
**{preset}**, {seeds} seeds, {runs} training runs in {jobs} training jobs, trained at code
version {code_version}, in the environment of `environment.lock` (sha256 `{lock}`,
{packages} packages). Nothing here is trained again. The layout is a results folder's
(`results/<preset>/`) less the training jobs' own folders, so whatever reads one reads this.

- `report.html`: the report, rendered from the files below; `dropout-study render study`
  renders it again with the current analysis code (CI checks that it can).
- `metrics.parquet`, `runs.parquet`, `activations.parquet`: the tidy tables (every run ×
  epoch, one row per run, the activation statistics); `test_time*.parquet`: exercise 4's
  evaluation tables, where the config enables it.
- `config.json`: the resolved config the study ran with.
- `jobs.json`, `failed_jobs.json`: each training job's record (device, versions, code
  version, its environment and machine by number), and the failed ones (none: `publish`
  refuses a study with any).
- `environment.lock`: every package installed where the jobs ran, `name==version`
  (`pip install -r environment.lock`); `machine.json`: the machine(s), with their jobs.
- `noise_selection.json`: exercise 7's strengths, chosen on validation (where it runs);
  `rounds/<r>/precision.json`: each precision round's decision (where the study had a target).
- `benchmarks/`: Snakemake's benchmark files, the report's run time per rule.

Check a re-run against it: `dropout-study compare study results/full` (each exercise's
headline in both, B − A with its interval, agree or differ).
"""


def _study_readme(ctx: dict, cfg: dict) -> str:
    """study/README.md: what the published study is and holds (its numbers from ``ctx``)."""
    p = ctx["provenance"]
    env = p.get("environment") or {}
    return STUDY_README.format(preset=cfg["preset"], seeds=cfg["seeds"], runs=p["runs"],
                               jobs=p["jobs"],
                               code_version=p.get("code_versions", f"`{p['code_version']}`"),
                               lock=env.get("sha256", "?"), packages=env.get("packages", "?"))


def _replaceable(to: Path) -> str | None:
    """Why ``to`` may not be replaced by a published study (None: it may): it exists and is
    neither empty nor a published study."""
    if not to.exists():
        return None
    if not to.is_dir():
        return f"--to {to} exists and is not a folder"
    readme = to / "README.md"
    if (readme.is_file() and readme.read_text().startswith("# The published study")
            or not any(to.iterdir())):
        return None
    return f"--to {to} exists and is not a published study (no README.md of one): left as it is"


def publish(results: Path, to: Path, readme: Path | None, allow_preset: bool = False,
            templates: Path | None = None, engine: str = "auto") -> str:
    """Copy a finished study into ``to`` and render its report there, then write the README's
    block. Everything is checked before anything is copied: a refused study changes nothing.
    The copy is made and rendered beside ``to``, and replaces it only once rendered."""
    cfg = _config(results)
    problems = refusals(results, cfg, allow_preset)
    why = _replaceable(to)
    problems += [why] if why else []
    if readme is not None:
        try:
            current_block(readme)
        except UserError as exc:
            problems.append(str(exc))
    if problems:
        raise UserError(f"refusing to publish {results}:\n  - " + "\n  - ".join(problems))
    files = to_publish(results, cfg)
    staging = to.parent / f".{to.name}.publishing"
    shutil.rmtree(staging, ignore_errors=True)  # ours: left by a publish that was killed
    try:
        for f in files:
            (staging / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(results / f, staging / f)
        ctx, cfg = render(staging, None, templates, engine)
        atomic_write_text(staging / "README.md", _study_readme(ctx, cfg))
        old = to.parent / f".{to.name}.replaced"
        if to.exists():
            to.rename(old)
        staging.rename(to)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    said = f"published {results} into {to}: {len(files)} files and report.html"
    if readme is not None:
        write_block(readme, block(ctx, cfg, link_to(to / "report.html", readme)))
        said += f"; {readme}'s block written"
    return said
