# Config -> study: resolve the preset, validate against the schema (naming the wrong key),
# and derive the job list. Everything downstream is a function of STUDY.
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir) / "src"))

from snakemake.exceptions import WorkflowError

from dropout_study import config as study_config
from dropout_study.errors import ConfigError
from dropout_study.plan import all_jobs


configfile: "config.yaml"


try:
    STUDY = study_config.resolve(config, workflow.config_settings.overwrite_config)
except ConfigError as exc:
    raise WorkflowError(str(exc)) from None

JOBS = all_jobs(STUDY)
JOB_INDEX = {(j.experiment, j.job): j for jobs in JOBS.values() for j in jobs}


def job_dir(experiment, job):
    return f"results/runs/{experiment}/{job}"


def job_spec_json(wildcards):
    return JOB_INDEX[(wildcards.experiment, wildcards.job)].to_json()


def all_job_outputs(name="metrics.parquet"):
    return [f"{job_dir(e, j)}/{name}" for (e, j) in JOB_INDEX]


wildcard_constraints:
    experiment="[a-z_]+",
    job=r"j\d+",
