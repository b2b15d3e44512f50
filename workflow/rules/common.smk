# Config -> study: the config file, then its preset's file, then --configfile/--config (the
# layering is Snakemake's own: each configfile directive re-applies the command line on top),
# validated against the schema (naming the wrong key). Everything downstream is a function of
# STUDY. Parsing this file reads files only: it writes or deletes nothing.
import json
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError

from dropout_study import config as study_config
from dropout_study.errors import ConfigError
from dropout_study.exercises import check as exercise_check
from dropout_study.experiments import rates_name
from dropout_study import precision as study_precision
from dropout_study.estimate import study_start
from dropout_study.plan import (
    JOB_PATTERN,
    all_jobs,
    evaluated_jobs,
    noise_selection,
    results_dir,
    runtime_minutes,
    spec_of,
    templates,
)

WORKFLOW_DIR = Path(workflow.basedir) / "workflow"


configfile: "config.yaml"


try:
    PRESET_FILE = study_config.preset_file(
        WORKFLOW_DIR / "presets", config.get("preset", "full")
    )
except ConfigError as exc:
    raise WorkflowError(str(exc)) from None


configfile: PRESET_FILE


# `auto` packing (conditions_per_job, threads_per_job) and `device: auto` are resolved here,
# once, into STUDY["packing"]. Only where the jobs run on this machine are its GPUs looked at:
# where they run elsewhere (a cluster), the packing follows from the config alone, the same on
# the submitting host and in the jobs' own reading of this file on the nodes.
try:
    STUDY = study_config.checked(
        config,
        WORKFLOW_DIR / "schemas" / "config.schema.yaml",
        detect=workflow.local_exec and not workflow.remote_exec,
        checks=[exercise_check],
    )
except ConfigError as exc:
    raise WorkflowError(str(exc)) from None


# Every output of a preset under its own folders: a quick run never overwrites the full study.
RESULTS = results_dir(STUDY)  # results/<preset>: tables, runs, report
LOGS = f"logs/{STUDY['preset']}"
BENCHMARKS = f"{RESULTS}/benchmarks"
NOISE_SELECTION = noise_selection(STUDY)


onstart:
    # before any job: the study's estimated cost here (a second or two, cached), and the plan
    # that `dropout-study status` reads
    try:
        print(
            study_start(STUDY, workflow._cores, f"{LOGS}/plan.json"),
            file=sys.stderr,
        )
    except Exception as exc:  # an estimate is a courtesy; it never stops the study
        print(
            f"dropout-study: no estimate of the run time ({exc})", file=sys.stderr
        )


onsuccess:
    _render_log, _plan = Path(f"{LOGS}/report.log"), Path(f"{LOGS}/plan.json")
    if (
        _render_log.exists()
        and _plan.exists()
        and _render_log.stat().st_mtime >= _plan.stat().st_mtime
        and "quarto is not on PATH" in _render_log.read_text()
    ):
        print(
            f"dropout-study: {RESULTS}/report.html was rendered by pandoc: Quarto is not "
            "on PATH (docs/running.md#setting-up says how to get it)",
            file=sys.stderr,
        )
    _failed = Path(f"{RESULTS}/failed_jobs.json")
    _marked = json.loads(_failed.read_text()) if _failed.exists() else []
    if _marked:
        print(
            f"dropout-study: {len(_marked)} job(s) failed on their last attempt and are "
            "marked in the report; to retry them, run the same command with --forcerun "
            + " ".join(f"{m['dir']}/metrics.parquet" for m in _marked),
            file=sys.stderr,
        )


JOBS = all_jobs(STUDY)
# A training job that raises is tried again (retries); one that fails its last attempt stops
# the study (on_failure: stop, Snakemake's default), or is marked (on_failure: mark): its
# outputs say it failed, and the report is built without it and names it.
TRAIN_ATTEMPTS = STUDY.get("retries", 0) + 1
ON_FAILURE = STUDY.get("on_failure", "stop")
TRAIN_SIZE = STUDY["data"].get("train_size") or 60000 - STUDY["data"]["validation_size"]
DEVICE_KIND = STUDY["packing"]["device"]  # cpu | cuda, as resolved
TRAIN_THREADS = STUDY["packing"]["threads_per_job"] or 1024  # 0: all of --cores
JOB_INDEX = {(j.experiment, j.job): j for jobs in JOBS.values() for j in jobs}
TEMPLATES = templates(JOBS)  # any job's spec from its name (precision rounds add jobs)
PRECISION = study_precision.settings(STUDY)


def job_spec(experiment, job):
    return JOB_INDEX.get((experiment, job)) or spec_of(TEMPLATES, experiment, job)


# A precision target (precision.enabled): the study runs in rounds. Round r's jobs are known
# once round r-1's checkpoint (precision_round) has judged every headline's width; the study
# ends at the first round that adds no seeds.
def round_decision(r):
    return Path(checkpoints.precision_round.get(round=r).output[0])


def round_jobs(r):
    """The jobs of round r: every seed so far of each experiment, blocks cut where a round began."""
    if r == 1:
        return JOBS
    d = json.loads(round_decision(r - 1).read_text())
    return all_jobs(STUDY, d["next"], study_precision.cuts(d["history"]))


def precision_decisions():
    """Every precision round's decision up to the last (none without a target)."""
    if not PRECISION["enabled"]:
        return []
    files = [round_decision(1)]
    while not json.loads(files[-1].read_text())["done"]:
        files.append(round_decision(len(files) + 1))
    return [str(f) for f in files]


def final_jobs():
    """The jobs the report reads: the study's, or those of the last precision round."""
    if not PRECISION["enabled"]:
        return JOBS
    r = 1
    while not json.loads(round_decision(r).read_text())["done"]:
        r += 1
    return round_jobs(r)


TEST_TIME_ON = STUDY["experiments"].get("test_time", {}).get("enabled", False)
TEST_TIME_CONDITION = (
    rates_name(*STUDY["experiments"]["test_time"]["rates"]) if TEST_TIME_ON else ""
)


def test_time_jobs(jobs):
    """The exercise-1 jobs whose models exercise 4 evaluates."""
    return evaluated_jobs(STUDY, jobs)


def evaluation_tables():
    """The aggregated evaluation-only tables the report needs."""
    if not TEST_TIME_ON:
        return []
    return [f"{RESULTS}/test_time.parquet", f"{RESULTS}/test_time_models.parquet"]


def job_dir(experiment, job):
    return f"{RESULTS}/runs/{experiment}/{job}"


def job_spec_json(wildcards):
    return job_spec(wildcards.experiment, wildcards.job).to_json()


def job_outputs(jobs, name="metrics.parquet"):
    return [f"{job_dir(e, j.job)}/{name}" for e, js in jobs.items() for j in js]


def test_time_outputs(jobs, suffix=""):
    return [
        f"{RESULTS}/eval/test_time/{j}{suffix}.parquet" for j in test_time_jobs(jobs)
    ]


wildcard_constraints:
    experiment="[a-z_]+",
    job=JOB_PATTERN,


# the rule that trains an experiment's jobs, where it is not `train` (train.smk)
TRAIN_RULE = {"layer_rates": "train_keeping_weights", "noise_final": "train_selected"}


def benchmark_files(wildcards=None):
    """Snakemake's benchmark file of every job before the report's own (the report shows the
    run time of each rule from them)."""
    jobs = final_jobs()
    train = [
        f"{BENCHMARKS}/{TRAIN_RULE.get(e, 'train')}/{e}/{j.job}.tsv"
        for e, js in jobs.items()
        for j in js
    ]
    tests = [f"{BENCHMARKS}/test_time/{j}.tsv" for j in test_time_jobs(jobs)]
    rest = ["prepare_data", "resolved_config", "aggregate"]
    rest += ["aggregate_test_time"] if TEST_TIME_ON else []
    rest += ["select_noise"] if JOBS.get("noise_tuning") else []
    return [f"{BENCHMARKS}/{r}.tsv" for r in rest] + train + tests
