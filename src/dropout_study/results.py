"""The study's tidy tables, loaded once, and the per-run endpoints every exercise starts from."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .endpoints import RUN_KEYS, by_seed, endpoints  # noqa: F401 - results.<name> too


@dataclass
class Results:
    metrics: pd.DataFrame
    runs: pd.DataFrame
    activations: pd.DataFrame
    jobs: list[dict]
    cfg: dict
    extra: dict[str, pd.DataFrame] = field(default_factory=dict)  # evaluation-only tables
    failed: list[dict] = field(default_factory=list)  # jobs marked failed (--keep-going)
    endpoints: pd.DataFrame = field(init=False)

    def __post_init__(self) -> None:
        self.endpoints = endpoints(self.metrics, self.runs, self.k)
        # A diverged model is parked at zero and has no activation statistics from its
        # divergence on (NaN rows, dropped here); its rows before that are kept.
        if not self.activations.empty:
            self.activations = self.activations.dropna(subset=["var_pre", "var_eval"])

    @property
    def k(self) -> int:
        return self.cfg["analysis"].get("endpoint_epochs", 3)

    @property
    def level(self) -> float:
        return self.cfg["analysis"].get("confidence", 0.95)

    @classmethod
    def load(cls, results_dir: Path, cfg: dict, seeds: dict[str, int] | None = None,
             cuts: dict[str, tuple[int, ...]] | None = None) -> Results:
        """The results of ``cfg``'s runs only: rows of an experiment the config disables, of a
        job, condition or seed it does not plan, or of a run trained with other settings are
        left out, and an evaluation table is read only where its exercise is enabled (a stale
        file of an earlier config in the folder is never shown).

        With a precision target the study's runs are those of its last round (every seed the
        rounds added), read from the rounds' decisions in ``results_dir``; ``seeds`` and
        ``cuts`` (``plan.all_jobs``'s) name a round's runs explicitly."""
        def read(name: str) -> pd.DataFrame:
            return pd.read_parquet(results_dir / f"{name}.parquet")

        if seeds is None:
            from .rounds import last_round

            seeds, cuts = last_round(results_dir, cfg)
        planned = planned_runs(cfg, seeds, cuts)
        jobs = [j for j in json.loads((results_dir / "jobs.json").read_text())
                if _job_key(j) in planned.jobs]
        extra = {name: of_config(read(name), planned) for name in evaluation_tables(cfg)
                 if (results_dir / f"{name}.parquet").exists()}
        failed_path = results_dir / "failed_jobs.json"
        failed = json.loads(failed_path.read_text()) if failed_path.exists() else []
        failed = [f for f in failed if (f["experiment"], f["job"]) in planned.jobs]
        runs = of_config(read("runs"), planned)
        return cls(of_runs(read("metrics"), runs), runs, of_runs(read("activations"), runs),
                   jobs, cfg, extra, failed)

    def has(self, experiment: str) -> bool:
        if experiment in self.extra:
            return not self.extra[experiment].empty
        return not self.runs.empty and (self.runs["experiment"] == experiment).any()

    def ends(self, experiment: str) -> pd.DataFrame:
        return self.endpoints[self.endpoints["experiment"] == experiment]

    def renamed(self, suffix: str, cfg: dict) -> Results:
        """The runs of the experiments named ``<name><suffix>`` under their plain names, with
        ``cfg`` (e.g. the same exercises at the newer edition's setting)."""
        def pick(df: pd.DataFrame) -> pd.DataFrame:
            if df.empty:
                return df
            sel = df[df["experiment"].str.endswith(suffix)].copy()
            sel["experiment"] = sel["experiment"].str.removesuffix(suffix)
            return sel

        failed = [f | {"experiment": f["experiment"].removesuffix(suffix)}
                  for f in self.failed if f["experiment"].endswith(suffix)]
        return Results(pick(self.metrics), pick(self.runs), pick(self.activations), self.jobs,
                       cfg, {}, failed)


@dataclass(frozen=True)
class Planned:
    """What a config trains and evaluates: its (experiment, job) pairs, its runs with the
    settings each is trained at, and the condition each evaluation table is of."""

    jobs: set[tuple[str, str]]
    runs: pd.DataFrame  # experiment, job, condition, seed, and the settings in SETTINGS
    evaluated: dict[str, str]  # evaluation table -> the condition its models are of


SETTINGS = ("noise", "hidden", "lr", "batch_size", "epochs")  # as the runs table records them


def planned_runs(cfg: dict, seeds: dict[str, int] | None = None,
                 cuts: dict[str, tuple[int, ...]] | None = None) -> Planned:
    """The runs ``cfg`` plans (with ``seeds`` and ``cuts``: a precision round's, as
    ``plan.all_jobs`` takes them)."""
    from .exercises import EXERCISES
    from .experiments import rates_name
    from .plan import all_jobs

    rows = [{"experiment": j.experiment, "job": j.job, "condition": c.name, "seed": s,
             **{k: getattr(c, k) for k in SETTINGS}}
            for jobs in all_jobs(cfg, seeds, cuts).values() for j in jobs for c, s in j.models]
    evaluated = {}
    for ex in EXERCISES:
        if ex.key == "test_time" and ex.enabled(cfg):
            cond = rates_name(*cfg["experiments"]["test_time"]["rates"])
            evaluated |= {name: cond for name in ex.reads}
    cols = ["experiment", "job", "condition", "seed", *SETTINGS]
    return Planned({(r["experiment"], r["job"]) for r in rows},
                   pd.DataFrame(rows, columns=cols), evaluated)


def evaluation_tables(cfg: dict) -> list[str]:
    """The evaluation-only tables (not training runs) that ``cfg``'s enabled exercises read."""
    return list(planned_runs(cfg).evaluated)


def _job_key(meta: dict) -> tuple[str, str]:
    spec = meta.get("spec") or {}
    return spec.get("experiment", ""), spec.get("job", "")


def of_config(df: pd.DataFrame, planned: Planned) -> pd.DataFrame:
    """The rows of ``df`` that belong to the planned runs: the same experiment, job, condition
    and seed, and (where the table records them) the same settings. An evaluation table keeps
    the rows of the condition the config evaluates."""
    if df.empty:
        return df
    if "experiment" not in df.columns:  # an evaluation table: one condition's models
        conds = set(planned.evaluated.values())
        return df[df["condition"].isin(conds)].reset_index(drop=True) \
            if "condition" in df.columns else df
    keys = [k for k in ("experiment", "job", "condition", "seed") if k in df.columns]
    keys += [k for k in SETTINGS if k in df.columns]
    want = planned.runs[keys].drop_duplicates()
    return df.merge(want, on=keys, how="inner")[list(df.columns)]


def of_runs(df: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """The rows of a per-epoch table (metrics, activations) that belong to ``runs``."""
    if df.empty:
        return df
    keys = [k for k in (*RUN_KEYS, "job") if k in df.columns and k in runs.columns]
    return df.merge(runs[keys].drop_duplicates(), on=keys, how="inner")[list(df.columns)]
