"""The smoke study through Snakemake's SLURM executor, against a real one-node SLURM cluster.

The cluster is started from Debian's packages by the test itself (tests/slurm_cluster.py);
one training job is cancelled with scancel mid-run to check that the study survives it.
"""

import os
import subprocess
import threading
import time

import pytest

from .conftest import ROOT, need
from .slurm_cluster import Cluster
from .snakemake_run import environment, snakemake_cmd

pytestmark = [pytest.mark.integration, pytest.mark.slurm]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip("starting slurmctld/slurmd needs root")
    for tool in ("sbatch", "pandoc"):
        need(tool)
    c = Cluster(tmp_path_factory.mktemp("slurm"))
    try:
        c.start()
    except RuntimeError as exc:
        c.stop()
        pytest.fail(f"could not start a SLURM cluster: {exc}")
    yield c
    c.stop()


def cancel_one_running_job(cluster, stop: threading.Event, cancelled: list) -> None:
    """scancel the first training group job seen running, once."""
    while not stop.is_set() and not cancelled:
        out = subprocess.run(["squeue", "-h", "-t", "RUNNING", "-o", "%i|%k"],
                             capture_output=True, text=True, env=cluster.env())
        for line in out.stdout.splitlines():
            job_id, comment = line.split("|", 1)
            if "training" in comment or "train" in comment:
                time.sleep(2)  # let it start training, then kill it
                subprocess.run(["scancel", job_id], env=cluster.env())
                cancelled.append(job_id)
                return
        time.sleep(0.5)


def test_smoke_study_runs_under_slurm(cluster, tmp_path, real_data_dir):
    stop, cancelled = threading.Event(), []
    killer = threading.Thread(target=cancel_one_running_job, args=(cluster, stop, cancelled))
    killer.start()
    # the README's command (the profile alone sets executor, resources, groups and retries),
    # pointed at a scratch directory; status checks start after 2 s instead of 40
    cmd = [*snakemake_cmd(tmp_path),
           "--profile", str(ROOT / "workflow" / "profiles" / "slurm"),
           "--config", "preset=smoke", "--slurm-status-command", "squeue",
           "--slurm-init-seconds-before-status-checks", "2"]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=1200,
                             env=environment(cluster.env()))
    finally:
        stop.set()
        killer.join()
    log = out.stdout[-4000:] + out.stderr[-4000:]
    assert out.returncode == 0, log
    html = (tmp_path / "results" / "smoke" / "report.html").read_text()
    assert "Exercise 1: " in html and "Exercise 10: " in html and "not answered" not in html
    jobs = [j.split("|") for j in cluster.jobs()]
    done = {comment.strip() for _, _, state, comment in jobs if state == "COMPLETED"}
    # every non-local rule went through the controller, training in groups
    for rule in ("rule_prepare_data", "rule_training_train",
                 "rule_training_selected_train_selected", "rule_select_noise", "rule_aggregate",
                 "rule_figures", "rule_report"):
        assert rule in done, (rule, jobs)
    # the job cancelled with scancel was resubmitted (retries) and the study still finished
    assert cancelled, "no running training job was seen to cancel"
    states = {job_id: state for job_id, _, state, _ in jobs}
    assert states[cancelled[0]] == "CANCELLED"
    training = [j for j in jobs if j[3].strip() == "rule_training_train"]
    assert len(training) >= 2 and sum(j[2] == "COMPLETED" for j in training) >= 1
    print(f"{len(jobs)} SLURM jobs: {sorted(set(states.values()))}; cancelled: {cancelled}")
