"""``seed_offset``: the study's seeds start there (a replication on fresh seeds), exercise 7's
tuning seeds stay where they are, and at offset 0 every job and number is what it was."""

import hashlib

import pytest

from dropout_study import calibration, cli, plan, precision, spec
from dropout_study import config as cfgmod
from dropout_study import estimate as est
from dropout_study.errors import ConfigError
from dropout_study.exercises import check
from dropout_study.plan import all_jobs, experiment_jobs, seed_blocks, spec_of, templates
from dropout_study.spec import JobSpec

from .test_config import RAW, ROOT


def resolve(**over) -> dict:
    """A preset's config as a CPU plans it, whatever GPU this machine has (job names hash the
    packing of conditions, which a GPU changes)."""
    return cfgmod.resolve(RAW, over, project=ROOT, detect=False, checks=[check])


def names(jobs: dict) -> list[str]:
    return sorted(f"{e}/{j.job}" for e, js in jobs.items() for j in js)


def digest(lines: list[str]) -> str:
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def seeds_of(jobs) -> dict[str, set[int]]:
    """condition -> the seeds it is trained with, over an experiment's jobs."""
    out: dict[str, set[int]] = {}
    for j in jobs:
        for c, s in j.models:
            out.setdefault(c.name, set()).add(s)
    return out


# Computed once from the code before seed_offset existed (commit 261f856): the sorted
# "<experiment>/<job>" names of each preset's jobs on a CPU, their count and their sha256,
# with exact DropConnect's masks of 16 bits an entry (spec.MASK_BITS empty) ...
FROZEN_16_BIT = {
    "smoke": (30, "cb1d997d9b8f9e5f3f7f4e3af94fb8eb1688ba8b3444031d019dab4102cd24fb"),
    "quick": (33, "4e8feab316c4a28fedc64c33bf9ac12018e2bb60facc098000164bba957bb02e"),
    "full": (140, "332077ff1734c558b4a4b0489462c8d7d2ad85c124febbf2716453396715b320"),
}
# ... and since they take 8 bits, the same but for the exact DropConnect jobs (renamed: they
# compute other masks; test_only_exact_dropconnect_jobs_are_renamed_by_its_8_bit_masks)
FROZEN = {
    "smoke": (30, "ed3e151db17fc9c31b31963cbf43087a422e669bb90709240bde493bdac608d5"),
    "quick": (33, "e834001d629468e1e9292dd57bc011f0c7bbf2a5b9f0b14c6f8ea40f25775d89"),
    "full": (140, "73fd99bd0e7ae1465b344675494f1a5bde57580e1b43f62b820eced963fe9f11"),
}
# ... the smoke preset's jobs at a precision target's cap (7 seeds, rounds at 2, 4 and 6) ...
FROZEN_CAP_16_BIT = (105, "dee933135736d5e4bd93fa2f1d5b26cc0dca4745bb8e9c2a8b7116da30f5ba9f")
FROZEN_CAP = (105, "5d11efc1c8b5492aaf781055435726f1e67171c652bcfd36bb6495ecc6631c5b")
# ... and the wall-time estimate (wall, sum of jobs; seconds) at fixed rates, 2 cores
FROZEN_ESTIMATE = {"smoke": (186, 285), "quick": (633, 1163), "full": (19662, 19622)}
CAP = {"enabled": True, "max_seeds": 7, "step": 2}


def cap_jobs(cfg: dict) -> dict:
    """Every job a precision target may reach: 7 seeds, rounds begun at 2, 4 and 6."""
    seeds = {e: 7 for e in all_jobs(cfg) if e != "noise_tuning"}
    return all_jobs(cfg, seeds, {e: (2, 4, 6) for e in seeds})


@pytest.mark.parametrize("name", sorted(FROZEN))
def test_at_offset_0_every_preset_s_job_names_are_as_before(name):
    ns = names(all_jobs(resolve(preset=name)))
    assert (len(ns), digest(ns)) == FROZEN[name]
    assert names(all_jobs(resolve(preset=name, seed_offset=0))) == ns  # the key, given


def test_at_offset_0_a_precision_target_s_jobs_are_as_before(monkeypatch):
    ns = names(cap_jobs(resolve(preset="smoke", precision=CAP)))
    assert (len(ns), digest(ns)) == FROZEN_CAP
    monkeypatch.setattr(spec, "MASK_BITS", {})
    ns = names(cap_jobs(resolve(preset="smoke", precision=CAP)))
    assert (len(ns), digest(ns)) == FROZEN_CAP_16_BIT


@pytest.mark.parametrize("name", sorted(FROZEN))
def test_only_exact_dropconnect_jobs_are_renamed_by_its_8_bit_masks(name, monkeypatch):
    """Exact DropConnect's masks changed from 16 to 8 random bits an entry: its jobs compute
    other numbers, so each has a new name (none trained before is reused), and every other
    job keeps its name and so its finished results."""
    jobs = all_jobs(resolve(preset=name))
    exact = {f"{e}/{j.job}" for e, js in jobs.items() for j in js
             if any(c.noise == "dropconnect" for c in j.conditions)}
    monkeypatch.setattr(spec, "MASK_BITS", {})
    before = names(all_jobs(resolve(preset=name)))
    assert (len(before), digest(before)) == FROZEN_16_BIT[name]
    now = names(jobs)
    assert exact and set(now) - set(before) == exact
    assert len(set(before) - set(now)) == len(exact)


@pytest.mark.parametrize("name", sorted(FROZEN_ESTIMATE))
def test_the_time_estimate_is_as_before_and_the_offset_changes_no_cost(name, monkeypatch):
    rates = {"train_s_per_gflop": 0.01, "eval_s_per_gflop": 0.005}
    monkeypatch.setattr(est, "calibration",
                        lambda schemes, *a, **k: {s: rates for s in schemes})

    def estimate(**over):
        e = est.estimate_wall(resolve(preset=name, **over), "cpu", 2, log=lambda m: None)
        return e["wall_seconds"], e["job_seconds"]

    assert estimate() == FROZEN_ESTIMATE[name]
    assert estimate(seed_offset=5) == FROZEN_ESTIMATE[name]  # 5-14: as many blocks as 0-9


def test_an_offset_moves_every_study_seed_and_keeps_the_tuning_seeds():
    at0, at10 = all_jobs(resolve(preset="smoke")), all_jobs(resolve(preset="smoke",
                                                                    seed_offset=10))
    assert at0.keys() == at10.keys()
    for name in at10:
        if name == "noise_tuning":  # its own seeds, 1000..: the same jobs
            assert names({name: at10[name]}) == names({name: at0[name]})
            assert {s for j in at10[name] for s in j.seeds} == {1000, 1001}
            continue
        assert set().union(*seeds_of(at10[name]).values()) == {10, 11}, name
        # a job is still named by what it trains: the same hash, the seeds 10-11
        assert [j.job for j in at10[name]] == [
            j.job.replace("-s0000-0001", "-s0010-0011") for j in at0[name]], name


def test_every_condition_is_trained_with_the_same_offset_seeds():
    """Pairing by seed: within each experiment, every condition has seeds 100-102."""
    jobs = all_jobs(resolve(preset="quick", seed_offset=100))
    for name, js in jobs.items():
        if name != "noise_tuning":
            assert set(map(frozenset, seeds_of(js).values())) == {frozenset({100, 101, 102})}


def test_a_seed_starts_alike_in_every_condition_and_unlike_the_seed_of_another_offset():
    import torch

    from dropout_study.train import Trainer

    def trainer(offset):
        job = all_jobs(resolve(preset="smoke", seed_offset=offset))["layer_rates"][0]
        return job, Trainer(job, calibration._synthetic_data(torch.device("cpu"), 256, 64),
                            torch.device("cpu"))

    job, t = trainer(10)
    assert len(job.conditions) > 1 and job.seeds == [10, 11]
    w = t.model.weights[0].detach()
    first = {}
    for m, (cond, seed) in enumerate(job.models):
        first.setdefault(seed, m)
        assert torch.equal(w[m], w[first[seed]]), (cond.name, seed)  # paired by seed
    assert not torch.equal(w[first[10]], w[first[11]])
    _, t0 = trainer(0)  # seeds 0-1: other initial weights than 10-11
    assert not torch.equal(t0.model.weights[0].detach()[0], w[first[10]])


def test_seed_blocks_are_aligned_from_the_first_seed():
    assert seed_blocks(list(range(5, 30)), 10) == [
        list(range(5, 15)), list(range(15, 25)), list(range(25, 30))]
    cfg = resolve(preset="smoke", seed_offset=5, seeds=25)
    jobs = experiment_jobs(cfg, "sanity")
    assert sorted({j.job.split("-s")[1] for j in jobs}) == ["0005-0014", "0015-0024",
                                                           "0025-0029"]


def test_precision_rounds_add_seeds_after_the_offset_ones():
    at0 = cap_jobs(resolve(preset="smoke", precision=CAP))
    at10 = cap_jobs(resolve(preset="smoke", precision=CAP, seed_offset=10))
    blocks = {j.job.split("-s")[1] for j in at10["sanity"]}
    assert blocks == {"0010-0011", "0012-0013", "0014-0015", "0016-0016"}
    assert len(names(at10)) == len(names(at0))
    for name in at10:
        if name != "noise_tuning":
            assert set().union(*seeds_of(at10[name]).values()) == set(range(10, 17)), name
    # a round's jobs as the workflow builds them (common.smk: round_jobs) from the decisions
    history = [{"layer_rates": 2}, {"layer_rates": 4}]
    cfg = resolve(preset="smoke", precision=CAP, seed_offset=10)
    round2 = all_jobs(cfg, history[-1], precision.cuts(history))["layer_rates"]
    assert sorted({tuple(j.seeds) for j in round2}) == [(10, 11), (12, 13)]
    # and any of them is found again by its name (Snakemake's wildcards)
    spec = spec_of(templates(all_jobs(cfg)), "layer_rates", round2[-1].job)
    assert spec == round2[-1]
    # the plan of the rounds: the same counts and costs as at offset 0
    assert plan.precision_rounds(cfg, 4000) == plan.precision_rounds(
        resolve(preset="smoke", precision=CAP), 4000)


def test_results_keep_the_runs_of_their_own_offset_only():
    """A folder holding the runs of both offsets (their tables gathered in one) shows each
    config its own seeds alone, and both the same tuning runs."""
    import pandas as pd

    from dropout_study.results import of_config, planned_runs

    at0, at10 = (planned_runs(resolve(preset="smoke", seed_offset=o)) for o in (0, 10))
    both = pd.concat([at0.runs, at10.runs]).drop_duplicates(ignore_index=True)
    for planned, seeds in ((at0, {0, 1}), (at10, {10, 11})):
        kept = of_config(both, planned)
        tuning = kept["experiment"] == "noise_tuning"
        assert set(kept.loc[~tuning, "seed"]) == seeds
        assert set(kept.loc[tuning, "seed"]) == {1000, 1001}
        assert len(kept) == len(planned.runs)


@pytest.mark.parametrize("over, says", [
    ({"seed_offset": 995}, "seeds 995–1004 (seeds: 10), which reach exercise 7's tuning "
                           "seeds 1000–1002"),
    ({"seed_offset": 991}, "seeds 991–1000"),
    ({"seed_offset": 1002}, "choose seed_offset ≤ 990 or ≥ 1003"),
    ({"seed_offset": 961, "precision": {"enabled": True}},  # 10 seeds, then up to 40
     "seeds 961–1000 (up to precision.max_seeds: 40)"),
    ({"seed_offset": 985, "precision": {"enabled": True, "max_seeds": 20}},
     "choose seed_offset ≤ 980 or ≥ 1003"),
    ({"seed_offset": 9991}, "seeds 9991–10000 (seeds: 10), past 9999"),
    ({"seed_offset": 9990, "precision": {"enabled": True}}, "choose seed_offset ≤ 9960"),
    ({"seed_offset": -1}, "-1 is less than the minimum of 0"),
    ({"seed_offset": 10000}, "10000 is greater than the maximum of 9999"),
    ({"seed_offset": 1.0}, "is not of type 'integer'"),
    ({"seed_offset": "ten"}, "is not of type 'integer'"),
])
def test_a_seed_offset_that_does_not_fit_is_refused_naming_the_key(over, says):
    with pytest.raises(ConfigError, match="config key 'seed_offset'") as err:
        resolve(**over)
    assert says in str(err.value)


@pytest.mark.parametrize("over", [
    {"seed_offset": 990},  # 990-999, just below the tuning seeds
    {"seed_offset": 1003},  # just above them (3 tuning seeds)
    {"seed_offset": 995, "experiments": {"noise": {"enabled": False}}},  # no tuning seeds
    {"seed_offset": 960, "precision": {"enabled": True}},
    {"seed_offset": 9990},
])
def test_a_seed_offset_that_fits_is_accepted(over):
    assert resolve(**over)["seed_offset"] == over["seed_offset"]


def test_check_config_names_the_key_before_any_work(capsys):
    assert cli.main(["check-config", "--config", str(ROOT / "config.yaml"),
                     "--set", "seed_offset=998"]) == 2
    err = capsys.readouterr().err
    assert "config key 'seed_offset': 998" in err and "tuning seeds 1000–1002" in err
    assert cli.main(["check-config", "--config", str(ROOT / "config.yaml"),
                     "--set", "seed_offset=100"]) == 0


def test_plan_says_which_seeds_it_trains(capsys):
    args = ["plan", "--config", str(ROOT / "config.yaml"), "--set", "preset=smoke",
            "--no-estimate"]
    assert cli.main([*args, "--set", "seed_offset=10"]) == 0
    assert "preset smoke: 4000 training images, seeds 10–11 (seed_offset 10)" in \
        capsys.readouterr().out
    assert cli.main(args) == 0
    assert "preset smoke: 4000 training images\n" in capsys.readouterr().out


def test_a_dropconnect_job_says_its_mask_bits_and_a_job_of_other_bits_is_refused():
    """The 8 bits are in an exact DropConnect job's JSON (its identity) and nowhere else; the
    JSON reads back to the same job, and a spec written with masks of other bits is refused
    by name rather than read as one of these."""
    jobs = all_jobs(resolve(preset="smoke"))
    dc = next(j for j in jobs["weight_dropout"] if j.conditions[0].noise == "dropconnect")
    other = next(j for j in jobs["weight_dropout"] if j.conditions[0].noise != "dropconnect")
    assert '"mask_bits": 8' in dc.to_json() and "mask_bits" not in other.to_json()
    again = JobSpec.from_json(dc.to_json())
    assert again == dc and again.digest() == dc.digest()
    with pytest.raises(ValueError, match="16-bit masks"):
        JobSpec.from_json(dc.to_json().replace('"mask_bits": 8', '"mask_bits": 16'))
