# Config -> study: resolve the preset, validate against the schema (naming the wrong key),
# and derive the job list. Everything downstream is a function of STUDY.
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir) / "src"))

from snakemake.exceptions import WorkflowError

from dropout_study import config as study_config
from dropout_study.errors import ConfigError
from dropout_study.experiments import rates_name
from dropout_study.locks import clear_stale_locks, record_owner
from dropout_study.plan import NOISE_SELECTION, all_jobs, runtime_minutes


configfile: "config.yaml"


# Only the --config values are re-applied over the preset (overwrite_config would also hold
# the contents of any --configfile, which would undo the preset).
CLI_CONFIG = {k: v for k, v in dict(workflow.config_settings.config or {}).items()}

try:
    STUDY = study_config.resolve(config, CLI_CONFIG)
except ConfigError as exc:
    raise WorkflowError(str(exc)) from None

# A run killed with kill -9 leaves Snakemake's locks behind; remove them when their owner is
# provably gone, so that `snakemake --rerun-incomplete` alone resumes the study.
_STALE = clear_stale_locks()
if _STALE:
    print(f"dropout-study: removed {len(_STALE)} stale lock(s) of a killed run "
          "(its process is gone)", file=sys.stderr)


onstart:
    record_owner()


onsuccess:
    _failed = Path("results/failed_jobs.json")
    if _failed.exists() and json.loads(_failed.read_text()):
        print(f"dropout-study: {len(json.loads(_failed.read_text()))} job(s) failed and are "
              "marked in the report; run the same command again to retry them", file=sys.stderr)


JOBS = all_jobs(STUDY)

# Under --keep-going a job that fails is marked (failed.json, empty tables) so that the report
# is still built and names it; without it, a failure stops the run as usual. A marked job is
# retried by the next run: its marker and tables are removed before the DAG is built.
def on_failure(wildcards):
    """Evaluated per job, once the execution settings (--keep-going) are known."""
    return "mark" if getattr(workflow.execution_settings, "keep_going", False) else "fail"


# (The aggregate's list of failures goes too: Snakemake rebuilds a missing intermediate file
# only for a job that has to run.)
if workflow.is_main_process and not workflow.dryrun:
    for _marker in sorted(Path("results/runs").glob("*/*/failed.json")):
        for _name in ("metrics.parquet", "runs.parquet", "failed.json"):
            (_marker.parent / _name).unlink(missing_ok=True)
        Path("results/failed_jobs.json").unlink(missing_ok=True)
        print(f"dropout-study: retrying {_marker.parent}, marked failed by an earlier run",
              file=sys.stderr)
TRAIN_SIZE = STUDY["data"].get("train_size") or 60000 - STUDY["data"]["validation_size"]
DEVICE_KIND = "cuda" if STUDY["device"] == "cuda" else "cpu"
JOB_INDEX = {(j.experiment, j.job): j for jobs in JOBS.values() for j in jobs}


TEST_TIME_ON = STUDY["experiments"].get("test_time", {}).get("enabled", False)
TEST_TIME_CONDITION = (
    rates_name(*STUDY["experiments"]["test_time"]["rates"]) if TEST_TIME_ON else ""
)
TEST_TIME_JOBS = [
    j.job
    for j in JOBS.get("layer_rates", [])
    if any(c.name == TEST_TIME_CONDITION for c in j.conditions)
] if TEST_TIME_ON else []


def evaluation_tables():
    """The aggregated evaluation-only tables the report needs."""
    return ["results/test_time.parquet"] if TEST_TIME_ON else []


def job_dir(experiment, job):
    return f"results/runs/{experiment}/{job}"


def job_spec_json(wildcards):
    return JOB_INDEX[(wildcards.experiment, wildcards.job)].to_json()


def all_job_outputs(name="metrics.parquet"):
    return [f"{job_dir(e, j)}/{name}" for (e, j) in JOB_INDEX]


wildcard_constraints:
    experiment="[a-z_]+",
    job=r"j\d+",


def benchmark_files():
    """Snakemake's benchmark file of every job before the report's own (the report shows the
    run time of each rule from them)."""
    train = [
        f"benchmarks/{'train_selected' if e == 'noise_final' else 'train'}/{e}/{j}.tsv"
        for (e, j) in JOB_INDEX
    ]
    tests = [f"benchmarks/test_time/{j}.tsv" for j in TEST_TIME_JOBS]
    rest = ["prepare_data", "resolved_config", "aggregate"]
    rest += ["aggregate_test_time"] if TEST_TIME_ON else []
    rest += ["select_noise"] if JOBS.get("noise_tuning") else []
    return [f"benchmarks/{r}.tsv" for r in rest] + train + tests
