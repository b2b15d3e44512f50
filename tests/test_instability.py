import math

import numpy as np
import pandas as pd
import pytest

from dropout_study.instability import CHANCE_LOSS, counts, instability, run_state, stable_epochs

EPOCHS = np.arange(1, 11)
HEALTHY_ACC = np.array([0.70, 0.78, 0.81, 0.82, 0.83, 0.84, 0.84, 0.85, 0.85, 0.855])
HEALTHY_LOSS = np.linspace(0.9, 0.35, 10)
K = 3  # the endpoint window: epochs 8, 9, 10


def state(loss=HEALTHY_LOSS, acc=HEALTHY_ACC, k=K, diverged=None):
    return run_state(EPOCHS, loss, acc, k, diverged)


def test_a_healthy_run_is_stable_and_has_no_event():
    s = state()
    assert not s["unstable"] and not s["collapse"] and not s["diverged_run"]
    assert math.isnan(s["unstable_epoch"]) and s["unstable_reason"] == ""


def test_a_first_epoch_above_chance_is_allowed():
    loss = HEALTHY_LOSS.copy()
    loss[0] = 2.5  # the first epoch starts from chance
    assert not state(loss)["unstable"] and not state(loss)["collapse"]


def test_an_early_dip_that_recovers_is_a_transient_collapse_not_an_unstable_endpoint():
    """Finding 1 of issue 22: a dip early on that recovers flagged the run unstable (and took
    it out of the contrast); under revision 3 it keeps its endpoint and counts as an event."""
    acc = HEALTHY_ACC.copy()
    acc[2] = 0.60  # epoch 3: 18 points below its best so far (78%), then back to normal
    s = state(acc=acc)
    assert not s["unstable"] and not s["endpoint_unstable"]
    assert s["collapse"] and s["collapse_epoch"] == 3
    assert s["collapse_reason"] == ("validation accuracy 60.00% fell 18.00 points below its "
                                    "best so far (78.00%)")


def test_a_fall_just_past_the_rule_s_edge_prints_past_it():
    """Referee (full study): "70.6% fell 10.0 points below its best so far (80.6%)" for a
    fall of 10.01 against a rule of more than 10."""
    acc = HEALTHY_ACC.copy()
    acc[2] = acc[1] - 0.1001
    s = state(acc=acc)
    assert s["collapse"] and "fell 10.01 points below" in s["collapse_reason"]
    acc[2] = acc[1] - 0.0999  # its absence: within the rule, no event
    assert not state(acc=acc)["collapse"]


def test_a_collapse_still_there_in_the_window_is_unstable_from_the_start_of_the_episode():
    acc = HEALTHY_ACC.copy()
    acc[5:] = [0.50, 0.62, 0.70, 0.72, 0.73]  # collapses at epoch 6, ends near 73%
    s = state(acc=acc)
    assert s["unstable"] and s["endpoint_unstable"] and s["unstable_epoch"] == 6
    assert s["unstable_reason"] == ("validation accuracy 50.00% fell 33.00 points below its "
                                    "best so far (83.00%)")
    assert not s["collapse"]  # no earlier, recovered episode


def test_an_early_recovered_collapse_of_a_run_unstable_at_its_endpoint_is_no_transient_one():
    """Issue 31, finding 2: a run unstable at its endpoint was also counted as a transient
    collapse "recovered before the endpoint". It is counted there and only there; its earlier
    episode is recorded with it."""
    acc = HEALTHY_ACC.copy()
    acc[1] = 0.55  # epoch 2: recovered
    acc[8] = 0.70  # epoch 9: in the window
    s = state(acc=acc)
    assert s["endpoint_unstable"] and s["unstable_epoch"] == 9
    assert not s["collapse"] and s["collapse_epochs"] == "" and math.isnan(s["collapse_epoch"])
    assert s["earlier_epochs"] == "2"


def test_the_window_is_the_last_k_epochs():
    acc = HEALTHY_ACC.copy()
    acc[6] = 0.70  # epoch 7: just before a 3-epoch window, inside a 4-epoch one
    assert state(acc=acc, k=3)["collapse"] and not state(acc=acc, k=3)["unstable"]
    assert state(acc=acc, k=4)["endpoint_unstable"] and state(acc=acc, k=4)["unstable_epoch"] == 7


def test_a_fall_of_exactly_ten_points_is_not_a_collapse():
    acc = HEALTHY_ACC.copy()
    acc[8] = 0.85 - 0.0999  # its best so far: 0.85 at epoch 8
    assert not state(acc=acc)["unstable"]
    acc[8] = 0.85 - 0.1001
    assert state(acc=acc)["unstable"] and state(acc=acc)["unstable_epoch"] == 9


def test_a_training_loss_above_chance_in_the_window_is_unstable():
    loss = HEALTHY_LOSS.copy()
    loss[8] = CHANCE_LOSS + 0.01
    s = state(loss)
    assert s["endpoint_unstable"] and s["unstable_epoch"] == 9
    assert s["unstable_reason"].startswith("training loss 2.31 above chance")
    loss[8] = CHANCE_LOSS - 0.01
    assert not state(loss)["unstable"]


def test_a_diverged_run_is_diverged_not_endpoint_unstable_where_its_loss_stops_being_finite():
    loss, acc = HEALTHY_LOSS.copy(), HEALTHY_ACC.copy()
    loss[3:], acc[3:] = np.nan, np.nan  # long before the window
    s = state(loss, acc)
    assert s["unstable"] and s["diverged_run"] and not s["endpoint_unstable"]
    assert s["unstable_epoch"] == 4 and s["unstable_reason"].startswith("diverged")


def test_a_diverged_run_records_its_earlier_recovered_episodes_but_has_no_transient_one():
    """A run that collapsed and recovered three times, then diverged, is counted as diverged
    only (revision 4); the three earlier episodes are recorded with it."""
    loss, acc = HEALTHY_LOSS.copy(), HEALTHY_ACC.copy()
    acc[1], acc[4] = 0.55, 0.65  # epochs 2 and 5: collapses, recovered
    loss[6] = CHANCE_LOSS + 1  # epoch 7: above chance, recovered at 8
    acc[8] = 0.60  # epoch 9: the collapse that runs into the divergence (not recovered)
    loss[9], acc[9] = np.nan, np.nan  # epoch 10: diverged
    s = state(loss, acc)
    assert s["diverged_run"] and s["unstable_epoch"] == 10
    assert not s["collapse"] and s["earlier_epochs"] == "2, 5, 7"
    calm = HEALTHY_LOSS.copy()
    calm[9] = np.nan
    assert state(calm)["earlier_epochs"] == "" and not state(calm)["collapse"]


def test_every_recovered_episode_is_listed():
    acc = HEALTHY_ACC.copy()
    acc[1], acc[2], acc[5] = 0.55, 0.56, 0.60  # one episode at epochs 2-3, another at 6
    s = state(acc=acc)
    assert not s["unstable"] and s["collapse_epochs"] == "2, 6"


def test_the_trainers_divergence_flag_counts_as_diverged():
    flag = np.zeros(10, dtype=bool)
    flag[5:] = True
    s = state(diverged=flag)
    assert s["diverged_run"] and s["unstable_epoch"] == 6


def rows(seed, acc, loss=HEALTHY_LOSS, test=None):
    """One run's metrics rows: ``acc`` is its validation accuracy, ``test`` its test accuracy
    (the same where not given)."""
    test = acc if test is None else test
    return [{"experiment": "e", "condition": "c", "seed": seed, "epoch": int(e),
             "train_loss": float(lo), "val_acc": float(a), "test_acc": float(t)}
            for e, lo, a, t in zip(EPOCHS, loss, acc, test, strict=True)]


def test_one_row_per_run_and_the_counts_of_each_kind():
    dip = HEALTHY_ACC.copy()
    dip[2] = 0.6
    late = np.r_[HEALTHY_ACC[:4], [0.3] * 6]
    dead = HEALTHY_LOSS.copy()
    dead[6:] = np.nan
    table = pd.DataFrame(rows(0, HEALTHY_ACC) + rows(1, late) + rows(2, dip)
                         + rows(3, HEALTHY_ACC, dead))
    out = instability(table.sample(frac=1, random_state=0), K).set_index("seed").sort_index()
    assert out["unstable"].tolist() == [False, True, False, True]
    assert out.loc[1, "unstable_epoch"] == 5
    ends = out.assign(stable=~out["unstable"])
    assert counts(ends) == {"runs": 4, "collapses": 1, "endpoint_unstable": 1, "diverged": 1,
                            "never_trained": 0}


def test_stability_at_each_epoch_uses_the_window_that_ends_there():
    dip = HEALTHY_ACC.copy()
    dip[2] = 0.6  # epoch 3 meets the rule: unstable at 3, 4, 5 (windows of 3), stable from 6
    dead = HEALTHY_LOSS.copy()
    dead[6:] = np.nan  # diverged at 7: never stable again
    at = stable_epochs(pd.DataFrame(rows(0, dip) + rows(1, HEALTHY_ACC, dead)), K)
    s0 = at[at["seed"] == 0].set_index("epoch")["stable_at"]
    assert [e for e in EPOCHS if not s0[e]] == [3, 4, 5]
    s1 = at[at["seed"] == 1].set_index("epoch")["stable_at"]
    assert [e for e in EPOCHS if not s1[e]] == [7, 8, 9, 10]


def test_endpoints_of_tables_concatenated_without_a_fresh_index():
    """Job tables joined as the selection step joins them (row labels repeat)."""
    from dropout_study.results import endpoints

    def job(cond):
        m = pd.DataFrame([{"experiment": "e", "condition": cond, "seed": 0, "epoch": e,
                           "train_loss": 0.5, "test_acc": 0.8 + 0.01 * e, "val_acc": 0.8,
                           "train_eval_acc": 0.8, "test_loss": 0.4, "diverged": False}
                          for e in (1, 2, 3)])
        r = pd.DataFrame([{"experiment": "e", "condition": cond, "seed": 0, "diverged": False}])
        return m, r

    (m1, r1), (m2, r2) = job("a"), job("b")
    ends = endpoints(pd.concat([m1, m2]), pd.concat([r1, r2]), 2)
    assert len(ends) == 2 and ends["endpoint"].tolist() == pytest.approx([0.825, 0.825])


# -- revision 4: validation and training loss only; a run that never trained (issue 31) ------
def test_the_rule_reads_the_validation_accuracy_never_the_test_accuracy():
    """Issue 31, finding 3: instability was judged on test accuracy, so the test set took part
    in selection. Planted: a collapse in the test accuracy alone (the run is stable), and one in
    the validation accuracy alone (the run is unstable at its endpoint)."""
    fall = HEALTHY_ACC.copy()
    fall[8:] = 0.60  # epochs 9-10: 25 points below the best so far
    table = pd.DataFrame(rows(0, HEALTHY_ACC, test=fall) + rows(1, fall, test=HEALTHY_ACC))
    out = instability(table, K).set_index("seed")
    assert not out.loc[0, "unstable"] and not out.loc[0, "collapse"]
    assert out.loc[1, "endpoint_unstable"] and out.loc[1, "unstable_epoch"] == 9
    assert out.loc[1, "unstable_reason"].startswith("validation accuracy 60.00% fell")
    at = stable_epochs(table, K).set_index(["seed", "epoch"])["stable_at"]
    assert at.loc[0].all() and not at.loc[(1, 9)] and at.loc[(1, 8)]


TRAINED_LOSS = 0.8 * math.log(10)  # STUDY.md: a run has trained once its loss falls below this
NEVER_LOSS = np.array([2.30, 2.28, 2.31, 2.26, 2.24, 2.25, 2.22, 2.19, 2.14, 2.25])
NEVER_ACC = np.array([0.18, 0.22, 0.17, 0.25, 0.27, 0.26, 0.29, 0.31, 0.30, 0.27])


def test_a_run_that_never_trained_is_a_failure_of_its_own_kind_never_stable():
    """Issue 31, finding 1: exercise 6's per-minibatch DropConnect at p = 0.5, seed 2, training
    loss 2.14-2.25 in epochs 8-10 and best accuracy 31%, entered the tables as a stable run,
    with a "transient collapse" at epoch 3 (loss above chance) that it never recovered from."""
    s = state(NEVER_LOSS, NEVER_ACC)
    assert s["unstable"] and s["never_trained"]
    assert not s["endpoint_unstable"] and not s["diverged_run"] and not s["collapse"]
    assert s["unstable_epoch"] == 1
    assert s["unstable_reason"] == (f"never trained: its training loss never fell below "
                                    f"{TRAINED_LOSS:.2f} (0.8 · ln 10; lowest 2.14)")
    table = pd.DataFrame(rows(0, NEVER_ACC, NEVER_LOSS) + rows(1, HEALTHY_ACC))
    ends = instability(table, K).assign(stable=lambda d: ~d["unstable"])
    assert counts(ends) == {"runs": 2, "collapses": 0, "endpoint_unstable": 0, "diverged": 0,
                            "never_trained": 1}
    at = stable_epochs(table, K).set_index(["seed", "epoch"])["stable_at"]
    assert not at.loc[0].any() and at.loc[1].all()


def test_a_loss_just_below_the_training_threshold_trained_and_just_above_did_not():
    loss = NEVER_LOSS.copy()
    acc = np.full(10, 0.35)  # far enough above chance
    loss[6] = TRAINED_LOSS - 0.001
    assert not state(loss, acc)["never_trained"]
    loss[6] = TRAINED_LOSS + 0.001
    assert state(loss, acc)["never_trained"]


def test_a_run_whose_validation_accuracy_stays_near_chance_never_trained():
    acc = np.full(10, 0.19)  # the loss falls, the accuracy does not leave chance
    s = state(HEALTHY_LOSS, acc)
    assert s["never_trained"] and s["unstable_reason"] == (
        "never trained: its best validation accuracy, 19.0%, stayed within 10 points of "
        "chance (10%)")
    assert not state(HEALTHY_LOSS, np.full(10, 0.21))["never_trained"]


def test_a_slow_start_is_not_stable_before_the_run_has_trained():
    """Referee read 5, 5: at lr 0.1 every healthy run's first epoch has a mean training loss
    of 1.9-2.05 (it includes the start from chance) with 58-63% validation accuracy, and
    the epoch was left out as "not yet trained". In the first epoch a run is trained by its
    validation accuracy alone; from the second, by both."""
    loss = HEALTHY_LOSS.copy()
    loss[0] = 2.0  # epoch 1 above the training threshold, below chance
    at = stable_epochs(pd.DataFrame(rows(0, HEALTHY_ACC, loss)), K).set_index("epoch")
    assert at.loc[1:, "stable_at"].all()  # 70% on validation: trained in its first epoch
    near = HEALTHY_ACC.copy()
    near[0] = 0.15  # within 10 points of chance: not yet trained
    at = stable_epochs(pd.DataFrame(rows(0, near, loss)), K).set_index("epoch")
    assert not at.loc[1, "stable_at"] and at.loc[2:, "stable_at"].all()
    slow = loss.copy()
    slow[1] = 1.9  # the second epoch's loss still above the threshold: not trained there
    at = stable_epochs(pd.DataFrame(rows(0, HEALTHY_ACC, slow)), K).set_index("epoch")
    assert at.loc[1, "stable_at"] and not at.loc[2, "stable_at"] and at.loc[3:, "stable_at"].all()
    assert not state(loss)["unstable"]  # it trained: stable at its endpoint


def _metrics(falls: dict[int, float]) -> pd.DataFrame:
    """One run per seed of the healthy series, its validation accuracy at epoch 9 (inside the
    window) ``falls[seed]`` below its best so far."""
    rows = []
    for seed, fall in falls.items():
        acc = HEALTHY_ACC.copy()
        acc[8] = acc[:8].max() - fall
        rows += [{"experiment": "x", "condition": "c", "seed": seed, "epoch": int(e),
                  "train_loss": float(lo), "val_acc": float(a)}
                 for e, lo, a in zip(EPOCHS, HEALTHY_LOSS, acc, strict=True)]
    return pd.DataFrame(rows)


def test_the_rule_is_checked_against_the_runs_it_calls_stable():
    """Issue 31 (referee): 13 stable runs of the quick study fell 7–9 points in their endpoint
    window, under the rule's 10, and the report did not say so. It now counts them."""
    from dropout_study.instability import near_misses, near_words

    m = near_misses(_metrics({0: 0.0, 1: 0.06, 2: 0.08, 3: 0.095, 4: 0.12}), K)
    assert m["stable"] == 4  # the 12-point fall is unstable at its endpoint: not counted
    assert (m["half"], m["three_quarters"]) == (3, 2)
    assert m["largest"] == pytest.approx(0.095) and m["median"] == pytest.approx(0.07)
    assert near_words(m) == (
        "Checked against the runs (each distinct run once): within their endpoint window, the 4 "
        "runs stable at their "
        "endpoint fall at most 9.5 points below their own best validation accuracy so far "
        "(median 7.0); 3 fall more than half the rule's 10 points (5) and 2 more than three "
        "quarters (7.5); they count as stable under the rule as the protocol states it (a fall "
        "of more than 10 points).")
    quiet = near_misses(_metrics({0: 0.0, 1: 0.01}), K)
    assert (quiet["half"], quiet["three_quarters"]) == (0, 0)
    assert near_words(near_misses(pd.DataFrame(), K)) == ""
