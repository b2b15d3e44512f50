import pytest
import torch

from dropout_study.model import BatchedMLP
from dropout_study.noise import scheme
from dropout_study.testtime import compare_test_time, expected_calibration_error, scores


def test_ece_hand_worked_example():
    # 4 predictions; confidences 0.9 (right), 0.9 (wrong), 0.6 (right), 0.3 (right, 3 classes)
    probs = torch.tensor([[[0.9, 0.05, 0.05], [0.9, 0.05, 0.05],
                           [0.6, 0.3, 0.1], [0.3, 0.3, 0.4]]])
    labels = torch.tensor([0, 1, 0, 2])
    # bins (15 equal widths): {0.9, 0.9} -> acc 0.5, conf 0.9; {0.6} -> 1 vs 0.6;
    # {0.4} -> 1 vs 0.4. ECE = 2/4 * 0.4 + 1/4 * 0.4 + 1/4 * 0.6 = 0.45
    assert float(expected_calibration_error(probs, labels)[0]) == pytest.approx(0.45)


def test_ece_is_zero_for_perfect_calibration():
    probs = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])
    assert float(expected_calibration_error(probs, torch.tensor([0, 1]))[0]) == 0.0


def test_scores_nll_and_accuracy():
    probs = torch.tensor([[[0.6, 0.4], [0.25, 0.75]]])
    s = scores(probs, torch.tensor([1, 1]))
    assert float(s["nll"][0]) == pytest.approx(-(torch.log(torch.tensor(0.4)) +
                                                 torch.log(torch.tensor(0.75))).item() / 2)
    assert float(s["acc"][0]) == pytest.approx(0.5)


def test_monte_carlo_with_p_zero_equals_eval_mode_exactly():
    model = BatchedMLP([0, 1], 32, scheme("dropout"), torch.zeros(2, 2), torch.device("cpu"))
    x, y = torch.rand(200, 784), torch.randint(0, 10, (200,))
    mc, per_model = compare_test_time(model, [0, 1], x, y, [1, 5])
    for t in (1, 5):
        row = mc[mc["passes"] == t].sort_values("seed")
        assert row["acc"].tolist() == per_model["eval_acc"].tolist()
        assert row["nll"].to_numpy() == pytest.approx(per_model["eval_nll"].to_numpy(), abs=1e-6)
    assert (per_model["flip_rate"] == 0).all()


def test_dropout_on_at_test_time_is_noisy():
    torch.manual_seed(0)
    model = BatchedMLP([0], 64, scheme("dropout"), torch.tensor([[0.5, 0.5]]), torch.device("cpu"))
    x, y = torch.rand(500, 784), torch.randint(0, 10, (500,))
    _, per_model = compare_test_time(model, [0], x, y, [1, 10])
    assert per_model["flip_rate"].iloc[0] > 0
