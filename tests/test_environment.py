"""The environment lock and the machine: what every job records, what the study aggregates,
and what the report's provenance says of them."""

import hashlib
import json
import os
import platform
import re

import pandas as pd
import torch

from dropout_study import environment
from dropout_study.aggregate import aggregate
from dropout_study.report import render_markdown

from .synthetic import ROOT
from .test_report import minimal_context

LINE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*==\S+$")


def test_the_lock_holds_every_installed_package_once_sorted_with_torch_s_exact_version():
    lines = environment.packages()
    assert all(LINE.match(x) for x in lines), [x for x in lines if not LINE.match(x)]
    names = [environment.canonical(x.partition("==")[0]) for x in lines]
    assert names == sorted(names) and len(set(names)) == len(names)
    # torch's line as pip has it: its version without the build's local label (+cu130, +cpu),
    # which the environment records beside it
    assert f"torch=={torch.__version__.partition('+')[0]}" in lines
    assert environment.environment()["torch"] == torch.__version__
    assert {"snakemake", "pandas", "numpy", "dropout-study"} <= set(names)
    env = environment.environment()
    assert env["python"] == f"{platform.python_implementation()} {platform.python_version()}"
    assert env["platform"].startswith(f"{platform.system()} {platform.machine()}")


def test_a_name_installed_twice_is_locked_once_as_import_finds_it():
    assert environment.canonical("PyYAML") == environment.canonical("pyyaml") == "pyyaml"
    assert environment.canonical("typing_extensions") == "typing-extensions"
    assert environment.canonical("zope.interface") == "zope-interface"


def test_the_machine_is_this_one():
    m = environment.machine()
    assert m["cpus"] == os.cpu_count() and 1 <= m["cpus_usable"] <= m["cpus"]
    assert m["memory_gib"] > 0 and m["processor"] and m["os"] == platform.platform()
    assert m["gpus"] == ([] if not torch.cuda.is_available() else m["gpus"])


def job(tmp_path, name: str, record: dict) -> os.PathLike:
    """A finished job's folder with empty tables and ``record`` in its job.json."""
    d = tmp_path / "runs" / "t" / name
    d.mkdir(parents=True)
    for table in ("metrics", "runs", "activations"):
        pd.DataFrame().to_parquet(d / f"{table}.parquet")
    meta = {"device": "cpu", "spec": {"experiment": "t", "job": name}, "failed": None}
    (d / "job.json").write_text(json.dumps(meta | record))
    return d


def test_the_study_writes_one_lock_and_its_machines(tmp_path):
    here = environment.record()
    dirs = [job(tmp_path, f"j{i}", here) for i in range(3)]
    aggregate(dirs, tmp_path / "results")
    out = tmp_path / "results"
    text = (out / "environment.lock").read_text()
    first = text.splitlines()[0]
    assert first.startswith("# ") and "every installed distribution" in first
    # the lines pip reads are exactly this environment's packages but this project's own
    # (installed from its clone; on PyPI no such package exists), which is a comment
    own, rest = environment.split_project(here["environment"]["packages"])
    assert len(own) == 1 and own[0].startswith("dropout-study==")
    assert [x for x in text.splitlines() if not x.startswith("#")] == rest
    assert f"# {own[0]}: this project, not on PyPI" in text
    assert (f"# environment 1 of 1: {len(rest)} packages; 3 of 3 jobs; "
            f"{here['environment']['python']} on {here['environment']['platform']}; torch build "
            f"{torch.__version__}\n") in text
    assert "distinct environments" not in text
    machines = json.loads((out / "machine.json").read_text())["machines"]
    assert len(machines) == 1 and machines[0]["jobs"] == ["t/j0", "t/j1", "t/j2"]
    assert machines[0]["cpus"] == os.cpu_count() and machines[0]["devices"] == ["cpu"]
    jobs = json.loads((out / "jobs.json").read_text())
    assert [(j["environment"], j["machine"]) for j in jobs] == [(1, 1)] * 3  # not a lock a job


def test_jobs_in_different_environments_keep_every_lock_and_the_report_says_how_many(tmp_path):
    here = environment.record()
    other_env = here["environment"] | {"packages": ["numpy==1.0", "torch==2.0.0"]}
    cluster = here["machine"] | {"processor": "Cluster CPU", "cpus": 64, "cpus_usable": 8}
    dirs = [job(tmp_path, "j0", here), job(tmp_path, "j1", here),
            job(tmp_path, "j2", {"environment": other_env, "machine": cluster}),
            job(tmp_path, "j3", {})]  # trained before jobs recorded their environment
    out = tmp_path / "results"
    aggregate(dirs, out)
    text = (out / "environment.lock").read_text()
    assert "# 2 distinct environments" in text
    assert "# 1 of 4 jobs recorded no environment" in text
    assert "\n#   numpy==1.0\n#   torch==2.0.0\n" in text  # the second, commented out
    envs = environment.read_lock(text)
    assert [e["jobs"] for e in envs] == [2, 1]
    assert envs[0]["packages"] == environment.split_project(here["environment"]["packages"])[1]
    assert envs[1]["packages"] == ["numpy==1.0", "torch==2.0.0"]
    assert [e["python"] for e in envs] == [here["environment"]["python"]] * 2
    jobs = json.loads((out / "jobs.json").read_text())
    assert [(j["environment"], j["machine"]) for j in jobs] == [(1, 1), (1, 1), (2, 2),
                                                                (None, None)]

    prov = environment.provenance(out)
    assert prov["environments"] == 2 and prov["jobs"] == [2, 1]
    assert [m["jobs"] for m in prov["machines"]] == [2, 1]
    assert prov["machines"][1]["text"].startswith("Cluster CPU, 64 CPUs (8 usable), ")
    md = render_markdown(minimal_context(provenance=minimal_context()["provenance"]
                                         | {"environment": prov}), ROOT / "report")
    assert "**the training jobs ran in 2 distinct environments** (2, 1\n  jobs)" in md
    assert re.search(r"^- Machine 2 of 2: Cluster CPU, 64 CPUs \(8 usable\), .+ \(1 training "
                     r"job\)\.$", md, re.M)
    assert re.search(r"^- Machine 1 of 2: .+ \(2 training jobs\)\.$", md, re.M)


def test_the_provenance_states_the_lock_s_digest_package_count_and_key_versions(tmp_path):
    out = tmp_path / "results"
    aggregate([job(tmp_path, "j0", environment.record())], out)
    lock = out / "environment.lock"
    prov = environment.provenance(out)
    pip_reads = environment.split_project(environment.packages())[1]  # the project aside
    n = len(pip_reads)
    assert prov["sha256"] == hashlib.sha256(lock.read_bytes()).hexdigest()[:12]
    assert prov["packages"] == n and prov["environments"] == 1
    assert {"name": "torch", "version": torch.__version__} in prov["key"]
    assert [k["name"] for k in prov["key"]][:1] == ["torch"]
    ctx = minimal_context(provenance=minimal_context()["provenance"]
                          | {"environment": prov, "analysis_code_version": "x"})
    md = render_markdown(ctx, ROOT / "report")
    provenance = md.split("## Provenance")[1]
    assert f"{n} packages, locked in\n  [`environment.lock`](environment.lock)" in provenance
    assert f"`{prov['sha256']}`" in provenance
    assert f"torch {torch.__version__}" in provenance
    assert "distinct environments" not in provenance
    # the folded list holds every line of the lock pip reads
    listed = provenance.split(f"the {n} packages of `environment.lock`</summary>")[1]
    assert all(x in listed for x in pip_reads)
    # one machine: all jobs on it
    assert re.search(r"^- Machine: .+ \(1 training job\)\.$", provenance, re.M)


def test_without_a_lock_the_report_says_the_environment_was_not_recorded(tmp_path):
    assert environment.provenance(tmp_path) is None
    md = render_markdown(minimal_context(), ROOT / "report")
    assert "Environment and machine: none on record" in md


def test_jobs_of_several_code_versions_are_said_with_their_jobs():
    """Referee read 4: the provenance said "the runs were trained by 36792cf" while one job
    (exercise 6's exact DropConnect) ran at 3e69e70; a study trained over several sessions
    runs at several versions."""
    runs = "results/quick/runs"
    jobs = [{"code_version": "aaa1111", "dir": f"{runs}/layer_rates/c{i}-s0000-0002"}
            for i in range(4)]
    jobs.append({"code_version": "bbb2222", "dir": f"{runs}/weight_dropout/cdc-s0000-0002"})
    versions = environment.code_versions(jobs)
    assert versions == [{"version": "aaa1111", "jobs": 4, "names": []},
                        {"version": "bbb2222", "jobs": 1,
                         "names": ["weight_dropout/cdc-s0000-0002"]}]
    text = environment.code_versions_text(versions)
    assert text == "`aaa1111` (4 jobs) and `bbb2222` (1 job: weight_dropout/cdc-s0000-0002)"
    prov = minimal_context()["provenance"] | {"code_version": "aaa1111", "code_versions": text,
                                              "code_version_count": 2}
    md = render_markdown(minimal_context(provenance=prov | {"analysis_code_version": "aaa1111"}),
                         ROOT / "report")
    provenance = " ".join(md.split("## Provenance")[1].split())
    assert f"**the training jobs ran at 2 code versions**, {text}" in provenance
    assert f"Analysed and rendered by code version `aaa1111` (the runs were trained by {text})" \
        in provenance
    # one version: said once, as before
    one = environment.code_versions(jobs[:4])
    assert environment.code_versions_text(one) == "`aaa1111`"
    prov = minimal_context()["provenance"] | {
        "code_version": "aaa1111", "code_versions": "`aaa1111`", "code_version_count": 1,
        "analysis_code_version": "aaa1111"}
    provenance = " ".join(render_markdown(minimal_context(provenance=prov), ROOT / "report")
                          .split("## Provenance")[1].split())
    assert "- Code version: `aaa1111`;" in provenance and "code versions" not in provenance
    assert "the runs were trained by" not in provenance
