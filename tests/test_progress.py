"""`dropout-study progress save|restore` on planted study folders: what is carried, what is
checked before anything is written, and the files' order in time after a restore. The round
trip through Snakemake on the real smoke study is in test_pipeline.py."""

import io
import json
import os
import subprocess
import tarfile
from base64 import urlsafe_b64encode
from pathlib import Path

import pytest

from dropout_study import progress
from dropout_study.config import load
from dropout_study.errors import UserError
from dropout_study.io import weights_stub
from dropout_study.plan import all_jobs, data_path, evaluated_jobs

from .conftest import ROOT
from .snakemake_run import environment

SMOKE = {"preset": "smoke", "conditions_per_job": 1}


@pytest.fixture(scope="module")
def cfg():
    """The smoke preset, one condition a job (so that exercise 1 has several jobs)."""
    return load(ROOT / "config.yaml", SMOKE, detect=False)


def evaluated(cfg) -> str:
    """The exercise-1 job whose weights exercise 4 reads (smoke: p = (0.5, 0.5))."""
    (job,) = evaluated_jobs(cfg, all_jobs(cfg))
    return job


def plant(root: Path, cfg, experiment: str, job, *, skip: str = "", tag: str = "") -> list[str]:
    """A job's outputs, log and benchmark, each a small distinct file; ``skip`` one output."""
    outputs, extra = progress._job_files(cfg, experiment, job)
    written = []
    for rel in outputs + extra:
        if rel.endswith(skip) and skip:
            continue
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(f"{tag}{rel}".encode())
        written.append(rel)
    return written


def a_study(root: Path, cfg) -> dict:
    """A study folder: three finished jobs (the evaluated exercise-1 job, another exercise-1
    job, a sanity job), one running (no metrics yet), one marked incomplete by Snakemake, one
    of another config, and the data set."""
    jobs = all_jobs(cfg)
    lr = {j.job: j for j in jobs["layer_rates"]}
    other = next(j for j in lr if j != evaluated(cfg))
    sanity = jobs["sanity"]
    plant(root, cfg, "layer_rates", lr[evaluated(cfg)])
    plant(root, cfg, "layer_rates", lr[other])
    plant(root, cfg, "sanity", sanity[0])
    plant(root, cfg, "sanity", sanity[1], skip="metrics.parquet")
    marked = plant(root, cfg, "sanity", sanity[2])
    inc = root / ".snakemake" / "incomplete"
    inc.mkdir(parents=True)
    (inc / urlsafe_b64encode(marked[0].encode()).decode()).write_text("")
    (root / "results/smoke/runs/sanity/cdeadbeef-s0000-0001").mkdir(parents=True)
    (root / "results/smoke/runs/sanity/cdeadbeef-s0000-0001/metrics.parquet").write_text("x")
    data = root / data_path(cfg)
    data.parent.mkdir(parents=True, exist_ok=True)
    data.write_text("data")
    os.utime(data, ns=(10**18, 10**18))
    return {"evaluated": evaluated(cfg), "other": other, "sanity": [j.job for j in sanity]}


def test_save_carries_finished_jobs_and_only_the_weights_something_reads(tmp_path, cfg):
    planted = a_study(tmp_path, cfg)
    m = progress.save(tmp_path, cfg, tmp_path / "p.tar.gz")
    names = sorted(e["name"] for e in m["entries"])
    assert names == sorted([f"layer_rates/{planted['evaluated']}",
                            f"layer_rates/{planted['other']}",
                            f"sanity/{planted['sanity'][0]}"])
    # the running job and the one Snakemake marked incomplete are left, named
    assert f"sanity/{planted['sanity'][1]}" in m["left"]
    assert f"sanity/{planted['sanity'][2]}" in m["left"]
    assert not any("cdeadbeef" in n for n in names + m["left"])  # another config's job
    left = {f"{e}/{j.job}" for e, js in all_jobs(cfg).items() for j in js} - set(names)
    assert set(m["left"]) == left
    with tarfile.open(tmp_path / "p.tar.gz") as tar:
        members = set(tar.getnames())
    ev, other = planted["evaluated"], planted["other"]
    assert f"results/smoke/runs/layer_rates/{ev}/weights.pt" in members
    assert f"results/smoke/runs/layer_rates/{other}/weights.pt" not in members
    assert f"results/smoke/runs/layer_rates/{other}/metrics.parquet" in members
    assert f"logs/smoke/train/layer_rates/{other}.log" in members
    assert f"results/smoke/benchmarks/train_keeping_weights/layer_rates/{other}.tsv" in members
    assert f"results/smoke/benchmarks/train/sanity/{planted['sanity'][0]}.tsv" in members
    stubbed = next(e for e in m["entries"] if e["name"].endswith(other))["stubs"]
    assert stubbed == [f"results/smoke/runs/layer_rates/{other}/weights.pt"]


def test_restore_puts_every_file_back_in_its_order_after_the_data(tmp_path, cfg):
    src, dst = tmp_path / "a", tmp_path / "b"
    a_study(src, cfg)
    archive = tmp_path / "p.tar.gz"
    m = progress.save(src, cfg, archive)
    # the target's data set is newer than every file saved: they must come after it
    data = dst / data_path(cfg)
    data.parent.mkdir(parents=True)
    data.write_text("data")
    r = progress.restore(dst, cfg, archive)
    assert sorted(r["restored"]) == sorted(e["name"] for e in m["entries"]) and not r["kept"]
    assert r["stubs"] == 1
    for rel in m["files"]:
        assert (dst / rel).read_bytes() == (src / rel).read_bytes(), rel
        assert (dst / rel).stat().st_mtime_ns > data.stat().st_mtime_ns, rel
    order = sorted(m["files"], key=lambda f: (src / f).stat().st_mtime_ns)
    times = [(dst / f).stat().st_mtime_ns for f in order]
    assert times == sorted(times)
    assert (dst / data_path(cfg)).read_text() == "data"  # an existing data set is kept
    other = next(e for e in m["entries"] if e["stubs"])
    stub = dst / other["stubs"][0]
    assert "not carried" in weights_stub(stub)
    assert weights_stub(src / other["files"][0]) is None


def test_a_stub_read_as_weights_stops_with_its_reason(tmp_path, cfg):
    from dropout_study.testtime import load_models

    src, dst = tmp_path / "a", tmp_path / "b"
    a_study(src, cfg)
    progress.save(src, cfg, tmp_path / "p.tar.gz")
    (dst / data_path(cfg)).parent.mkdir(parents=True)
    (dst / data_path(cfg)).write_text("data")
    progress.restore(dst, cfg, tmp_path / "p.tar.gz")
    stubs = [p for p in dst.glob("results/smoke/runs/layer_rates/*/weights.pt")
             if weights_stub(p)]
    assert len(stubs) == 1
    stub = stubs[0]
    with pytest.raises(UserError, match="holds no weights .*not carried.*--forcerun"):
        load_models(stub, "dropout,p1=0.5,p2=0.5", "cpu")


def test_times_keep_the_order_and_ties_and_stay_near_the_floor():
    files = [("a", 50), ("b", 20), ("c", 50), ("d", 30)]
    assert progress._times(files, 10) == dict(files)  # all after the floor: their own
    t = progress._times(files, 40)
    assert t["b"] < t["d"] < t["a"] == t["c"]
    assert min(t.values()) > 40 and max(t.values()) - 40 < 10**7  # within 10 ms of the floor


def test_a_job_the_target_has_is_kept_as_it_is(tmp_path, cfg):
    src, dst = tmp_path / "a", tmp_path / "b"
    planted = a_study(src, cfg)
    progress.save(src, cfg, tmp_path / "p.tar.gz")
    job = all_jobs(cfg)["sanity"][0]
    mine = plant(dst, cfg, "sanity", job, tag="mine:")
    (dst / data_path(cfg)).parent.mkdir(parents=True, exist_ok=True)
    (dst / data_path(cfg)).write_text("data")
    r = progress.restore(dst, cfg, tmp_path / "p.tar.gz")
    assert r["kept"] == [f"sanity/{planted['sanity'][0]}"]
    assert all((dst / f).read_text().startswith("mine:") for f in mine)
    assert len(r["restored"]) == 2


def rewritten(archive: Path, out: Path, change) -> Path:
    """A copy of ``archive`` with ``change(name, data) -> data`` applied to each member."""
    with tarfile.open(archive) as src, tarfile.open(out, "w:gz") as dst:
        for m in src.getmembers():
            data = change(m.name, src.extractfile(m).read())
            if data is None:
                continue
            m.size = len(data)
            dst.addfile(m, io.BytesIO(data))
    return out


def test_a_corrupt_or_truncated_archive_is_named_before_anything_is_written(tmp_path, cfg):
    src = tmp_path / "a"
    a_study(src, cfg)
    archive = tmp_path / "p.tar.gz"
    m = progress.save(src, cfg, archive)
    victim = sorted(m["files"])[3]
    bad = rewritten(archive, tmp_path / "bad.tar.gz",
                    lambda n, d: d + b"!" if n == victim else d)
    with pytest.raises(UserError, match=f"{victim} is corrupt"):
        progress.restore(tmp_path / "b", cfg, bad)
    short = rewritten(archive, tmp_path / "short.tar.gz",
                      lambda n, d: None if n == victim else d)
    with pytest.raises(UserError, match=f"{victim} is in its manifest but not in the archive"):
        progress.restore(tmp_path / "b", cfg, short)
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    with pytest.raises(UserError, match="not a readable progress archive"):
        progress.restore(tmp_path / "b", cfg, cut)
    (tmp_path / "x.tar.gz").write_text("hello")
    with pytest.raises(UserError, match="not a readable progress archive"):
        progress.restore(tmp_path / "b", cfg, tmp_path / "x.tar.gz")
    with pytest.raises(UserError, match="no such archive"):
        progress.restore(tmp_path / "b", cfg, tmp_path / "none.tar.gz")
    assert not (tmp_path / "b").exists()


def test_another_preset_another_config_or_a_running_snakemake_is_refused(tmp_path, cfg):
    src = tmp_path / "a"
    a_study(src, cfg)
    archive = tmp_path / "p.tar.gz"
    progress.save(src, cfg, archive)
    quick = load(ROOT / "config.yaml", {"preset": "quick"}, detect=False)
    with pytest.raises(UserError, match="holds the smoke study's progress, not the quick"):
        progress.restore(tmp_path / "b", quick, archive)
    longer = load(ROOT / "config.yaml", SMOKE | {"training": {"epochs": 4}}, detect=False)
    with pytest.raises(UserError, match=r"3 of its jobs are not in this config's plan, none"):
        progress.restore(tmp_path / "b", longer, archive)
    locks = tmp_path / "b" / ".snakemake" / "locks"
    locks.mkdir(parents=True)
    (locks / "0.input.lock").write_text("")
    with pytest.raises(UserError, match="a Snakemake run holds this folder"):
        progress.restore(tmp_path / "b", cfg, archive)
    assert not (tmp_path / "b" / "results").exists()


def test_the_command_names_what_it_saved_and_what_is_left(tmp_path, cfg):
    root = tmp_path / "study"
    root.mkdir()
    cmd = ["dropout-study", "progress", "save", str(tmp_path / "p.tar.gz"), "--dir", str(root),
           "--config", str(ROOT / "config.yaml"),
           "--set", "preset=smoke", "--set", "conditions_per_job=1"]
    out = subprocess.run(cmd, capture_output=True, text=True, env=environment())
    assert out.returncode == 2 and "no finished job of the smoke study to save" in out.stderr
    planted = a_study(root, cfg)
    out = subprocess.run(cmd, capture_output=True, text=True, env=environment())
    assert out.returncode == 0, out.stderr
    assert "finished training jobs, 3 (layer_rates 2, sanity 1)" in out.stdout
    assert f"\n  sanity/{planted['sanity'][1]}" in out.stdout
    m = json.loads(tarfile.open(tmp_path / "p.tar.gz").extractfile("manifest.json").read())
    assert m["preset"] == "smoke" and len(m["entries"]) == 3


def test_shares_cover_every_job_once_and_keep_exercise_7_together(cfg):
    full = load(ROOT / "config.yaml", {"preset": "full"}, detect=False)
    jobs = all_jobs(full)
    for parts in (1, 2, 3):
        got = progress.shares(full, parts)
        assert len(got) == parts and all(got)
        flat = [t for s in got for t in s]
        assert len(flat) == len(set(flat))
        named = {t.split("/")[3] + "/" + t.split("/")[4] for t in flat if "/runs/" in t}
        planned = {f"{e}/{j.job}" for e, js in jobs.items() for j in js}
        assert named == planned - {f"noise_tuning/{j.job}" for j in jobs["noise_tuning"]}
        final = [i for i, s in enumerate(got) if any("/noise_final/" in t for t in s)]
        assert len(final) == 1  # the final jobs (and so the tuning they need) on one machine
        (ev,) = evaluated_jobs(full, all_jobs(full))
        holder = [s for s in got if f"results/full/runs/layer_rates/{ev}/job.json" in s]
        assert f"results/full/eval/test_time/{ev}.parquet" in holder[0]
    # the two shares' estimated times differ by no more than the largest single share
    from dropout_study.plan import estimate_seconds

    size = 50_000
    cost = {f"{e}/{j.job}": estimate_seconds(j, size) for e, js in jobs.items() for j in js}
    chain = sum(v for k, v in cost.items() if k.startswith("noise_"))

    def seconds(share):
        names = {t.split("/")[3] + "/" + t.split("/")[4] for t in share if "/runs/" in t}
        return sum(cost[n] for n in names if not n.startswith("noise_")) + (
            chain if any(n.startswith("noise_final") for n in names) else 0)

    a, b = (seconds(s) for s in progress.shares(full, 2))
    assert abs(a - b) <= max(max(cost.values()), chain)
    assert a + b == pytest.approx(sum(cost.values()))


@pytest.mark.parametrize("part", ["0/2", "3/2", "1", "a/b"])
def test_a_share_out_of_range_is_named(tmp_path, part):
    out = subprocess.run(["dropout-study", "progress", "share", part, "--config",
                          str(ROOT / "config.yaml")], capture_output=True, text=True,
                         env=environment())
    assert out.returncode == 2 and f"{part}: a share is K/N" in out.stderr


def test_jobs_no_longer_planned_are_named_and_left_out_and_the_others_restored(tmp_path, cfg):
    """An archive saved before some of its jobs were renamed (a change to what they compute)
    or their experiment switched off: those are left out and named, the rest restored."""
    src = tmp_path / "a"
    planted = a_study(src, cfg)
    archive = tmp_path / "p.tar.gz"
    progress.save(src, cfg, archive)
    off = load(ROOT / "config.yaml", SMOKE | {"experiments": {"sanity": {"enabled": False}}},
               detect=False)
    r = progress.restore(tmp_path / "b", off, archive)
    assert r["unplanned"] == [f"sanity/{planted['sanity'][0]}"]
    assert {n for n in r["restored"] if n.startswith("layer_rates/")} == {
        f"layer_rates/{planted['evaluated']}", f"layer_rates/{planted['other']}"}
    assert not any(n.startswith("sanity/") for n in r["restored"])
    assert (tmp_path / "b" / "results/smoke/runs/layer_rates" / planted["other"]).is_dir()
    assert not (tmp_path / "b" / "results/smoke/runs/sanity").exists()
