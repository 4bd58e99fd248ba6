"""Self-checks for notebook 00's exercises."""

from __future__ import annotations

from torch import nn

from tlcourse.exercises.feedback import call as _call
from tlcourse.exercises.feedback import report as _report

__all__ = ["TRANSFER_SCENARIOS", "check_head_fraction", "check_transfer_kinds"]

#: Scenario -> (kind of transfer, why).
TRANSFER_SCENARIOS = {
    "A clinic has 200 labelled X-rays; you start from an ImageNet network and train on them.":
        ("inductive", "the target task has labels (few), and the task differs from ImageNet's"),
    "A digit reader trained on scanned forms must read phone photos; no photo is labelled.":
        ("transductive", "same task, labelled source, unlabelled target: domain adaptation"),
    "You pretrain on a million unlabelled product photos, then classify with 5 labels each.":
        ("unsupervised", "the knowledge comes from data nobody labelled"),
    "A sentiment model trained on film reviews is used on unlabelled restaurant reviews.":
        ("transductive", "same task, the inputs' distribution shifted, no target labels"),
}


def check_transfer_kinds(answers: dict[str, str], strict: bool = False) -> bool:
    """Check a mapping scenario -> "inductive" | "transductive" | "unsupervised"."""
    problems = []
    for scenario, (kind, why) in TRANSFER_SCENARIOS.items():
        given = answers.get(scenario)
        if given is None:
            problems.append(f"no answer yet for: {scenario!r}")
        elif str(given).strip().lower() != kind:
            problems.append(f"{scenario!r} is not {given!r}. Hint: {why}.")
    return _report(problems, strict, "All right: you can tell the three kinds apart.")


def check_head_fraction(fn, strict: bool = False) -> bool:
    """Check ``fn(model, num_classes)``: fraction of parameters a new head would have."""
    backbone = nn.Sequential(nn.Conv2d(3, 8, 3), nn.Flatten(), nn.Linear(8, 4))
    expected = (8 * 10 + 10) / (3 * 8 * 9 + 8 + 8 * 10 + 10)
    got, error = _call(fn, backbone, 10)
    if error:
        return _report([error], strict, "")
    try:
        got = float(got)
    except (TypeError, ValueError):
        return _report([f"return a number (a fraction), not {got!r}"], strict, "")
    problems = [] if abs(got - expected) < 1e-9 else [
        f"for a 226-parameter net with a 10-class head you returned {got:.4f}, expected "
        f"{expected:.4f}: count the new head's weights and biases, divided by ALL parameters "
        "of the model after the head is replaced"]
    return _report(problems, strict, "Right: the new head is a tiny part of the network.")
