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
    assert s["collapse_reason"] == ("test accuracy 60.0% fell 18.0 points below its best so "
                                    "far (78.0%)")


def test_a_collapse_still_there_in_the_window_is_unstable_from_the_start_of_the_episode():
    acc = HEALTHY_ACC.copy()
    acc[5:] = [0.50, 0.62, 0.70, 0.72, 0.73]  # collapses at epoch 6, ends near 73%
    s = state(acc=acc)
    assert s["unstable"] and s["endpoint_unstable"] and s["unstable_epoch"] == 6
    assert s["unstable_reason"] == "test accuracy 50.0% fell 33.0 points below its best so far " \
        "(83.0%)"
    assert not s["collapse"]  # no earlier, recovered episode


def test_an_early_recovered_collapse_and_a_late_one_are_an_event_and_an_unstable_endpoint():
    acc = HEALTHY_ACC.copy()
    acc[1] = 0.55  # epoch 2: event, recovered
    acc[8] = 0.70  # epoch 9: in the window
    s = state(acc=acc)
    assert s["endpoint_unstable"] and s["unstable_epoch"] == 9
    assert s["collapse"] and s["collapse_epoch"] == 2


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


def test_a_diverged_run_keeps_its_earlier_recovered_collapses_as_events():
    """The referee's objection 3: a run that collapsed and recovered three times, then
    diverged, was listed only as diverged."""
    loss, acc = HEALTHY_LOSS.copy(), HEALTHY_ACC.copy()
    acc[1], acc[4] = 0.55, 0.65  # epochs 2 and 5: collapses, recovered
    loss[6] = CHANCE_LOSS + 1  # epoch 7: above chance, recovered at 8
    acc[8] = 0.60  # epoch 9: the collapse that runs into the divergence (not recovered)
    loss[9], acc[9] = np.nan, np.nan  # epoch 10: diverged
    s = state(loss, acc)
    assert s["diverged_run"] and s["unstable_epoch"] == 10
    assert s["collapse"] and s["collapse_epochs"] == "2, 5, 7" and s["collapse_epoch"] == 2
    calm = HEALTHY_LOSS.copy()
    calm[9] = np.nan
    assert not state(calm)["collapse"]  # diverged with nothing before it: no event


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


def rows(seed, acc, loss=HEALTHY_LOSS):
    return [{"experiment": "e", "condition": "c", "seed": seed, "epoch": int(e),
             "train_loss": float(lo), "test_acc": float(a)}
            for e, lo, a in zip(EPOCHS, loss, acc, strict=True)]


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
    assert counts(ends) == {"runs": 4, "collapses": 1, "endpoint_unstable": 1, "diverged": 1}


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
