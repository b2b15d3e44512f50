"""``dropout-study``: the commands the Snakemake rules call, and a user can call by hand."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from .cli_plan import _cmd_plan
from .cli_train import FAULT, _cmd_train  # noqa: F401 - cli.FAULT too
from .errors import UserError


def _cmd_prepare_data(a: argparse.Namespace) -> None:
    from .data import prepare

    ds = prepare(a.out, a.data_dir, validation_size=a.validation_size, split_seed=a.split_seed,
                 train_size=a.train_size, probe_size=a.probe_size, download=not a.offline)
    logging.info("Fashion-MNIST from %s verified (MD5): %d train, %d validation, %d test",
                 ds.source, len(ds.train_index), len(ds.val_index), len(ds.test_labels))


def _cmd_aggregate(a: argparse.Namespace) -> None:
    from .aggregate import aggregate

    counts = aggregate(a.jobs, a.out)
    logging.info("aggregated %s", counts)


def _cmd_figures(a: argparse.Namespace) -> None:
    from .report import write_analysis

    out = Path(a.out) if a.out else Path(a.results) / "report"
    write_analysis(Path(a.results), json.loads(Path(a.config).read_text()), out,
                   [Path(b) for b in a.benchmarks])


def _cmd_report(a: argparse.Namespace) -> None:
    from .report import build_report

    if not (a.context or a.results):
        raise UserError("dropout-study report: give --results (the study's folder, e.g. "
                        "results/full) or --context (its report/context.json)")
    context = Path(a.context) if a.context else Path(a.results) / "report" / "context.json"
    out = Path(a.out) if a.out else context.parent.parent / "report.html"
    build_report(context, Path(a.config), out, engine=a.engine,
                 templates=Path(a.templates) if a.templates else None,
                 benchmarks=[Path(b) for b in a.benchmarks])


def _cmd_status(a: argparse.Namespace) -> None:
    from .status import render, status

    try:
        st = status(Path(a.dir), a.preset)
    except FileNotFoundError as exc:
        raise UserError(str(exc)) from exc
    print(json.dumps(st) if a.json else render(st, all_jobs=not a.running))


def _cmd_progress(a: argparse.Namespace) -> None:
    from .progress import command

    print(command(a.action, Path(a.archive), Path(a.dir), a.config and Path(a.config), a.set))


def _cmd_bench(a: argparse.Namespace) -> None:
    from .bench import bench, print_bench

    print_bench(bench(a.device, a.seeds, a.epochs, a.reference_epochs, a.data_dir),
                Path(a.json) if a.json else None)


def _cmd_compare(a: argparse.Namespace) -> None:
    from .compare import run

    print(run(Path(a.a), Path(a.b), a.level, a.json))


def _cmd_publish(a: argparse.Namespace) -> None:
    from .publish import publish

    print(publish(Path(a.results), Path(a.to), Path(a.readme) if a.readme else None,
                  a.allow_preset, Path(a.templates) if a.templates else None, a.engine))


def _cmd_render(a: argparse.Namespace) -> None:
    from .publish import render_study

    print(render_study(Path(a.study), Path(a.readme) if a.readme else None, a.check,
                       Path(a.templates) if a.templates else None, a.engine))


def _cmd_test_time(a: argparse.Namespace) -> None:
    from .testtime import run

    run(Path(a.weights), a.condition, Path(a.data), [int(t) for t in a.passes.split(",")],
        Path(a.out), a.device, Path(a.models_out) if a.models_out else None)


def _cmd_concat(a: argparse.Namespace) -> None:
    import pandas as pd

    from .io import atomic_write

    frames = [pd.read_parquet(f) for f in a.files]
    df = pd.concat([f for f in frames if not f.empty], ignore_index=True) \
        if any(not f.empty for f in frames) else pd.DataFrame()
    atomic_write(a.out, lambda tmp: df.to_parquet(tmp, index=False))


def _cmd_precision_round(a: argparse.Namespace) -> None:
    from .precision import run_round

    d = run_round(json.loads(Path(a.config).read_text()), a.round, a.jobs, Path(a.out),
                  Path(a.previous) if a.previous else None, a.test_time, a.test_time_models)
    logging.info("round %d: %s", a.round, {k: e["state"] for k, e in d["exercises"].items()})


def _cmd_select_noise(a: argparse.Namespace) -> None:
    from .selection import run

    run(a.jobs, Path(a.out), a.endpoint_epochs)


def _cmd_check_config(a: argparse.Namespace) -> None:
    from . import config as cfgmod
    from .exercises import check

    cfg = cfgmod.load(a.config, cfgmod.overrides_from(a.set), checks=[check])
    print(json.dumps(cfg, indent=1) if a.show else f"config OK (preset {cfg['preset']})")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="dropout-study", description=__doc__)
    p.add_argument("-v", "--verbose", action="store_true", help="log debug messages too")
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser("prepare-data", help="find, verify (MD5) and split Fashion-MNIST")
    d.add_argument("--data-dir", default=None,
                   help="the folder of the four IDX files (default: looked up, see "
                        "docs/running.md)")
    d.add_argument("--validation-size", type=int, default=10000,
                   help="training images held out for validation")
    d.add_argument("--split-seed", type=int, default=0,
                   help="the seed of the training/validation split")
    d.add_argument("--train-size", type=int, default=None,
                   help="train on a subset of this many images (default: all the rest)")
    d.add_argument("--probe-size", type=int, default=1000,
                   help="images in the probe batch (activation statistics, exercise 3)")
    d.add_argument("--offline", action="store_true", help="never download")
    d.add_argument("--out", required=True, help="the prepared data set to write (.pt)")
    d.set_defaults(fn=_cmd_prepare_data)

    t = sub.add_parser("train", help="train one job (a block of models, batched)")
    g = t.add_mutually_exclusive_group(required=True)
    g.add_argument("--spec", help="a job specification file (spec.json)")
    g.add_argument("--spec-json", help="the job specification itself")
    t.add_argument("--out", required=True, help="the job's folder: its tables, spec and job.json")
    t.add_argument("--device", choices=["auto", "cpu", "cuda"], default=None,
                   help="train on this device (default: the spec's)")
    t.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bar (default: when attached to a terminal)")
    t.add_argument("--attempt", type=int, default=1,
                   help="this attempt's number (Snakemake's attempt, from 1)")
    t.add_argument("--attempts", type=int, default=1,
                   help="the attempts the job gets (the config's retries + 1)")
    t.add_argument("--on-failure", choices=["stop", "mark"], default="stop",
                   help="after the last attempt fails: stop (exit non-zero), or mark the job "
                        "(job.json says why, empty tables stand in for its results) and exit "
                        "0, so that the report is still built and names it")
    t.set_defaults(fn=_cmd_train)

    ag = sub.add_parser("aggregate", help="gather job tables into results/*.parquet")
    ag.add_argument("--out", required=True, help="the folder of the study's tables")
    ag.add_argument("jobs", nargs="+", help="the training jobs' folders")
    ag.set_defaults(fn=_cmd_aggregate)

    f = sub.add_parser("figures", help="numbers (context.json) and figures for the report")
    f.add_argument("--results", required=True,
                   help="the study's folder of tables (metrics.parquet, runs.parquet, ...), "
                        "e.g. results/full")
    f.add_argument("--config", required=True, help="the resolved config (JSON)")
    f.add_argument("--out", default=None,
                   help="the folder for context.json and the figures (default: RESULTS/report)")
    f.add_argument("--benchmarks", nargs="*", default=[], metavar="TSV",
                   help="Snakemake benchmark files: the run time per rule in the provenance")
    f.set_defaults(fn=_cmd_figures)

    r = sub.add_parser("report", help="the HTML report from the numbers and figures")
    r.add_argument("--results", default=None,
                   help="the study's folder (e.g. results/full), where report/context.json "
                        "lies, unless --context is given")
    r.add_argument("--context", default=None, help="the analysis (context.json of figures)")
    r.add_argument("--config", required=True, help="the resolved config (JSON)")
    r.add_argument("--templates", default=None,
                   help="the report templates and style.css (default: ./report)")
    r.add_argument("--benchmarks", nargs="*", default=[], metavar="TSV",
                   help="benchmark files of rules that ran after the analysis")
    r.add_argument("--out", default=None,
                   help="the HTML report to write (default: beside the context's report/ "
                        "folder, e.g. results/full/report.html)")
    r.add_argument("--engine", choices=["auto", "quarto", "pandoc"], default="auto",
                   help="the renderer (auto: Quarto where it is on PATH, else pandoc)")
    r.set_defaults(fn=_cmd_report)

    b = sub.add_parser("bench", help="batched training vs the book's loop and the matmul "
                       "limit (the FLOPs it really does at the measured peak float32 rate)")
    b.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto",
                   help="the device to time")
    b.add_argument("--seeds", type=int, default=10, help="models trained together")
    b.add_argument("--epochs", type=int, default=2, help="timed epochs (after one warm-up)")
    b.add_argument("--reference-epochs", type=int, default=1,
                   help="timed epochs of the book's loop")
    b.add_argument("--data-dir", default=None,
                   help="the folder of Fashion-MNIST (default: looked up)")
    b.add_argument("--json", default=None, metavar="PATH",
                   help="also write the result to this file (JSON)")
    b.set_defaults(fn=_cmd_bench)

    cm = sub.add_parser("compare", help="check one study against another (a re-run against "
                        "the published study): every exercise's headline in both, B − A "
                        "with its interval, agree or differ")
    cm.add_argument("a", metavar="A",
                    help="a results folder (results/<preset>/, e.g. the published study's)")
    cm.add_argument("b", metavar="B",
                    help="the results folder to check against A (differences are B − A)")
    cm.add_argument("--level", type=float, default=0.95,
                    help="the confidence level of every interval (default 0.95)")
    cm.add_argument("--json", action="store_true",
                    help="print one JSON object instead of the table")
    cm.set_defaults(fn=_cmd_compare)

    pb = sub.add_parser("publish", help="publish a finished full study: its tables and "
                        "everything its report reads into study/, its report rendered there, "
                        "and the answers at a glance into the README's block")
    pb.add_argument("results", metavar="RESULTS",
                    help="the finished study's results folder (results/full)")
    pb.add_argument("--to", default="study",
                    help="the published study's folder (default: study); a published study "
                         "there is replaced, anything else is refused")
    pb.add_argument("--allow-preset", action="store_true",
                    help="publish a preset other than full (for tests and trials)")
    rs = sub.add_parser("render", help="re-render the published study's report and the "
                        "README's block from its tables with the current analysis code "
                        "(no training)")
    rs.add_argument("study", metavar="STUDY", nargs="?", default="study",
                    help="the published study's folder (default: study)")
    rs.add_argument("--check", action="store_true",
                    help="write nothing: render the report aside, and fail where the README's "
                         "block is not what the tables give (CI)")
    for c in (pb, rs):
        c.add_argument("--readme", default="README.md",
                       help="the README whose block between " + "<!-- published-study:start "
                            "--> and <!-- published-study:end --> holds the answers (default: "
                            "README.md; '' for none)")
        c.add_argument("--templates", default=None,
                       help="the report templates and style.css (default: ./report)")
        c.add_argument("--engine", choices=["auto", "quarto", "pandoc"], default="auto",
                       help="the renderer (auto: Quarto where it is on PATH, else pandoc)")
    pb.set_defaults(fn=_cmd_publish)
    rs.set_defaults(fn=_cmd_render)

    tt = sub.add_parser("test-time", help="exercise 4: eval mode vs dropout left on at test")
    tt.add_argument("--weights", required=True, help="a training job's weights.pt")
    tt.add_argument("--condition", required=True, help="the condition whose models to test")
    tt.add_argument("--data", required=True, help="the prepared data set (.pt)")
    tt.add_argument("--passes", default="1,2,5,10,20,50,100",
                    help="numbers of stochastic passes averaged, comma-separated")
    tt.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto",
                    help="the device to evaluate on")
    tt.add_argument("--out", required=True, help="per model and number of passes (parquet)")
    tt.add_argument("--models-out", default=None,
                    help="per model (parquet; default: <out>_models.parquet beside --out)")
    tt.set_defaults(fn=_cmd_test_time)

    sn = sub.add_parser("select-noise",
                        help="exercise 7: pick each scheme's strength on validation")
    sn.add_argument("--out", required=True, help="the chosen strengths (JSON)")
    sn.add_argument("--endpoint-epochs", type=int, default=3,
                    help="validation accuracy averaged over this many last epochs")
    sn.add_argument("jobs", nargs="+", help="the tuning jobs' directories")
    sn.set_defaults(fn=_cmd_select_noise)

    st = sub.add_parser("status", help="a running study's progress: every training job's "
                        "epochs, models and time left, and the study's (from its logs)")
    st.add_argument("--dir", default=".", help="the study's folder (where snakemake runs)")
    st.add_argument("--preset", default=None,
                    help="the preset whose study to show (default: the one started last)")
    st.add_argument("--running", action="store_true", help="list only the running jobs")
    st.add_argument("--json", action="store_true", help="print one JSON object")
    st.set_defaults(fn=_cmd_status)
    pg = sub.add_parser("progress", help="save a study's finished jobs into one archive, "
                        "restore such an archive into another clone, or share the training "
                        "between machines (docs/progress.md)")
    study = argparse.ArgumentParser(add_help=False)  # the options every action takes
    study.add_argument("--dir", default=".", help="the study's folder (where snakemake runs)")
    study.add_argument("--config", default=None, help="its config (default: DIR/config.yaml)")
    study.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="override, as with snakemake --config (restore: the archive's "
                            "preset unless set)")
    actions = pg.add_subparsers(dest="action", required=True, metavar="{save,restore,share}",
                                help="save an archive, restore one, or print a share's targets")
    for name, text in (("save", "pack the study's finished training jobs into ARCHIVE"),
                       ("restore", "put ARCHIVE's jobs into the study, as done")):
        act = actions.add_parser(name, parents=[study], help=text)
        act.add_argument("archive", metavar="ARCHIVE", help="the archive (.tar.gz)")
    sh = actions.add_parser("share", parents=[study], help="print the Snakemake targets of "
                            "the K-th of N shares of the training, for N machines side by side")
    sh.add_argument("archive", metavar="K/N", help="which share, e.g. 1/2 (the first of two)")
    pg.set_defaults(fn=_cmd_progress)
    pr = sub.add_parser("precision-round",
                        help="a precision round: every headline's width, the next round's seeds")
    pr.add_argument("--config", required=True, help="the resolved config (JSON)")
    pr.add_argument("--round", type=int, required=True, help="this round's number (from 1)")
    pr.add_argument("--previous", default=None, help="the previous round's decision (JSON)")
    pr.add_argument("--out", required=True, help="this round's decision (JSON)")
    pr.add_argument("--test-time", nargs="*", default=[],
                    help="exercise 4's evaluation tables of this round's jobs (parquet)")
    pr.add_argument("--test-time-models", nargs="*", default=[],
                    help="exercise 4's per-model tables of this round's jobs (parquet)")
    pr.add_argument("jobs", nargs="+", help="the round's job folders")
    pr.set_defaults(fn=_cmd_precision_round)

    cc = sub.add_parser("concat", help="concatenate parquet tables")
    cc.add_argument("--out", required=True, help="the table to write (parquet)")
    cc.add_argument("files", nargs="+", help="the tables to concatenate (parquet)")
    cc.set_defaults(fn=_cmd_concat)

    for name, fn, hlp in (("plan", _cmd_plan,
                           "jobs, model-epochs and estimated wall time of a preset"),
                          ("check-config", _cmd_check_config, "validate the configuration")):
        c = sub.add_parser(name, help=hlp)
        c.add_argument("--config", default="config.yaml", help="the study's config file")
        c.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="override, as with snakemake --config (e.g. preset=quick)")
        if name == "check-config":
            c.add_argument("--show", action="store_true",
                           help="print the resolved config (JSON)")
        else:
            c.add_argument("--estimate", action=argparse.BooleanOptionalAction, default=True,
                           help="estimate the time from the plan's FLOPs at this machine's "
                                "rates (measured once, a second or two, then cached)")
            c.add_argument("--json", action="store_true",
                           help="print one JSON object instead of the table")
            c.add_argument("--cores", type=int, default=None,
                           help="as snakemake --cores (default: all of this machine's)")
            c.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto",
                           help="plan for this device, as --set device=...: its packing of "
                                "jobs, and its time estimate, measured on it (default: the "
                                "config's)")
            c.add_argument("--gpu-memory", type=float, default=None, metavar="GiB",
                           help="the memory of each GPU in GiB, for the packing on CUDA, as "
                                "--set gpu_memory=...; needed where this machine has no GPU "
                                "(default: the smallest GPU this machine sees)")
        c.set_defaults(fn=fn)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    try:
        args.fn(args)
    except UserError as exc:
        print(f"dropout-study: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
