"""The paired contrast every exercise reports, and the sentence for its verdict.

A contrast ``a − b`` between two arms measured on the same seeds has three parts (STUDY.md):

1. instability in each arm, a rate with its exact interval, and the paired difference in
   rates where it is not zero in both;
2. the **primary** effect: the mean paired difference over the seeds stable in *both* arms,
   with its t-interval (Holm-corrected within a family) and n; no verdict on fewer than
   ``MIN_PAIRS`` such pairs;
3. a **robustness** line over every seed with a value in both arms: the median paired
   difference with a bootstrap interval, and P(a > b); none under ``MIN_ROBUST`` seeds.

"No detectable difference" always comes with the smallest effect the design would have
detected (80% power at the observed paired SD).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import stats, words
from .stats import Estimate

MIN_PAIRS = 3  # no verdict on fewer pairs stable in both arms
MIN_ROBUST = 8  # the robustness line needs at least this many seeds
POWER = 0.8
# a difference from one seed pair is one run set against one run: never printed as a number
# (STUDY.md, "Claims only after correction")
ONE_PAIR = "not shown (one seed pair: a single run against a single run is no finding)"


@dataclass(frozen=True)
class Quantity:
    """What a contrast compares, and how its differences are printed."""

    what: str = "test accuracy"
    scale: float = 100.0  # printed value = scale * value
    unit: str = "pp"
    digits: int = 2
    bounds: tuple[float, float] | None = None  # the range of a difference; None: unbounded

    def shown(self, e: Estimate) -> Estimate:
        """The estimate as printed and drawn: its interval kept inside the range of the
        difference (a small-n t-interval can pass ±100 points; the verdict is unchanged, as
        clipping never moves an interval across zero)."""
        return e if self.bounds is None or e is None else e.clipped(*self.bounds)

    def text(self, e: Estimate) -> str:
        """The difference with its interval; from one seed pair, words instead of a number."""
        if e.n == 1:
            return ONE_PAIR
        return words.number(self.shown(e), self.digits, self.scale, self.unit, signed=True)

    def size(self, x: float) -> str:
        """An unsigned effect size, e.g. the smallest detectable difference."""
        return f"{self.scale * x:.{self.digits}f} {self.unit}".rstrip()


ACCURACY = Quantity(bounds=(-1.0, 1.0))  # a difference of accuracies: within ±100 points


@dataclass(frozen=True)
class Ratio(Quantity):
    """A positive quantity compared as a ratio: the contrast runs on the logarithms of the
    per-seed values (a Sample of logs) and prints a / b, its interval from the log scale."""

    def text(self, e: Estimate) -> str:
        return ONE_PAIR if e.n == 1 else words.ratio(e.mapped(math.exp))

    def size(self, x: float) -> str:
        """An unsigned factor, with enough decimals that one near 1 does not print as
        "1.00" (two significant digits of its distance from 1, at least two decimals)."""
        f = math.exp(abs(x))
        gap = f - 1
        digits = 2 if not gap > 0 else max(2, 1 - math.floor(math.log10(gap)))
        return f"a factor {f:.{digits}f}"


@dataclass(frozen=True)
class Sample:
    """The per-seed values of two arms (indexed by seed) and each run's stability."""

    a: pd.Series
    b: pd.Series
    stable_a: pd.Series
    stable_b: pd.Series
    collapse_a: pd.Series | None = None  # transient collapses (events; the run stays in)
    collapse_b: pd.Series | None = None
    # the two arms are built from the same runs and share one stability per seed (e.g. an
    # interaction's sums over four cells, or a slope over widths): a rate difference between
    # them would set a run against itself, so there is none
    shared: bool = False

    @classmethod
    def of(cls, ends: pd.DataFrame, a: str, b: str, column: str = "endpoint") -> Sample:
        """Conditions ``a`` and ``b`` of an endpoints table, matched by seed."""
        ga = ends[ends["condition"] == a].set_index("seed")
        gb = ends[ends["condition"] == b].set_index("seed")
        events = "collapse" in ends.columns
        return cls(ga[column], gb[column], ga["stable"], gb["stable"],
                   ga["collapse"] if events else None, gb["collapse"] if events else None)

    def aligned(self) -> pd.DataFrame:
        seeds = self.a.index.union(self.b.index)

        def events(x: pd.Series | None) -> pd.Series:
            return (x.reindex(seeds) if x is not None
                    else pd.Series(False, index=seeds)).fillna(False).astype(bool)

        df = pd.DataFrame({"a": self.a.reindex(seeds), "b": self.b.reindex(seeds),
                           "stable_a": self.stable_a.reindex(seeds),
                           "stable_b": self.stable_b.reindex(seeds),
                           "collapse_a": events(self.collapse_a),
                           "collapse_b": events(self.collapse_b)})
        df["both"] = df["stable_a"].eq(True) & df["stable_b"].eq(True)
        return df.sort_index()


@dataclass(frozen=True)
class Contrast:
    label: str  # "a − b": the sign convention, printed next to every difference
    quantity: Quantity
    primary: Estimate  # over the seeds stable in both arms, at the family's Holm level
    claim: bool  # the (corrected) primary interval excludes zero, on >= MIN_PAIRS pairs
    mde: float  # smallest true difference detected with 80% power (NaN: not estimable)
    runs_a: int
    runs_b: int
    unstable_a: int
    unstable_b: int
    rate_a: Estimate
    rate_b: Estimate
    rate_diff: Estimate | None  # paired difference in instability (None: zero in both)
    robust: Estimate | None  # median paired difference over all seeds (None: too few)
    p_superior: float  # P(a > b) over all seeds with a value in both arms
    all_pairs: int  # seeds with a value in both arms, stable or not
    collapses_a: int = 0  # transient collapses: runs that recovered before the endpoint
    collapses_b: int = 0
    compared_collapses_a: int = 0  # of them, the runs in the seed pairs compared
    compared_collapses_b: int = 0
    # why no detectable difference here says nothing (e.g. an interaction one of whose factors
    # has no detectable effect of its own), in words; "" where it is informative
    uninformative: str = ""
    shared: bool = False  # the arms share one stability per seed (see ``Sample.shared``)

    @property
    def pairs(self) -> int:
        return self.primary.n

    @property
    def tested(self) -> bool:
        return self.pairs >= MIN_PAIRS

    @property
    def direction(self) -> int:
        """+1 if a > b is claimed, −1 if a < b is claimed, 0 otherwise."""
        return int(np.sign(self.primary.value)) if self.claim else 0

    @property
    def robust_direction(self) -> int:
        if self.robust is None or not self.robust.excludes_zero():
            return 0
        return int(np.sign(self.robust.value))

    @property
    def disagrees(self) -> bool:
        """The robustness line over all seeds does not support the primary verdict. Not where
        the verdict is withheld by a rule of words, not by the data (an uninformative
        interaction: its interval may exclude zero, and the robust one with it)."""
        return self.robust is not None and self.tested and not self.uninformative and \
            self.direction != self.robust_direction

    # -- words -------------------------------------------------------------------------------
    def verdict(self, better: str, worse: str) -> str:
        """``better`` / ``worse`` for a claim in the direction a > b / a < b; otherwise why
        there is no claim, with the resolution of the design."""
        if not self.tested:
            have = (f"{self.pairs} seed pair{'s' if self.pairs != 1 else ''}" if self.pairs
                    else "no seed pair")
            return f"no verdict: {have} stable in both arms, at least {MIN_PAIRS} needed"
        if self.claim:
            return better if self.primary.value > 0 else worse
        return (f"no detectable difference at {words.seeds(self.pairs)}"
                f"{self.resolution()}")

    def resolution(self) -> str:
        if not np.isfinite(self.mde):
            return ""
        return f": none larger than {self.quantity.size(self.mde)} would likely be missed"

    def difference(self) -> str:
        """``label: value [lo, hi] unit (n pairs)``."""
        return f"{self.label}: {self.quantity.text(self.primary)}"

    @property
    def arms(self) -> tuple[str, str]:
        """The two arms named in the label "a − b" (or "a / b", a ratio), else ("a", "b")."""
        for sep in (" − ", " / "):
            if sep in self.label:
                a, b = self.label.split(sep, 1)
                return a, b
        return "a", "b"

    def instability(self) -> str:
        a, b = self.arms
        if self.shared:  # one stability per seed for both arms: one rate, no difference
            text = ("seeds with a run unstable at the endpoint, diverged or never trained "
                    "among the runs both arms are built from (one count for both, no rate "
                    f"difference): {words.rate(self.unstable_a, self.runs_a, self.rate_a)}")
            if self.collapses_a:
                text += ("; seeds with a transient collapse of a stable run there: "
                         f"{words.rate(self.collapses_a, self.runs_a, self.collapse_rate(True))}")
            return text
        text = (f"unstable at the endpoint, diverged or never trained: "
                f"{a} {words.rate(self.unstable_a, self.runs_a, self.rate_a)}, "
                f"{b} {words.rate(self.unstable_b, self.runs_b, self.rate_b)}")
        if self.rate_diff is not None:
            text += (f"; paired difference in rates ({a} − {b}) "
                     f"{words.pp(self.rate_diff, 0)}")
        if self.collapses_a or self.collapses_b:
            ra, rb = self.collapse_rate(True), self.collapse_rate(False)
            text += ("; transient collapses of stable runs (recovered before the endpoint, "
                     f"runs kept): {a} {words.rate(self.collapses_a, self.runs_a, ra)}, "
                     f"{b} {words.rate(self.collapses_b, self.runs_b, rb)}")
            text += self._compared_collapses(a, b)
        return text

    def _compared_collapses(self, a: str, b: str) -> str:
        """Those of the runs compared, and where all of an arm's collapsed, that (referee, full
        study, second read: exercise 2's 4 no-dropout runs compared were the 4 that did)."""
        ka, kb = self.compared_collapses_a, self.compared_collapses_b
        every = [x for x, k in ((a, ka), (b, kb)) if self.pairs and k == self.pairs]
        return (f", of them in the {pairs_text(self.pairs)}: {a} {ka}, {b} {kb}" + (
            f" (every {' and every '.join(every)} run compared collapsed and recovered: the "
            "comparison is with runs that recovered)" if every else ""))

    def collapse_rate(self, arm_a: bool) -> Estimate:
        k, n = (self.collapses_a, self.runs_a) if arm_a else (self.collapses_b, self.runs_b)
        return stats.clopper_pearson(k, n, self.rate_a.level)

    def robustness(self) -> str:
        if self.robust is None:
            have = (f"{words.seeds(self.all_pairs)} with a value in both arms"
                    if self.all_pairs else "no seed with a value in both arms")
            return f"robustness line: {have}, too few for it (at least {MIN_ROBUST})"
        what = "ratio" if isinstance(self.quantity, Ratio) else "difference"
        # its interval is at the primary's level (Holm-corrected where that one is), so that
        # the two are read alike; said where it is not the plain 95% (referee, full study)
        at = (f" (a {100 * self.robust.level:.2f}% interval, as the primary's)"
              if round(self.robust.level, 6) != 0.95 else "")
        line = (f"robustness over all {self.all_pairs} seeds: median {what} "
                f"{self.quantity.text(self.robust)}{at}, P({' > '.join(self.arms)}) "
                f"= {self.p_superior:.2f}")
        if self.disagrees:
            line += f"; this disagrees with the primary verdict ({self.disagreement()})"
        return line

    def disagreement(self, stable: str = "stable in both arms") -> str:
        """Why the robustness line can disagree with the primary verdict: it runs over seeds
        the primary leaves out, or (every seed in both) it is another statistic of the same
        values (referee, full study: "it rests on the seeds stable in both arms alone" was
        said where every seed was stable)."""
        if self.pairs < self.all_pairs:
            return (f"the primary rests on the {self.pairs} seeds {stable} alone, the "
                    f"robustness line on all {self.all_pairs}")
        return (f"both rest on the same {self.pairs} seeds: the mean's interval and the "
                "median's disagree, and the verdict rests on the mean")

    @property
    def level_text(self) -> str:
        """The primary interval's level, "95.00%"; "no interval" where it has none (one pair),
        never a level beside a number without an interval."""
        e = self.primary
        return f"{100 * e.level:.2f}%" if e.has_interval else "no interval"

    def summary(self, level: float | None = None) -> str:
        """The primary difference with its interval and n, in words, as the summary table
        prints it; the interval's level where Holm's correction made it other than the study's
        ``level``."""
        if self.pairs == 0:
            return f"no value ({pairs_text(0, self.shared)})"
        if self.pairs == 1:
            return (f"not shown ({pairs_text(1, self.shared)}: a single run against a single run "
                    "is no finding)")
        holm = ("" if level is None or abs(self.primary.level - level) < 1e-9
                or not self.primary.has_interval else
                f"; a {100 * self.primary.level:.2f}% interval, Holm-corrected within its family")
        return (f"{self.quantity.text(self.primary)} ({pairs_text(self.pairs, self.shared)}"
                f"{self.few()}{holm})")

    def few(self) -> str:
        """Beside an interval from fewer pairs than a verdict needs: on how few degrees of
        freedom it stands, so that a narrow one does not read as precise; "" otherwise."""
        if self.tested or not self.primary.has_interval:
            return ""
        df = self.pairs - 1
        return (f"; a t-interval on {df} degree{'s' if df != 1 else ''} of freedom, its width "
                f"from {self.pairs} values: not a verdict")

    def short_verdict(self, better: str, worse: str) -> str:
        """The verdict in a few words, as the summary table prints it: the claim, "no
        detectable difference" with the smallest effect the design would likely have found, or
        why there is none."""
        if not self.tested:
            return "no verdict: too few seed pairs stable in both arms"
        if self.claim:
            return better if self.primary.value > 0 else worse
        if self.uninformative:
            return "uninformative (no claim)"
        if not math.isfinite(self.mde):
            return "no detectable difference"
        return f"no detectable difference (none larger than {self.quantity.size(self.mde)})"

    def row(self, better: str, worse: str) -> dict:
        """The contrast as one row of a report table (every field already in words)."""
        unit = "ratio a / b" if isinstance(self.quantity, Ratio) else self.quantity.unit
        return {"contrast": self.label, "diff": self.quantity.text(self.primary), "unit": unit,
                "pairs": self.pairs, "level": self.level_text,
                "verdict": self.verdict(better, worse), "instability": self.instability(),
                "robustness": self.robustness()}


def pairs_text(n: int, shared: bool = False) -> str:
    """How many seed pairs a difference rests on, in words ("no seed pair", never "0"); for a
    contrast whose arms share the seeds' runs (an interaction, a slope), the seeds stable in
    all its cells (referee, full study: "seed pairs stable in both arms" of 4 or 10 cells)."""
    if shared:
        return (f"{n} seed{'s' if n != 1 else ''} stable in all its cells" if n else
                "no seed stable in all its cells")
    return (f"{n} seed pair{'s' if n != 1 else ''} stable in both arms" if n else
            "no seed pair stable in both arms")


def _rate_parts(ind_a: pd.Series, ind_b: pd.Series, level: float, shared: bool = False):
    runs_a, runs_b = int(ind_a.notna().sum()), int(ind_b.notna().sum())
    k_a, k_b = int(ind_a.sum()), int(ind_b.sum())
    rate_a = stats.clopper_pearson(k_a, runs_a, level)
    rate_b = stats.clopper_pearson(k_b, runs_b, level)
    rate_diff = None
    if (k_a or k_b) and not shared:
        rate_diff = stats.paired_rate_diff(ind_a.astype(float), ind_b.astype(float), level)
    return runs_a, runs_b, k_a, k_b, rate_a, rate_b, rate_diff


def compare(samples: dict[str, Sample], level: float = 0.95, quantity: Quantity = ACCURACY,
            quantities: dict[str, Quantity] | None = None) -> dict[str, Contrast]:
    """A family of contrasts, each ``key`` read as its label "a − b", Holm-corrected over the
    contrasts that have at least ``MIN_PAIRS`` stable pairs (the others are not tested).
    ``quantities`` gives a contrast its own quantity where it is not ``quantity``."""
    frames = {k: s.aligned() for k, s in samples.items()}
    raw = {}
    for k, df in frames.items():
        both = df[df["both"]]
        raw[k] = stats.paired_diff(both["a"], both["b"], level)
    p = [raw[k].p if raw[k].n >= MIN_PAIRS else np.nan for k in frames]
    reject, alphas = stats.holm(p, 1 - level)
    out = {}
    for (k, df), rej, alpha in zip(frames.items(), reject, alphas, strict=True):
        both = df[df["both"]]
        tested = raw[k].n >= MIN_PAIRS
        primary = stats.paired_diff(both["a"], both["b"], 1 - alpha) if tested else raw[k]
        d = (both["a"] - both["b"]).to_numpy(dtype=float)
        d = d[np.isfinite(d)]
        mde = stats.min_detectable(float(np.std(d, ddof=1)), d.size, primary.level, POWER) \
            if tested else np.nan
        ind_a = (~df["stable_a"].astype("boolean")).astype("Float64")
        ind_b = (~df["stable_b"].astype("boolean")).astype("Float64")
        shared = samples[k].shared
        rates = _rate_parts(ind_a.astype(float), ind_b.astype(float), level, shared)
        a_all, b_all = stats.paired_values(df["a"], df["b"])
        robust = (stats.median_ci(a_all - b_all, primary.level)
                  if a_all.size >= MIN_ROBUST else None)
        out[k] = Contrast(
            label=k, quantity=(quantities or {}).get(k, quantity), primary=primary,
            claim=bool(tested and rej and primary.excludes_zero()), mde=mde,
            runs_a=rates[0], runs_b=rates[1], unstable_a=rates[2], unstable_b=rates[3],
            rate_a=rates[4], rate_b=rates[5], rate_diff=rates[6], robust=robust,
            p_superior=stats.prob_superiority(a_all, b_all), all_pairs=int(a_all.size),
            collapses_a=int(df.loc[df["stable_a"].notna(), "collapse_a"].sum()),
            collapses_b=int(df.loc[df["stable_b"].notna(), "collapse_b"].sum()),
            compared_collapses_a=int(both["collapse_a"].sum()),
            compared_collapses_b=int(both["collapse_b"].sum()),
            shared=shared)
    return out


def compare_one(label: str, sample: Sample, level: float = 0.95,
                quantity: Quantity = ACCURACY) -> Contrast:
    """A single contrast (a family of one: no correction)."""
    return compare({label: sample}, level, quantity)[label]


def condition_contrast(ends: pd.DataFrame, a: str, b: str, level: float = 0.95,
                       column: str = "endpoint", quantity: Quantity = ACCURACY,
                       label: str | None = None) -> Contrast:
    """``a − b`` between two conditions of an endpoints table."""
    return compare_one(label or f"{a} − {b}", Sample.of(ends, a, b, column), level, quantity)
