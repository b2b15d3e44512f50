"""The report: per exercise, its numbers and figures, filled into Quarto templates.

Each exercise (``dropout_study.exercises``) brings its analysis, figures and the words of its
template ``report/sections/<key>.qmd.j2``; this module only assembles them, with the answers
at a glance (``glance.py``) first and the run time of every rule (from Snakemake's
``benchmark:`` files) in the provenance. Rendering uses Quarto when it is on PATH, else pandoc
(with a logged warning); the output is one self-contained HTML file. The templates are found
in the directory given (the rules pass the workflow's ``report/``), else in ``./report``.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import subprocess
from pathlib import Path

import jinja2
import numpy as np
import pandas as pd
import yaml

from . import endpoints, environment, frame, glance, instability, presets
from . import words as say
from .config import edition_config
from .contrast_words import agreement
from .errors import UserError
from .exercises import EXERCISES, NEWER
from .exercises.base import Exercise
from .experiments import seed_offset
from .headlines import at_both_settings, headlines_at
from .io import atomic_write, atomic_write_text
from .results import Results
from .stats import Estimate

log = logging.getLogger(__name__)
CSS = "style.css"


def templates_dir(given: str | Path | None = None) -> Path:
    """The report's templates: the directory given, else ``report/`` in the working directory
    (a checkout of the project); never a path inside the installed package."""
    path = Path(given) if given else Path("report")
    if not (path / "report.qmd.j2").is_file():
        where = f"--templates {given}" if given else "./report (no --templates given)"
        raise UserError(f"{where}: no report.qmd.j2 there; pass the project's report/ "
                        "directory with --templates")
    return path


def _jsonable(o):
    if isinstance(o, Estimate):
        return {k: getattr(o, k) for k in ("value", "lo", "hi", "n", "level", "p")}
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"{type(o)} is not JSON serialisable")


def for_phone():
    from .plots import for_phone  # matplotlib only where figures are drawn

    return for_phone()


def _analysed(ex: Exercise, res: Results, report_dir: Path, figures: str,
              where: str = "") -> tuple:
    """One exercise's words and figures, or why it has none: (entry, result or None). The
    figures go to ``report_dir / figures``."""
    entry = {"missing": None, "failed": [f"{f['experiment']}/{f['job']}" for f in res.failed
                                         if f["experiment"] in ex.reads]}
    if not ex.enabled(res.cfg):  # its results, even where a file of them lies about, are not
        entry["missing"] = (f"disabled in the config (experiments.{ex.block}.enabled is "
                            f"false){where}")  # this config's
        return entry, None
    absent = [e for e in ex.reads if not res.has(e)]
    if absent:
        why = ("its jobs failed" if entry["failed"] else
               "disabled in the config, or its jobs failed under --keep-going")
        entry["missing"] = f"no results for {', '.join(absent)}{where} ({why})"
        return entry, None
    try:
        result = ex.analyze(res)
        drawn = ex.draw(res, result, report_dir / figures)
        with for_phone():  # each figure again, drawn for a phone's width (NAME.phone.png)
            ex.draw(res, result, report_dir / figures)
        entry["figures"] = {k: str(p.relative_to(report_dir)) for k, p in drawn.items()}
        entry.update(ex.context(result))
        return entry, result
    except Exception as exc:  # noqa: BLE001 - the report marks it instead of dying
        log.exception("section %s%s failed", ex.key, where)
        entry["missing"] = f"analysis failed{where}: {type(exc).__name__}: {exc}"
        return entry, None


def unstable_runs(res: Results) -> list[dict]:
    """Every event of the instability rule: runs diverged, never trained or unstable at their
    endpoint (left out of primary contrasts; their earlier recovered episodes named with them)
    and the transient collapses of stable runs (kept), with epoch, kind and reason."""
    e = res.endpoints
    if e.empty:
        return []
    out = []
    for r in e.sort_values(["experiment", "condition", "seed"]).itertuples():
        base = {"experiment": r.experiment, "condition": r.condition, "seed": int(r.seed)}
        if r.collapse:
            out.append(base | {"kind": "transient collapse (run kept)",
                               "epoch": r.collapse_epochs or f"{r.collapse_epoch:g}",
                               "reason": r.collapse_reason
                               + (" (the first of these)" if "," in r.collapse_epochs
                                  else "")})
        if r.unstable:
            kind = ("diverged" if r.diverged_run else "never trained" if r.never_trained
                    else "unstable at its endpoint")
            earlier = (f"; earlier recovered episode{'s' if ',' in r.earlier_epochs else ''} "
                       f"from epoch{'s' if ',' in r.earlier_epochs else ''} {r.earlier_epochs} "
                       "(not counted as transient collapses)" if r.earlier_epochs else "")
            out.append(base | {"kind": kind, "epoch": f"{r.unstable_epoch:g}",
                               "reason": r.unstable_reason + earlier})
    return out


def endpoint_swing(ends) -> dict | None:
    """How far the last epoch's test accuracy sits from the headline endpoint (the mean of the
    last k epochs), in points, over the stable runs at the study's own setting: the median run
    and the largest. None where there is no such run."""
    if ends.empty:
        return None
    own = ends[ends["stable"] & ~ends["experiment"].str.endswith(NEWER)]
    gap = (100 * (own["last"] - own["endpoint"]).abs()).dropna()
    if gap.empty:
        return None
    return {"median": f"{gap.median():.1f}", "max": f"{gap.max():.1f}", "runs": int(len(gap))}


def seeds_used(res: Results, cfg: dict) -> dict | None:
    """Which seeds this report's runs were trained with, read from the runs themselves, where
    the study's seeds do not start at 0 (``seed_offset``: a replication on fresh seeds, whose
    reader must see that they are not the published study's); None at offset 0."""
    if seed_offset(cfg) == 0 or res.runs.empty:
        return None
    tuning = res.runs["experiment"] == "noise_tuning"
    return {"offset": seed_offset(cfg), "reported": say.seed_span(res.runs.loc[~tuning, "seed"]),
            "tuning": say.seed_span(res.runs.loc[tuning, "seed"]) if tuning.any() else None}


def setting(cfg: dict) -> str:
    t = cfg["training"]
    return f"lr {t['lr']:g}, p = ({t['rates'][0]:g}, {t['rates'][1]:g})"


def runtimes(paths: list[Path]) -> list[dict]:
    """Per rule, from Snakemake's ``benchmark:`` files (``benchmarks/<rule>/<job>.tsv`` or
    ``benchmarks/<rule>.tsv``; the column ``s`` is the job's wall time in seconds): the jobs,
    their total and their longest, the rule with the most time first."""
    rows = []
    for path in map(Path, paths):
        parts = path.parts
        at = max((i for i, x in enumerate(parts) if x == "benchmarks"), default=len(parts) - 2)
        rule = parts[at + 1].removesuffix(".tsv") if at + 1 < len(parts) else path.stem
        table = pd.read_csv(path, sep="\t")
        rows += [{"rule": rule, "s": float(x)} for x in table["s"]]  # repeats: one row each
    if not rows:
        return []
    per = pd.DataFrame(rows).groupby("rule")["s"].agg(["count", "sum", "max"])
    per = per.sort_values("sum", ascending=False)
    return [{"rule": r, "jobs": int(x["count"]), "total": f"{x['sum']:.1f}",
             "longest": f"{x['max']:.1f}"} for r, x in per.iterrows()]


TRAINING_RULES = ("train", "train_keeping_weights", "train_selected")  # workflow/rules/train.smk


def training_time(rows: list[dict], jobs: list[dict]) -> dict:
    """The study's training time, one definition: the wall time of the training jobs as the
    run-time table gives it (the sum of its training rules' totals, from the same benchmark
    files), so that the two never disagree; without benchmark files, the jobs' own timing of
    their training loops, and the words say which."""
    train = [r for r in rows if r["rule"] in TRAINING_RULES]
    if train:
        return {"seconds": sum(float(r["total"]) for r in train),
                "source": "wall time of the training jobs ("
                          + ", ".join(f"`{r['rule']}`" for r in train)
                          + " in the run-time table below)"}
    return {"seconds": float(sum(j["train_seconds"] for j in jobs)),
            "source": "the training loops as the jobs timed them (no benchmark files)"}


def build_context(results_dir: Path, cfg: dict, figures_dir: Path,
                  benchmarks: list[Path] = ()) -> dict:
    """Analyse every section (a failing or missing one is marked, not fatal); the provenance
    adds the study's environment lock and machines, and the code that analysed it."""
    ctx = context_of(Results.load(results_dir, cfg), cfg, figures_dir, benchmarks)
    ctx["provenance"] |= {"environment": environment.provenance(results_dir),
                          "analysis_code_version": environment.code_version()}
    return ctx


def context_of(res: Results, cfg: dict, figures_dir: Path, benchmarks: list[Path] = ()) -> dict:
    """The report's context from loaded results; figures go to ``figures_dir``."""
    newer_cfg = edition_config(cfg)
    newer_res = res.renamed(NEWER, newer_cfg) if newer_cfg is not None else None
    sections, rows, heads, plotted, instead, beside = [], [], [], [], [], []
    for ex in EXERCISES:
        entry, result = _analysed(ex, res, figures_dir.parent, figures_dir.name)
        entry |= {"key": ex.key, "number": ex.number, "title": ex.title}
        both = at_both_settings(ex, result, newer_res)
        newer_result = None
        if both:
            newer, newer_result = _analysed(ex, newer_res, figures_dir.parent,
                                            f"{figures_dir.name}/newer",
                                            " at the newer edition's setting")
            entry["newer"] = newer | {"setting": setting(newer_cfg), "fig_suffix": "-newer"}
            entry["setting"] = setting(cfg)
        words = {None: None, "older": f"the older edition's {setting(cfg)}",
                 "newer": f"the newer edition's {setting(newer_cfg)}" if both else None}
        mine = [(tag, words[tag], c) for tag, c in headlines_at(ex, result, newer_result, both)]
        heads_of = dict((tag, c) for tag, _, c in mine)
        if ex.agreement is not None and result is not None and newer_result is not None:
            entry["agreement"] = ex.agreement(result, newer_result, setting(cfg),
                                              setting(newer_cfg))
        elif heads_of.get("older") is not None and heads_of.get("newer") is not None:
            entry["agreement"] = agreement(heads_of["older"], heads_of["newer"], setting(cfg),
                                           setting(newer_cfg))
        sections.append(entry)
        rows.append(glance.row(ex, entry, [(s, c) for _, s, c in mine], res.level))
        heads += [(ex.number, tag, c) for tag, _, c in mine]
        for tag, _, c in mine:  # no headline: the contrasts the row stands on, if any
            of = newer_result if tag == "newer" else result
            got = ex.instead(of) if c is None and ex.instead is not None and of is not None \
                else []
            plotted += [(ex.number, tag, x) for x in got] or [(ex.number, tag, c)]
            if got:
                instead.append(f"exercise {ex.number}" + (f" ({tag})" if tag else ""))
            also = ex.beside(of) if c is not None and ex.beside is not None \
                and of is not None else []
            plotted += [(ex.number, tag, x) for x in also]  # what the row names beside it
            beside += [f"exercise {ex.number}" + (f" ({tag})" if tag else "")
                       + f"'s {x.quantity.what}, {x.label}" for x in also]
    drawn, left = glance.points(plotted)
    forest = glance.draw(drawn, figures_dir / "forest.png")
    with for_phone():
        glance.draw(drawn, figures_dir / "forest.png")
    jobs = res.jobs
    devices, versions = sorted({j["device"] for j in jobs}), environment.code_versions(jobs)
    distinct = endpoints.distinct(res.metrics)  # each run once, however many trained it
    return {
        "title": cfg["report"].get("title", "dropout-study"),
        "preset": cfg["preset"], "sections": sections,
        "failed_jobs": [{k: f[k] for k in ("experiment", "job", "conditions", "seeds", "error")}
                        for f in res.failed],
        "config_yaml": yaml.safe_dump(cfg, sort_keys=False, default_flow_style=None),
        "provenance": {
            "devices": devices, "versions": jobs[0]["versions"] if jobs else {},
            # the version most jobs ran at, and all of them in words (several sessions' runs)
            "code_version": versions[0]["version"] if versions else "unknown",
            "code_versions": environment.code_versions_text(versions),
            "code_version_count": len(versions),
            "jobs": len(jobs), "models": int(sum(j["models"] for j in jobs)),
            "train_seconds": training_time(runtimes(list(benchmarks)), jobs)["seconds"],
            "train_source": training_time(runtimes(list(benchmarks)), jobs)["source"],
            "diverged": int(res.runs["diverged"].sum()) if not res.runs.empty else 0,
            "runs": len(res.runs),
        },
        "resolves": glance.resolves(heads, int(cfg["seeds"]), cfg["preset"],
                                    presets.subset(cfg, res.endpoints),
                                    {ex.number: ex.apart for ex in EXERCISES if ex.apart}),
        "glance": {"rows": rows,
                   "caption": glance.caption(drawn, left, res.level, instead, beside),
                   "alt": glance.alt(drawn, left),
                   "forest": str(forest.relative_to(figures_dir.parent)) if forest else None},
        "runtimes": runtimes(list(benchmarks)),
        "settings": {"older": setting(cfg),
                     "newer": setting(newer_cfg) if newer_cfg is not None else None},
        "k": res.k, "level": res.level, "instability_rule": instability.describe(cfg),
        "rule_check": instability.near_words(  # each distinct run once (referee read 6)
            instability.near_misses(distinct, res.k)),
        "swing": endpoint_swing(res.endpoints.merge(
            distinct[endpoints.RUN_KEYS].drop_duplicates(), on=endpoints.RUN_KEYS)),
        "unstable_runs": unstable_runs(res), "repeats": endpoints.repeats(res.metrics),
        "seeds_used": seeds_used(res, cfg), "preset_line": presets.throughout(cfg),
        "data": cfg["data"],
        "training": cfg["training"],
    }


def write_analysis(results_dir: Path, cfg: dict, out_dir: Path,
                   benchmarks: list[Path] = ()) -> None:
    from .precision import context as precision_context

    ctx = build_context(results_dir, cfg, out_dir / "figures", benchmarks)
    ctx["precision"] = precision_context(results_dir, cfg)
    # the files the run times came from: what `publish` copies with the tables
    ctx["benchmark_files"] = [str(b) for b in benchmarks]
    from .plots import OVERLAPS  # the figures' texts that overlap: none in a legible report
    ctx["overlapping_texts"] = {Path(k).relative_to(out_dir).as_posix(): v for k, v in
                                OVERLAPS.items() if v and Path(k).is_relative_to(out_dir)}
    atomic_write_text(out_dir / "context.json", json.dumps(ctx, default=_jsonable, indent=1))


def render_markdown(ctx: dict, templates: Path | None = None) -> str:
    templates = templates_dir(templates)
    ctx = {"precision": None} | ctx  # a study without a precision target (write_analysis's)
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates)), undefined=jinja2.StrictUndefined,
        comment_start_string="{##", comment_end_string="##}",  # keep Quarto's {#fig-...}
        keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True)
    shared = {k: v for k, v in ctx.items() if k != "sections"}
    sections = []
    for s in ctx["sections"]:
        s = dict(s)
        def body(words: dict, s=s) -> str:
            template = env.get_template(f"sections/{s['key']}.qmd.j2")
            return template.render({**shared, "fig_suffix": "", **words})

        if not s["missing"]:
            s["body"] = body(s)
        newer = s.get("newer")
        if newer and not newer["missing"]:
            s["newer_body"] = body(newer)
        sections.append(s)
    return env.get_template("report.qmd.j2").render(**shared, sections=sections)


def number_crossrefs(md: str) -> str:
    """For pandoc: Quarto's figure labels and @fig- references become numbered links."""
    labels: dict[str, int] = {}
    for m in re.finditer(r"!\[[^\]]*\]\([^)]*\)\{#(fig-[\w-]+)", md):
        labels.setdefault(m.group(1), len(labels) + 1)

    def caption(m: re.Match) -> str:
        return f"![Figure {labels[m.group(3)]}: {m.group(1)}]({m.group(2)}){{#{m.group(3)}"

    md = re.sub(r"!\[([^\]]*)\]\(([^)]*)\)\{#(fig-[\w-]+)", caption, md)
    md = md.replace(' fig-alt="', ' alt="')  # Quarto's alt text, as pandoc reads it
    # a table's label after its caption: pandoc before 3 prints it as caption text
    md = re.sub(r"^(: .*?)\s*\{#tbl-[\w-]+\}[ \t]*$", r"\1", md, flags=re.M)
    return re.sub(r"@(fig-[\w-]+)",
                  lambda m: f"[Figure {labels[m.group(1)]}](#{m.group(1)})"
                  if m.group(1) in labels else m.group(0), md)


def choose_engine(engine: str) -> str:
    if engine == "auto":
        if shutil.which("quarto"):
            return "quarto"
        log.warning("quarto is not on PATH: rendering with pandoc instead "
                    "(install Quarto for the intended rendering)")
        return "pandoc"
    if not shutil.which(engine):
        raise UserError(f"report.engine: {engine!r} was asked for but is not on PATH")
    return engine


def pandoc_html(md_path: Path, html_path: Path, css: Path) -> None:
    if not shutil.which("pandoc"):
        raise UserError("neither quarto nor pandoc is on PATH: install one to render the "
                        "report (Debian: apt-get install pandoc)")
    version = subprocess.run(["pandoc", "--version"], capture_output=True, text=True).stdout
    major, minor = (int(x) for x in re.search(r"pandoc\S* (\d+)\.(\d+)", version).groups())
    embed = ["--embed-resources", "--standalone"] if (major, minor) >= (2, 19) else \
        ["--self-contained"]
    cmd = ["pandoc", str(md_path.name), "--from", "markdown", "--to", "html5", *embed,
           "--toc", "--toc-depth=2", "--css", str(css), "--resource-path", str(md_path.parent),
           "--metadata", "lang=en", "--metadata", "toc-title=Contents",
           "--variable", "document-css=false", "-o", str(html_path.resolve())]
    subprocess.run(cmd, cwd=md_path.parent, check=True)


def build_report(context: Path, cfg_path: Path, out: Path, engine: str = "auto",
                 templates: Path | None = None, benchmarks: list[Path] = ()) -> None:
    """The HTML report from the analysis's ``context`` (its figures beside it)."""
    cfg = json.loads(cfg_path.read_text())
    templates = templates_dir(templates)
    analysis_dir = context.parent
    ctx = json.loads(context.read_text())
    if benchmarks:  # the rules that ran after the analysis (its own, the figures rule)
        ctx["runtimes"] = sorted(ctx["runtimes"] + runtimes(list(benchmarks)),
                                 key=lambda r: -float(r["total"]))
    md = frame.phone_figures(render_markdown(ctx, templates), analysis_dir)
    css = analysis_dir / CSS  # beside report.qmd: Quarto reads it from there too
    atomic_write(css, lambda tmp: shutil.copyfile(templates / CSS, tmp))
    engine = choose_engine(engine if engine != "auto" else cfg["report"].get("engine", "auto"))
    qmd = analysis_dir / "report.qmd"
    atomic_write_text(qmd, md)
    if engine == "quarto":
        subprocess.run(["quarto", "render", qmd.name, "--to", "html"], cwd=analysis_dir, check=True)
        html = analysis_dir / "report.html"
    else:
        src = analysis_dir / "report.pandoc.md"
        src.write_text(number_crossrefs(md))
        html = analysis_dir / "report.pandoc.html"
        pandoc_html(src, html, css.resolve())
    page = frame.finish(html.read_text(), analysis_dir)  # phone figures, tables, landmarks
    atomic_write_text(out, page)
    log.info("report written to %s (%s)", out, engine)
