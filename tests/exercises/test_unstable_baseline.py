"""The protocol's caveat ("Both editions") in exercises 1, 5 and 8, as exercises 2 and 3 give
it: where the learning rate makes no-dropout runs fail, the answer there is about an unstable
learning rate, in the section and in the summary row. Referee (full study): at lr 0.5 the
no-dropout baseline failed in exercise 1 (1 of 10 runs), 5 (1 of 10) and 8 (6 of 50), and
only exercise 3 said so."""

import pytest

from dropout_study import glance
from dropout_study.exercises import capacity, layer_rates, weight_decay
from tests import synthetic as syn
from tests.exercises import test_capacity as t8
from tests.exercises import test_layer_rates as t1
from tests.exercises import test_weight_decay as t5

FIG = {layer_rates: {"heatmaps": "f.png"}, weight_decay: {"grid": "f.png"},
       capacity: {"capacity": "f.png"}}


def cases():
    w64 = capacity.condition_name(64, (0.0, 0.0))
    w256 = capacity.condition_name(256, (0.0, 0.0))
    return [
        (layer_rates, lambda d: t1.run(diverged=d), {(t1.NONE, 3): 2},
         f"1 of the 10 no-dropout runs ({t1.NONE}) at lr 0.5 is unstable by the rule", 1, 10),
        (weight_decay, lambda d: t5.run(diverged=d), {(t5.NONE, 3): 2},
         f"1 of the 10 no-dropout runs ({t5.NONE}) at lr 0.5 is unstable by the rule", 1, 10),
        (capacity, lambda d: t8.run(slope=0.004, diverged=d), {(w64, 3): 2, (w256, 1): 2},
         f"2 of the 40 no-dropout runs ({t8.NONE} at each of its 4 widths) at lr 0.5 are "
         "unstable by the rule", 2, 40),
    ]


@pytest.mark.parametrize("ex, run, failing, said, k, n", cases(),
                         ids=["exercise 1", "exercise 5", "exercise 8"])
def test_a_failing_no_dropout_baseline_is_said_in_the_section_and_the_row(ex, run, failing,
                                                                          said, k, n):
    r = run(failing)
    words = ex.context(r)
    assert words["caveat"].startswith(said)
    assert words["caveat"].endswith("the protocol reads an answer there as what happens at an "
                                    "unstable learning rate.")
    md = " ".join(syn.section_markdown(ex.EXERCISE, words, FIG[ex]).split())
    assert f"**An unstable learning rate.** {words['caveat']}" in md
    row = glance.row(ex.EXERCISE, words, [(None, ex.EXERCISE.headline(r))], 0.95)
    assert row["answer"].endswith(f"Read at lr 0.5, where {k} of the {n} no-dropout runs fail "
                                  f"within their {r.design['epochs']} epochs: an answer about "
                                  "an unstable learning rate.")
    # its absence: every no-dropout run stable, nothing said
    calm = run({})
    words = ex.context(calm)
    assert words["caveat"] == ""
    assert "unstable learning rate" not in syn.section_markdown(ex.EXERCISE, words, FIG[ex])
    row = glance.row(ex.EXERCISE, words, [(None, ex.EXERCISE.headline(calm))], 0.95)
    assert "unstable learning rate" not in row["answer"]
