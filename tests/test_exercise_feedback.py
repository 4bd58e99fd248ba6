"""Every exercise answers an unfinished function (a body of ``...``) with the same words, and
a function that raises with its error, instead of crashing or blaming a conversion."""

import numpy as np
import pytest

from tlcourse.exercises import (
    ex00,
    ex01,
    ex02,
    ex03,
    ex04,
    ex05,
    ex06,
    ex07,
    ex08,
    ex09,
    ex10,
    ex11,
)
from tlcourse.exercises.feedback import UNFINISHED, call

TEXTS, LABELS = ["good", "bad"] * 3, np.array([1, 0] * 3)
CHECKS = {  # check -> the arguments after the learner's function
    "ex00.check_head_fraction": (ex00.check_head_fraction, ()),
    "ex01.check_knn": (ex01.check_knn, ()),
    "ex02.check_param_groups": (ex02.check_param_groups, ()),
    "ex02.check_lr_schedule": (ex02.check_lr_schedule, ()),
    "ex02.check_l2_sp": (ex02.check_l2_sp, ()),
    "ex03.check_coral": (ex03.check_coral, ()),
    "ex03.check_gradient_reversal": (ex03.check_gradient_reversal, ()),
    "ex04.check_nt_xent": (ex04.check_nt_xent, ()),
    "ex04.check_knn_accuracy": (ex04.check_knn_accuracy, ()),
    "ex04.check_purity": (ex04.check_purity, ()),
    "ex05.check_wilson_interval": (ex05.check_wilson_interval, ()),
    "ex05.check_balanced_accuracy": (ex05.check_balanced_accuracy, ()),
    "ex06.check_mean_pool": (ex06.check_mean_pool, ()),
    "ex06.check_tfidf_baseline": (ex06.check_tfidf_baseline, (TEXTS, LABELS, TEXTS, LABELS, 1.0)),
    "ex07.check_project": (ex07.check_project, ()),
    "ex07.check_uw_objective": (ex07.check_uw_objective, ()),
    "ex08.check_h_score": (ex08.check_h_score, ()),
    "ex08.check_kendall_tau": (ex08.check_kendall_tau, ()),
    "ex09.check_prototype_logits": (ex09.check_prototype_logits, ()),
    "ex09.check_interval": (ex09.check_interval, ()),
    "ex10.check_ewc_penalty": (ex10.check_ewc_penalty, ()),
    "ex10.check_backward_transfer": (ex10.check_backward_transfer, ()),
    "ex10.check_pick": (ex10.check_pick, ()),
    "ex11.check_clip_loss": (ex11.check_clip_loss, ()),
    "ex11.check_recall_at_k": (ex11.check_recall_at_k, ()),
}


def unfinished(*args):
    ...  # your code here


def broken(*args):
    raise ZeroDivisionError("division by zero")


@pytest.mark.parametrize("name", CHECKS)
def test_an_unfinished_function_gets_the_same_feedback_everywhere(name, capsys):
    check, extra = CHECKS[name]
    assert check(unfinished, *extra) is False
    out = capsys.readouterr().out
    assert out == f"Not yet:\n  - {UNFINISHED}\n", out
    with pytest.raises(AssertionError, match="replace the"):
        check(unfinished, *extra, strict=True)


@pytest.mark.parametrize("name", CHECKS)
def test_a_function_that_raises_is_named_with_its_error(name, capsys):
    check, extra = CHECKS[name]
    assert check(broken, *extra) is False
    assert "your function raised ZeroDivisionError: division by zero" in capsys.readouterr().out


def test_call_separates_answers_errors_and_unfinished_work():
    assert call(lambda: 0) == (0, None)            # a falsy answer is still an answer
    assert call(lambda: ...) == (None, UNFINISHED)
    assert call(unfinished) == (None, UNFINISHED)
    assert call(broken)[1].startswith("your function raised ZeroDivisionError")
