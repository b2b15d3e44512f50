"""Seeds on demand, end to end on the real data (the smoke preset at two seeds a job): adding a
block of seeds trains only the new block's jobs and leaves the old seeds' numbers as they were;
changing one exercise's config retrains that exercise's jobs alone."""

import re

import pandas as pd
import pytest

from .conftest import need
from .snakemake_run import snakemake

pytestmark = [pytest.mark.slow, pytest.mark.integration]

# the smoke preset cut to exercises 1, 4 and 10 (exercise 1 at both editions' settings): all
# that adding seeds, changing one exercise and a precision round need, at a few jobs a round
OFF = ("long_training", "weight_decay", "weight_dropout", "noise", "capacity", "ternary")


def smoke(*extra: str, sanity: dict | None = None) -> tuple[str, ...]:
    experiments = {e: {"enabled": False} for e in OFF} | {"sanity": sanity or {}}
    return ("--cores", "2", "--config", "preset=smoke", "seeds_per_job=2",
            f"experiments={experiments!r}", *extra)


def trained(dry_run: str) -> dict[str, set[str]]:
    """The training jobs a dry run would run: experiment -> job names."""
    jobs: dict[str, set[str]] = {}
    for block in re.split(r"\n(?=rule |localrule )", dry_run):
        rule = re.match(r"(?:local)?rule (\w+):", block)
        wild = re.search(r"wildcards: experiment=(\w+), job=([\w-]+)", block)
        if rule and rule.group(1).startswith("train") and wild:
            jobs.setdefault(wild.group(1), set()).add(wild.group(2))
    return jobs


def short_reasons(log: str) -> bool:
    """No job spec or config in Snakemake's reasons: training jobs are new (missing outputs),
    and the one rule whose params change (the resolved config) names a digest of it."""
    params = [line for line in log.splitlines() if "Params have changed" in line]
    return ('"conditions"' not in log and '"analysis"' not in log
            and all(len(line) < 250 and "sha256" in line for line in params))


def outputs(work) -> dict[str, int]:
    return {str(p.relative_to(work)): p.stat().st_mtime_ns
            for p in sorted((work / "results" / "smoke" / "runs").glob("*/*/metrics.parquet"))}


def without_timings(path) -> pd.DataFrame:
    df = pd.read_parquet(path)
    return df.drop(columns=[c for c in df.columns if "seconds" in c or c == "job"])


def test_adding_a_block_of_seeds_trains_only_the_new_block(tmp_path_factory, real_data_dir):
    need("pandoc")
    work = tmp_path_factory.mktemp("seeds")
    out = snakemake(work, *smoke("seeds=2"))
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    before, first = outputs(work), without_timings(work / "results" / "smoke" / "metrics.parquet")
    assert before and all(p.endswith("-s0000-0001/metrics.parquet") or "noise_tuning" in p
                          for p in before)

    # the plan at 4 seeds: one new job per old one (seeds 2-3), none of the old ones again,
    # and no job spec in the reasons
    dry = snakemake(work, *smoke("seeds=4"), "-n")
    assert dry.returncode == 0, dry.stdout[-3000:] + dry.stderr[-3000:]
    log = dry.stdout + dry.stderr
    new = trained(log)
    assert short_reasons(log), log[-3000:]
    old = {tuple(p.split("/")[2:4]) for p in before}
    assert not {(e, j) for e, js in new.items() for j in js} & old
    assert all(j.endswith("-s0002-0003") for js in new.values() for j in js), new
    assert sum(len(js) for js in new.values()) == len(
        [p for p in before if "noise_tuning" not in p])  # tuning seeds are fixed

    out = snakemake(work, *smoke("seeds=4"))
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    after = outputs(work)
    assert {p: after[p] for p in before} == before  # not one old job was rerun
    second = without_timings(work / "results" / "smoke" / "metrics.parquet")
    assert set(second["seed"]) == {0, 1, 2, 3}
    keys = ["experiment", "condition", "seed", "epoch"]
    old_seeds = second[second["seed"] < 2].sort_values(keys).reset_index(drop=True)
    pd.testing.assert_frame_equal(first.sort_values(keys).reset_index(drop=True), old_seeds,
                                  check_exact=True)

    # one exercise's config changed: its jobs only, with one short reason each
    dry = snakemake(work, *smoke("seeds=4", sanity={"sweep": [0.2, 0.5]}), "-n")
    assert dry.returncode == 0, dry.stdout[-3000:] + dry.stderr[-3000:]
    assert set(trained(dry.stdout + dry.stderr)) == {"sanity"}
    assert short_reasons(dry.stdout + dry.stderr)


@pytest.mark.parametrize(("points", "factor", "rounds"),  # written as YAML reads a float
                         [("0.000001", "1.000001", 2), ("1000.0", "1000.0", 1)])
def test_a_precision_target_runs_rounds_until_it_is_met_or_capped(tmp_path_factory,
                                                                   real_data_dir, points,
                                                                   factor, rounds):
    """A target no round can reach runs a second round by itself (to the cap of 4 seeds); a
    target the first round meets stops there. The report states the rounds."""
    import json

    need("pandoc")
    work = tmp_path_factory.mktemp("precision")
    target = (f"precision={{enabled: true, points: {points}, factor: {factor}, "
              "max_seeds: 4, step: 2}")
    # exercises 1 and 4 (which reads 1's models), exercise 1 at both editions' settings
    out = snakemake(work, *smoke("seeds=2", target, sanity={"enabled": False}))
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    files = sorted((work / "results" / "smoke" / "rounds").glob("*/precision.json"))
    assert len(files) == rounds
    last = json.loads(files[-1].read_text())
    assert last["done"]
    states = {e["state"] for e in last["exercises"].values()}
    assert states == ({"cap reached"} if rounds == 2 else {"target reached"})
    seeds = set(pd.read_parquet(work / "results" / "smoke" / "runs.parquet")
                .query("experiment == 'layer_rates'")["seed"])
    assert seeds == set(range(2 * rounds))
    # ... and the analysis reads them all: the report's, and round 2's decision (whose widths
    # differ from round 1's only if it read the seeds round 2 added)
    from dropout_study.results import Results

    cfg = json.loads((work / "results" / "smoke" / "config.json").read_text())
    analysed = Results.load(work / "results" / "smoke", cfg).runs
    assert set(analysed.query("experiment == 'layer_rates'")["seed"]) == set(range(2 * rounds))
    if rounds == 2:
        def widths(f):
            return {k: [w["half_width"] for w in e["widths"]]
                    for k, e in json.loads(f.read_text())["exercises"].items()}

        first, second = widths(files[0]), widths(files[1])
        assert {"layer_rates", "test_time"} <= set(first)
        assert all(first[k] != second[k] for k in first), (first, second)
    html = (work / "results" / "smoke" / "report.html").read_text()
    assert "Precision rounds: round 1" in html and ("round 2" in html) == (rounds == 2)
    assert ("the cap of 4 seeds reached" in html) == (rounds == 2)
