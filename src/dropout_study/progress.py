"""A study's progress, carried from one machine (or clone) to another.

``dropout-study progress save ARCHIVE`` packs what a study's folder has *finished* into one
archive; ``dropout-study progress restore ARCHIVE`` unpacks it into another clone's
``results/<preset>/`` so that Snakemake treats those jobs as done (``snakemake -n`` lists none
of them) and the study goes on from there. Two machines without a cluster can so split a
study and merge it (``docs/progress.md``).

What a finished job is, and what is carried of it:

- a training job whose every output (the rule's: ``metrics``, ``runs`` and ``activations``
  tables, ``job.json``, ``spec.json``, and ``weights.pt`` where the job keeps weights) is
  there and that Snakemake has not marked incomplete (a running job's outputs are);
- its outputs, its log and its benchmark file (the report's run times);
- weights only where something reads them: exercise 4 evaluates one condition's models. The
  other exercise-1 jobs' weights (about 1 MB a model, some 160 MB in the full study) are left
  behind; restore writes a small stub in their place, so that Snakemake sees the output, and
  anything that would read the stub stops with a message saying so (``io.weights_stub``);
- the finished evaluation and selection steps (exercise 4's tables, exercise 7's choice of
  strengths), with their logs and benchmarks.

Restore checks everything before it writes anything: the archive reads whole and every file
has the digest the manifest gives; its preset is the target's; every job in it is a job the
target's config plans (a job's name is a hash of what it trains, ``plan.job_name``); no
Snakemake runs in the target. A job the target has already (any of its outputs) is kept as it
is. The data set is prepared first where it is missing (from the same files, as the
``prepare_data`` rule would), and the restored files keep their order in time, after the data:
Snakemake reruns a job whose input is newer than its outputs. It records no Snakemake metadata,
so Snakemake judges the restored outputs by their presence and times alone.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tarfile
import tempfile
import time
from base64 import urlsafe_b64encode
from pathlib import Path

from .errors import UserError
from .io import WEIGHTS_STUB, atomic_write
from .plan import all_jobs, data_path, evaluated_jobs, noise_selection, results_dir, templates

FORMAT = 1
MANIFEST = "manifest.json"
TABLES = ("metrics.parquet", "runs.parquet", "activations.parquet", "job.json", "spec.json")
WEIGHTS = "weights.pt"
# the rule that trains each experiment's jobs (its benchmark folder): Snakefile, train.smk
RULE = {"layer_rates": "train_keeping_weights", "noise_final": "train_selected"}


def _weights_kept(job) -> bool:
    return any(c.save_weights for c in job.conditions)



def _incomplete(root: Path, rel: str) -> bool:
    """Whether Snakemake marked an output incomplete (its job is running, or was killed)."""
    marker = urlsafe_b64encode(rel.encode()).decode()
    return (root / ".snakemake" / "incomplete" / marker).exists()


def _job_files(cfg: dict, experiment: str, job) -> tuple[list[str], list[str]]:
    """A training job's outputs, and its log and benchmark, relative to the study's folder."""
    res, preset = results_dir(cfg), cfg["preset"]
    outputs = [f"{res}/runs/{experiment}/{job.job}/{n}" for n in TABLES]
    if _weights_kept(job):
        outputs.append(f"{res}/runs/{experiment}/{job.job}/{WEIGHTS}")
    extra = [f"logs/{preset}/train/{experiment}/{job.job}.log",
             f"{res}/benchmarks/{RULE.get(experiment, 'train')}/{experiment}/{job.job}.tsv"]
    return outputs, extra


def _steps(cfg: dict) -> list[tuple[str, list[str], list[str]]]:
    """The finished non-training steps worth carrying: (name, outputs, log and benchmark)."""
    res, preset = results_dir(cfg), cfg["preset"]
    steps = []
    for job in sorted(set(evaluated_jobs(cfg, all_jobs(cfg)))):
        steps.append((f"test_time/{job}",
                      [f"{res}/eval/test_time/{job}.parquet",
                       f"{res}/eval/test_time/{job}_models.parquet"],
                      [f"logs/{preset}/test_time/{job}.log",
                       f"{res}/benchmarks/test_time/{job}.tsv"]))
    if all_jobs(cfg).get("noise_tuning"):
        steps.append(("select_noise", [noise_selection(cfg)],
                      [f"logs/{preset}/select_noise.log", f"{res}/benchmarks/select_noise.tsv"]))
    return steps


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _planned(cfg: dict) -> dict[tuple[str, str], object]:
    """(experiment, conditions hash) -> a template job: any seed block of a planned job."""
    return templates(all_jobs(cfg))


def finished(root: Path, cfg: dict) -> tuple[list[dict], list[str]]:
    """The finished jobs and steps under ``root`` (a study's folder) that the config plans, as
    manifest entries without digests; and the planned training jobs not finished."""
    res = root / results_dir(cfg)
    entries, left = [], []
    carried = set(evaluated_jobs(cfg, all_jobs(cfg)))
    plan = _planned(cfg)
    runs = sorted(p for p in (res / "runs").glob("*/*") if p.is_dir()) if res.is_dir() else []
    on_disk = {(p.parent.name, p.name) for p in runs}
    for experiment, jobs in all_jobs(cfg).items():
        for job in jobs:
            if (experiment, job.job) not in on_disk:
                left.append(f"{experiment}/{job.job}")
    for path in runs:
        experiment, name = path.parent.name, path.name
        template = plan.get((experiment, name.split("-s")[0]))
        if template is None:
            continue  # another config's job: not this study's
        outputs, extra = _job_files(cfg, experiment, template)
        if not all((root / f).is_file() for f in outputs) or any(
                _incomplete(root, f) for f in outputs):
            if f"{experiment}/{name}" not in left:
                left.append(f"{experiment}/{name}")
            continue
        files = [f for f in outputs if not f.endswith(WEIGHTS) or name in carried]
        stubs = [f for f in outputs if f not in files]
        files += [f for f in extra if (root / f).is_file()]
        entries.append({"kind": "train", "name": f"{experiment}/{name}", "files": files,
                        "stubs": stubs})
    for name, outputs, extra in _steps(cfg):
        if all((root / f).is_file() and not _incomplete(root, f) for f in outputs):
            entries.append({"kind": "step", "name": name,
                            "files": outputs + [f for f in extra if (root / f).is_file()],
                            "stubs": []})
    return entries, sorted(left)


def save(root: Path, cfg: dict, archive: Path) -> dict:
    """Pack the finished jobs and steps of the study in ``root`` into ``archive`` (.tar.gz)."""
    entries, left = finished(root, cfg)
    if not entries:
        raise UserError(f"{root.resolve() / results_dir(cfg)}: no finished job of the "
                        f"{cfg['preset']} study to save")
    files: dict[str, dict] = {}
    for e in entries:
        for f in e["files"]:
            data = (root / f).read_bytes()
            files[f] = {"sha256": _sha256(data), "bytes": len(data),
                        "mtime_ns": (root / f).stat().st_mtime_ns}
    manifest = {"format": FORMAT, "preset": cfg["preset"],
                "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "entries": entries, "files": files, "left": left}

    def write(tmp: str) -> None:
        with tarfile.open(tmp, "w:gz") as tar:
            blob = json.dumps(manifest, indent=1, sort_keys=True).encode()
            info = tarfile.TarInfo(MANIFEST)
            info.size, info.mtime = len(blob), int(time.time())
            tar.addfile(info, io.BytesIO(blob))
            for f in sorted(files):
                tar.add(root / f, arcname=f, recursive=False)

    atomic_write(archive, write)
    return manifest


def _read(archive: Path) -> tuple[dict, dict[str, bytes]]:
    """The manifest and every file of an archive, each checked against its digest."""
    if not archive.is_file():
        raise UserError(f"{archive}: no such archive")
    try:
        with tarfile.open(archive, "r:gz") as tar:
            members = {m.name: m for m in tar.getmembers()}
            if MANIFEST not in members:
                raise UserError(f"{archive}: not a progress archive (no {MANIFEST})")
            manifest = json.loads(tar.extractfile(members[MANIFEST]).read())
            if manifest.get("format") != FORMAT:
                raise UserError(f"{archive}: a progress archive of format "
                                f"{manifest.get('format')!r}, this version reads {FORMAT}")
            blobs = {}
            for name in manifest["files"]:
                m = members.get(name)
                if m is None or not m.isfile():
                    raise UserError(f"{archive}: {name} is in its manifest but not in the "
                                    "archive (truncated?)")
                blobs[name] = tar.extractfile(m).read()
    except (tarfile.TarError, EOFError, OSError, ValueError, KeyError) as exc:
        raise UserError(f"{archive}: not a readable progress archive ({exc})") from exc
    for name, meta in manifest["files"].items():
        if _sha256(blobs[name]) != meta["sha256"] or Path(name).is_absolute() or (
                ".." in Path(name).parts):
            raise UserError(f"{archive}: {name} is corrupt (its digest is not the manifest's)")
    return manifest, blobs


def _prepare_data(root: Path, cfg: dict) -> Path:
    """The study's prepared data set, made where it is missing as the ``prepare_data`` rule
    makes it, with the rule's benchmark file (the report reads it: without it Snakemake would
    remake the data, and so every job after it) and log."""
    path = root / data_path(cfg)
    if path.exists():
        return path
    from .data import prepare

    start = time.monotonic()
    d = cfg["data"]
    ds = prepare(path, cfg.get("data_dir"), validation_size=d["validation_size"],
                 split_seed=d["split_seed"], train_size=d.get("train_size"),
                 probe_size=d.get("probe_size", 1000), download=False)
    s = time.monotonic() - start
    bench = root / results_dir(cfg) / "benchmarks" / "prepare_data.tsv"
    bench.parent.mkdir(parents=True, exist_ok=True)
    bench.write_text("s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load"
                     f"\tcpu_time\n{s:.2f}\t{time.strftime('%H:%M:%S', time.gmtime(s))}"
                     "\tNA\tNA\tNA\tNA\tNA\tNA\tNA\tNA\n")
    log = root / "logs" / cfg["preset"] / "prepare_data.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(f"prepared by `dropout-study progress restore` from {ds.source} (MD5 "
                   "verified), as the prepare_data rule would\n")
    os.utime(path)  # the data before its benchmark, as Snakemake leaves them
    os.utime(bench)
    return path


def restore(root: Path, cfg: dict, archive: Path) -> dict:
    """Unpack ``archive`` into the study in ``root``; returns what was restored and kept."""
    manifest, blobs = _read(archive)
    if manifest["preset"] != cfg["preset"]:
        raise UserError(f"{archive}: holds the {manifest['preset']} study's progress, not the "
                        f"{cfg['preset']} study's (--set preset={manifest['preset']})")
    plan = _planned(cfg)
    trained = [e["name"] for e in manifest["entries"] if e["kind"] == "train"]
    unplanned = [n for n in trained
                 if (n.split("/")[0], n.split("/")[1].split("-s")[0]) not in plan]
    if unplanned and len(unplanned) == len(trained):
        raise UserError(f"{archive}: {len(unplanned)} of its jobs are not in this config's "
                        f"plan, none is (another config, or another packing of conditions: "
                        f"conditions_per_job): {', '.join(unplanned[:5])}"
                        + (" ..." if len(unplanned) > 5 else ""))
    # some are not: jobs renamed since the archive was saved (what they compute changed, so
    # they train again) or of an experiment since switched off; the others are restored
    manifest["entries"] = [e for e in manifest["entries"] if e["name"] not in unplanned]
    locks = root / ".snakemake" / "locks"
    if locks.is_dir() and any(locks.iterdir()):
        raise UserError(f"{root.resolve()}: a Snakemake run holds this folder (or left its lock: "
                        "`snakemake --unlock` after a hard kill); restore when it has stopped")
    restored, kept = [], []
    for e in manifest["entries"]:
        outputs = [f for f in e["files"] + e["stubs"] if not f.startswith("logs/")
                   and "/benchmarks/" not in f]
        (kept if any((root / f).exists() for f in outputs) else restored).append(e)
    data = _prepare_data(root, cfg) if restored else None
    # keep the files' order in time, every one after the data set (and the target's own
    # choice of strengths, where the archive carries none)
    floor = [data.stat().st_mtime_ns] if data else []
    selection = root / noise_selection(cfg)
    if selection.exists() and not any(e["name"] == "select_noise" for e in restored):
        floor.append(selection.stat().st_mtime_ns)
    when = _times(sorted({f: manifest["files"][f]["mtime_ns"] for e in restored
                          for f in e["files"]}.items()), max(floor, default=0))
    stamp = min(when.values(), default=time.time_ns())
    with tempfile.TemporaryDirectory(dir=root, prefix=".progress-") as tmp:
        for e in restored:
            for f in e["files"]:
                _place(root, Path(tmp), f, blobs[f], when[f])
            for f in e["stubs"]:
                stub = json.dumps({WEIGHTS_STUB: f"restored by `dropout-study progress "
                                   f"restore` from {archive.name}; the weights were not carried"})
                _place(root, Path(tmp), f, stub.encode(), stamp)
    return {"restored": [e["name"] for e in restored], "kept": [e["name"] for e in kept],
            "stubs": sum(len(e["stubs"]) for e in restored), "left": manifest.get("left", []),
            "unplanned": unplanned}


def _times(files: list[tuple[str, int]], floor: int) -> dict[str, int]:
    """Each file's time: its own where every file is after ``floor``; else, in the same order
    (ties kept), a microsecond apart from just after ``floor`` (not hours into the future)."""
    if not files or min(t for _, t in files) > floor:
        return dict(files)
    ranks = {t: i for i, t in enumerate(sorted({t for _, t in files}))}
    return {f: floor + 1_000_000 + 1_000 * ranks[t] for f, t in files}


def _place(root: Path, tmp: Path, rel: str, data: bytes, mtime_ns: int) -> None:
    staged = tmp / rel.replace("/", "__")
    staged.write_bytes(data)
    os.utime(staged, ns=(mtime_ns, mtime_ns))
    (root / rel).parent.mkdir(parents=True, exist_ok=True)
    shutil.move(staged, root / rel)


def summary(entries: list[str]) -> str:
    """'12 jobs (layer_rates 8, sanity 4)': entries by the experiment (or step) they belong to."""
    counts: dict[str, int] = {}
    for name in entries:
        key = name.split("/")[0]
        counts[key] = counts.get(key, 0) + 1
    return f"{len(entries)} ({', '.join(f'{k} {n}' for k, n in counts.items())})" if entries \
        else "0"


def shares(cfg: dict, parts: int) -> list[list[str]]:
    """The study's training split into ``parts`` shares of about equal estimated time, each a
    list of Snakemake targets, so that machines without a cluster can train a study side by
    side (then merged with save and restore). Exercise 7's tuning, choice and final jobs go
    together (the final jobs need every tuning job), and exercise 4's evaluation with the
    exercise-1 job it reads; every other job is a share of its own, largest first to the
    least loaded machine."""
    from .plan import estimate_seconds

    if parts < 1:
        raise UserError(f"parts: {parts} (at least 1)")
    res = results_dir(cfg)
    size = cfg["data"].get("train_size") or 60000 - cfg["data"]["validation_size"]
    jobs = all_jobs(cfg)
    evaluated = set(evaluated_jobs(cfg, all_jobs(cfg)))
    units: list[tuple[float, list[str]]] = []
    chain = [f"{res}/runs/noise_final/{j.job}/job.json" for j in jobs.get("noise_final", [])]
    if chain:
        units.append((sum(estimate_seconds(j, size) for e in ("noise_tuning", "noise_final")
                          for j in jobs.get(e, [])), chain))
    for e, js in jobs.items():
        for j in js if e not in ("noise_tuning", "noise_final") else []:
            t = [f"{res}/runs/{e}/{j.job}/job.json"]
            if j.job in evaluated:
                t.append(f"{res}/eval/test_time/{j.job}.parquet")
            units.append((estimate_seconds(j, size), t))
    load, out = [0.0] * parts, [[] for _ in range(parts)]
    for seconds, targets in sorted(units, key=lambda u: (-u[0], u[1])):
        k = load.index(min(load))
        load[k] += seconds
        out[k] += targets
    return out


def command(action: str, archive: Path, root: Path, config: Path | None,
            sets: list[str]) -> str:
    """``dropout-study progress save|restore``: what it did, in words."""
    from . import config as cfgmod
    from .exercises import check

    overrides = cfgmod.overrides_from(sets)
    if action == "restore" and "preset" not in overrides:
        overrides["preset"] = _read(archive)[0]["preset"]  # the archive's, unless told
    cfg = cfgmod.load(config or root / "config.yaml", overrides, checks=[check])
    if action == "share":
        k, _, n = str(archive).partition("/")
        if not (k.isdigit() and n.isdigit() and 1 <= int(k) <= int(n)):
            raise UserError(f"{archive}: a share is K/N, e.g. 1/2 (the first of two)")
        return "\n".join(shares(cfg, int(n))[int(k) - 1])
    if action == "save":
        m = save(root, cfg, archive)
        trained = [e["name"] for e in m["entries"] if e["kind"] == "train"]
        steps = [e["name"] for e in m["entries"] if e["kind"] == "step"]
        size = archive.stat().st_size / 2**20
        return (f"{archive}: the {cfg['preset']} study's finished training jobs, "
                f"{summary(trained)}, and steps {summary(steps)}; {size:.1f} MiB. "
                f"Left to train: {summary(m['left'])}"
                + "".join(f"\n  {j}" for j in m["left"]))
    r = restore(root, cfg, archive)
    return (f"restored into {root.resolve() / results_dir(cfg)}: {summary(r['restored'])}"
            + (f" ({r['stubs']} weights files not carried: stubs)" if r["stubs"] else "")
            + f"; kept as they were here: {summary(r['kept'])}. "
            + (f"Not restored, not in this config's plan (renamed since the archive was saved, "
               f"as a change to what a job computes renames it, or of an experiment switched "
               f"off; they train again where planned): {summary(r['unplanned'])}"
               + "".join(f"\n  {j}" for j in r["unplanned"]) + "\n" if r["unplanned"] else "")
            + "`snakemake -n` now lists only what is left.")
