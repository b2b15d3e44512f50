"""The exact environment and the machine a study trained in, recorded by every training job.

A job's ``job.json`` names a few versions (``device.versions``); that says what the numbers
came from, not how to rebuild it. So each job also records its **environment** (the Python,
the platform, and every installed distribution as ``name==version``, read with
``importlib.metadata``) and its **machine** (processor, CPUs, memory, GPUs), and the
aggregation writes them once for the study:

- ``environment.lock``: one ``name==version`` line per package, as ``pip freeze`` writes them,
  under a header comment, so that ``pip install -r environment.lock`` rebuilds it (this
  project's own line is a comment: it installs from its clone, not PyPI). Where the
  jobs did not all run in one environment (part of a study on a cluster, a package upgraded
  between runs), every distinct environment is kept: the one most jobs ran in as the lines
  pip reads, each other below it as comment lines (``#   name==version``), each under a
  header of its own (``read_lock`` reads them back);
- ``machine.json``: each distinct machine, with the jobs that ran on it.

The report's provenance states the lock (its digest, its packages, the key ones) and the
machines (``provenance``).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import subprocess
import sys
from collections import Counter
from importlib import metadata
from pathlib import Path

from .io import atomic_write_text

LOCK, MACHINE = "environment.lock", "machine.json"
PROJECT = "dropout-study"
# shown by name in the report; the lock has all of them
KEY_PACKAGES = ("torch", "torchvision", "numpy", "scipy", "pandas", "pyarrow", "matplotlib",
                "seaborn", "jinja2", "snakemake")


def canonical(name: str) -> str:
    """A distribution's name as pip compares names (PEP 503): ``PyYAML`` and ``pyyaml``,
    ``typing_extensions`` and ``typing-extensions`` are one package."""
    return re.sub(r"[-_.]+", "-", name).lower()


def packages() -> list[str]:
    """Every distribution installed where this process imports from, ``name==version``, sorted
    by name, one per name: where a package is installed twice (an editable install beside a
    regular one), the first on ``sys.path``, the one ``import`` finds."""
    seen: dict[str, str] = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name and canonical(name) not in seen:
            seen[canonical(name)] = f"{name}=={dist.version}"
    return [seen[k] for k in sorted(seen)]


def _libc() -> str:
    lib, version = platform.libc_ver()
    return f" ({lib} {version})" if lib else ""


def environment() -> dict:
    """This process's environment: the interpreter, the kind of platform (what a wheel is
    built for: the operating system, the architecture, the C library), every package, and
    torch's build where torch is loaded (a training job): its ``__version__`` carries the
    build's local label (``2.14.1+cu130``, ``+cpu``) that the distribution's version, and so
    ``pip freeze``, may lack."""
    torch = sys.modules.get("torch")
    return {"python": f"{platform.python_implementation()} {platform.python_version()}",
            "platform": f"{platform.system()} {platform.machine()}{_libc()}",
            "packages": packages()} | ({"torch": torch.__version__} if torch else {})


def _processor() -> str:
    """The processor's model name (Linux: /proc/cpuinfo), else what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.split(":")[0].strip() in ("model name", "Model"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gib() -> float | None:
    try:
        return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2 ** 30, 1)
    except (ValueError, OSError, AttributeError):
        return None


def _gpus() -> list[dict]:
    """The GPUs torch sees, where torch is loaded already (a training job): never imported
    here for this, so recording a machine costs no CUDA initialisation."""
    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_available():
        return []
    props = [torch.cuda.get_device_properties(i) for i in range(torch.cuda.device_count())]
    return [{"name": p.name, "memory_gib": round(p.total_memory / 2 ** 30, 1)} for p in props]


def machine() -> dict:
    """This machine: processor, logical CPUs (and those this process may use: a cluster's
    allocation), memory, GPUs and operating system."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return {"processor": _processor(), "cpus": os.cpu_count(), "cpus_usable": usable,
            "memory_gib": _memory_gib(), "gpus": _gpus(), "os": platform.platform()}


def record() -> dict:
    """What a training job records of where it ran (its ``job.json``)."""
    return {"environment": environment(), "machine": machine()}


def code_version() -> str:
    """``git describe`` of the code: of this package's folder where it is a checkout (an
    editable install), else of the working directory (a clone, with the package installed)."""
    for where in (os.path.dirname(__file__), os.getcwd()):
        try:
            out = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=where,
                                 capture_output=True, text=True, timeout=5)
        except (OSError, subprocess.SubprocessError):
            continue
        if out.returncode == 0 and out.stdout.strip():
            return out.stdout.strip()
    return "unknown"


# -- the study's lock and machines, from its jobs ----------------------------------------------

def _key(record: dict) -> str:
    return json.dumps(record, sort_keys=True)


def distinct(records: list[dict | None]) -> list[tuple[dict, list[int]]]:
    """Each distinct record (of ``None``s: a job that recorded none) with the indices of the
    jobs that hold it, the one most jobs hold first (ties: the first seen)."""
    groups: dict[str, list[int]] = {}
    first: dict[str, dict] = {}
    for i, r in enumerate(records):
        if r is None:
            continue
        k = _key(r)
        groups.setdefault(k, []).append(i)
        first.setdefault(k, r)
    order = sorted(groups, key=lambda k: -len(groups[k]))
    return [(first[k], groups[k]) for k in order]


def lock_text(envs: list[tuple[dict, list[int]]], jobs: int) -> str:
    """``environment.lock`` of the distinct environments (``distinct``) of ``jobs`` jobs."""
    recorded = sum(len(ix) for _, ix in envs)
    head = ["# dropout-study: every installed distribution of the environment the study's "
            "training jobs ran in,",
            "# name==version as `pip freeze` writes them (read with importlib.metadata); "
            "`pip install -r` rebuilds it."]
    if len(envs) > 1:
        head += [f"# {len(envs)} distinct environments: the jobs did not all run in the same "
                 "one. The first (most jobs)",
                 "# is below as the lines pip reads; each other follows as comment lines "
                 "(#   name==version)."]
    if recorded < jobs:
        head.append(f"# {jobs - recorded} of {jobs} jobs recorded no environment (trained by "
                    "an earlier version of dropout-study).")
    lines = head
    for n, (env, ix) in enumerate(envs, 1):
        build = f"; torch build {env['torch']}" if env.get("torch") else ""
        own, rest = split_project(env["packages"])
        lines.append(f"# environment {n} of {len(envs)}: {len(rest)} packages; "
                     f"{len(ix)} of {jobs} jobs; {env['python']} on {env['platform']}{build}")
        lines += [f"# {p}: this project, not on PyPI (`pip install .` from a clone at the "
                  "report's code version)" for p in own]
        indent = "" if n == 1 else "#   "
        lines += [indent + p for p in rest]
    return "\n".join(lines) + "\n"


def split_project(lines: list[str]) -> tuple[list[str], list[str]]:
    """(this project's own line, the others): the project is installed from its clone, so
    its line would make ``pip install -r`` fail; the lock keeps it as a comment."""
    own = [p for p in lines if canonical(p.partition("==")[0]) == PROJECT]
    return own, [p for p in lines if p not in own]


_ENV_HEADER = re.compile(r"# environment \d+ of \d+: \d+ packages; (\d+) of \d+ jobs; "
                         r"(.+?) on ([^;]+)(?:; torch build (\S+))?$")


def read_lock(text: str) -> list[dict]:
    """The environments of a lock (``lock_text``), each with its python, platform, torch build
    (None where not recorded), packages and number of jobs, in the lock's order."""
    envs: list[dict] = []
    for line in text.splitlines():
        m = _ENV_HEADER.match(line)
        if m:
            envs.append({"python": m.group(2), "platform": m.group(3), "torch": m.group(4),
                         "packages": [], "jobs": int(m.group(1))})
        elif envs and line.startswith("#   "):  # an environment after the first
            envs[-1]["packages"].append(line.removeprefix("#   "))
        elif envs and line and not line.startswith("#"):
            envs[-1]["packages"].append(line)
    return envs


def write(jobs: list[dict], out_dir: Path) -> list[dict]:
    """``environment.lock`` and ``machine.json`` of the jobs' records (their ``job.json``);
    returns the jobs with each record replaced by its number in those files (1-based; None
    where the job recorded none), so that ``jobs.json`` does not hold a lock per job."""
    envs = distinct([j.get("environment") for j in jobs])
    machines = distinct([j.get("machine") for j in jobs])
    atomic_write_text(out_dir / LOCK, lock_text(envs, len(jobs)))

    def name(j: dict) -> str:
        spec = j.get("spec") or {}
        return f"{spec.get('experiment', '?')}/{spec.get('job', '?')}"

    atomic_write_text(out_dir / MACHINE, json.dumps({"machines": [
        m | {"devices": sorted({str(jobs[i].get("device")) for i in ix}),
             "jobs": [name(jobs[i]) for i in ix]} for m, ix in machines]}, indent=1))
    env_no = {i: n for n, (_, ix) in enumerate(envs, 1) for i in ix}
    machine_no = {i: n for n, (_, ix) in enumerate(machines, 1) for i in ix}
    return [j | {"environment": env_no.get(i), "machine": machine_no.get(i)}
            for i, j in enumerate(jobs)]


# -- what the report says of them --------------------------------------------------------------

def _version(packages: list[str], name: str) -> str | None:
    for p in packages:
        n, _, v = p.partition("==")
        if canonical(n) == canonical(name):
            return v
    return None


def machine_text(m: dict) -> str:
    """A machine in words: "Intel Xeon, 2 CPUs, 23.5 GiB memory, no GPU"."""
    cpus = f"{m['cpus']} CPUs" + (f" ({m['cpus_usable']} usable)" if m.get("cpus_usable")
                                  not in (None, m["cpus"]) else "")
    memory = f", {m['memory_gib']:g} GiB memory" if m.get("memory_gib") else ""
    gpus = Counter(f"{g['name']} ({g['memory_gib']:g} GiB)" for g in m.get("gpus", []))
    gpu = ", ".join(f"{n} × {g}" if n > 1 else g for g, n in gpus.items()) or "no GPU"
    return f"{m['processor']}, {cpus}{memory}, {gpu}; {m['os']}"


def provenance(results_dir: Path) -> dict | None:
    """What the report says of the study's environment and machines: the lock's digest (of the
    file's bytes), its environments (the first's packages, and its key ones by name, torch's
    with its build) and each machine in words; None where the study recorded neither (tables
    of an earlier version)."""
    lock, machines = Path(results_dir) / LOCK, Path(results_dir) / MACHINE
    if not lock.is_file():
        return None
    data = lock.read_bytes()
    envs = read_lock(data.decode())
    first = envs[0] if envs else {"python": "?", "platform": "?", "packages": [], "jobs": 0}
    key = [{"name": k, "version": first.get("torch") or v if k == "torch" else v}
           for k in KEY_PACKAGES if (v := _version(first["packages"], k)) is not None]
    listed = json.loads(machines.read_text())["machines"] if machines.is_file() else []
    return {"file": LOCK, "sha256": hashlib.sha256(data).hexdigest()[:12],
            "environments": len(envs), "python": first["python"],
            "platform": first["platform"], "packages": len(first["packages"]),
            "jobs": [e["jobs"] for e in envs], "key": key, "lines": first["packages"],
            "machines": [{"text": machine_text(m), "jobs": len(m["jobs"])} for m in listed]}


def code_versions(jobs: list[dict]) -> list[dict]:
    """The code versions the training jobs ran at, most jobs first: each with its number of
    jobs and, for a version of at most 3 jobs, their names (``experiment/job``). A study
    trained over several sessions may run at several; each job's name fixes what it
    computes, so jobs of different versions with a name in common computed the same."""
    groups: dict[str, list[str]] = {}
    for j in jobs:
        name = "/".join(Path(j.get("dir", "?")).parts[-2:])
        groups.setdefault(j.get("code_version", "unknown"), []).append(name)
    order = sorted(groups, key=lambda v: (-len(groups[v]), v))
    return [{"version": v, "jobs": len(groups[v]),
             "names": sorted(groups[v]) if len(groups[v]) <= 3 else []} for v in order]


def code_versions_text(versions: list[dict]) -> str:
    """``versions`` (``code_versions``) in words: "`abc1234`" for one; for several, each with
    its jobs, "`abc1234` (32 jobs) and `def5678` (1 job: weight_dropout/c6ddc3fc8-s0000-0002)"."""
    if not versions:
        return "`unknown`"
    if len(versions) == 1:
        return f"`{versions[0]['version']}`"

    def one(v: dict) -> str:
        n = f"{v['jobs']} job{'s' if v['jobs'] != 1 else ''}"
        return f"`{v['version']}` ({n}{': ' + ', '.join(v['names']) if v['names'] else ''})"

    parts = [one(v) for v in versions]
    return ", ".join(parts[:-1]) + " and " + parts[-1]
