import math

import numpy as np
import pandas as pd
import pytest

from dropout_study.instability import CHANCE_LOSS, instability, run_instability

EPOCHS = np.arange(1, 11)
HEALTHY_ACC = np.array([0.70, 0.78, 0.81, 0.82, 0.83, 0.84, 0.84, 0.85, 0.85, 0.855])
HEALTHY_LOSS = np.linspace(0.9, 0.35, 10)


def test_a_healthy_run_is_stable():
    flag, epoch, reason = run_instability(EPOCHS, HEALTHY_LOSS, HEALTHY_ACC)
    assert flag is False and math.isnan(epoch) and reason == ""


def test_a_first_epoch_above_chance_is_allowed():
    loss = HEALTHY_LOSS.copy()
    loss[0] = 2.5  # the first epoch starts from chance
    assert not run_instability(EPOCHS, loss, HEALTHY_ACC)[0]


def test_a_collapse_that_partly_recovers_is_unstable_at_its_epoch():
    acc = HEALTHY_ACC.copy()
    acc[5:] = [0.50, 0.62, 0.70, 0.72, 0.73]  # collapses at epoch 6, ends near 73%
    flag, epoch, reason = run_instability(EPOCHS, HEALTHY_LOSS, acc)
    assert flag and epoch == 6
    assert reason == "test accuracy 50.0% fell 33.0 points below its best so far (83.0%)"


def test_a_fall_of_exactly_ten_points_is_not_a_collapse():
    acc = HEALTHY_ACC.copy()
    acc[6] = 0.84 - 0.0999  # its best so far: 0.84 at epoch 6
    assert not run_instability(EPOCHS, HEALTHY_LOSS, acc)[0]
    acc[6] = 0.84 - 0.1001
    assert run_instability(EPOCHS, HEALTHY_LOSS, acc)[:2] == (True, 7)


def test_a_training_loss_above_chance_is_unstable():
    loss = HEALTHY_LOSS.copy()
    loss[3] = CHANCE_LOSS + 0.01
    flag, epoch, reason = run_instability(EPOCHS, loss, HEALTHY_ACC)
    assert flag and epoch == 4 and reason.startswith("training loss 2.31 above chance")
    loss[3] = CHANCE_LOSS - 0.01
    assert not run_instability(EPOCHS, loss, HEALTHY_ACC)[0]


def test_a_diverged_run_is_unstable_where_its_loss_stops_being_finite():
    loss, acc = HEALTHY_LOSS.copy(), HEALTHY_ACC.copy()
    loss[7:], acc[7:] = np.nan, np.nan
    assert run_instability(EPOCHS, loss, acc)[:3] == (True, 8,
                                                      "training loss not finite (diverged)")


def test_one_row_per_run():
    rows = []
    for seed, acc in ((0, HEALTHY_ACC), (1, np.r_[HEALTHY_ACC[:4], [0.3] * 6])):
        rows += [{"experiment": "e", "condition": "c", "seed": seed, "epoch": int(e),
                  "train_loss": float(loss), "test_acc": float(a)}
                 for e, loss, a in zip(EPOCHS, HEALTHY_LOSS, acc, strict=True)]
    out = instability(pd.DataFrame(rows).sample(frac=1, random_state=0))  # order-free
    out = out.set_index("seed")
    assert out.loc[0, "unstable"] == False and out.loc[1, "unstable"] == True  # noqa: E712
    assert out.loc[1, "unstable_epoch"] == 5


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
