"""Self-checks for notebook 03's exercises (domain adaptation)."""

from __future__ import annotations

import torch

from tlcourse.adapt.coral import coral_loss
from tlcourse.exercises.feedback import call as _call
from tlcourse.exercises.feedback import report as _report

__all__ = ["SELECTION_SCENARIOS", "check_coral", "check_gradient_reversal",
           "check_selection_honesty"]

#: Scenario -> ("honest" | "leak", why).
SELECTION_SCENARIOS = {
    "Pick the DANN trade-off whose model scores best on the labelled target test set.":
        ("leak", "the target labels chose a hyperparameter, so the reported accuracy is the "
                 "best of several tries on the test set: optimistic, not a measurement"),
    "Stop training at the epoch with the best source validation accuracy.":
        ("honest", "only source labels are used; it says nothing about the target, but it "
                   "peeks at nothing"),
    "Pick the method with the lowest DEV risk (source validation losses re-weighted by a "
    "domain classifier).":
        ("honest", "DEV uses labelled source data and unlabelled target data only"),
    "Label 50 target images to choose the learning rate, then report accuracy on those 50.":
        ("leak", "with a few target labels you are in semi-supervised adaptation; choosing "
                 "on them and reporting on the same images is test-set tuning"),
    "Fix the papers' default hyperparameters before looking at any result.":
        ("honest", "nothing about this target influenced the choice"),
}


def check_coral(fn, strict: bool = False) -> bool:
    """Check ``fn(f_s, f_t)``: the Deep CORAL loss ``||C_s - C_t||_F^2 / (4 d^2)``."""
    gen = torch.Generator().manual_seed(3)
    f_s = torch.randn(40, 6, generator=gen)
    f_t = 2 * torch.randn(25, 6, generator=gen) + 1
    expected = coral_loss(f_s, f_t).item()
    got, error = _call(fn, f_s, f_t)
    same, error_same = _call(fn, f_s, f_s)
    if error or error_same:
        return _report([error or error_same], strict, "")
    try:
        got, same = float(got), float(same)
    except (TypeError, ValueError):
        return _report([f"return the loss as a number or a one-element tensor, not {got!r}"],
                       strict, "")
    problems = []
    if abs(same) > 1e-6:
        problems.append(f"the loss of a batch against itself should be 0, got {same:.4g}")
    if abs(got - expected) > 1e-5 * max(1.0, abs(expected)):
        hint = ""
        if abs(got * 4 * 36 - expected) < 1e-4 or abs(got - expected * 4 * 36) < 1e-4:
            hint = " Check the 1/(4 d^2) scale (d = 6 here)."
        elif abs(got - expected) / expected < 0.1:
            hint = " Close: divide by n - 1, not n, in the covariance."
        problems.append(f"for a 40-row and a 25-row batch of 6 features you returned "
                        f"{got:.5f}, expected {expected:.5f}.{hint} Centre each batch by its "
                        "own mean; the two batches may differ in size.")
    return _report(problems, strict, "Right: two covariance matrices and one Frobenius norm.")


def check_gradient_reversal(fn, strict: bool = False) -> bool:
    """Check ``fn(x, coeff)``: returns ``x`` unchanged; its gradient is ``-coeff`` times the
    incoming one."""
    x = torch.tensor([1.0, -2.0, 3.0], requires_grad=True)
    upstream = torch.tensor([0.5, 1.0, -4.0])
    y, error = _call(fn, x, 0.3)
    if error:
        return _report([error], strict, "")
    try:
        (y * upstream).sum().backward()
    except Exception as err:
        return _report([f"your function raised {type(err).__name__}: {err}"], strict, "")
    problems = []
    if not isinstance(y, torch.Tensor) or not torch.allclose(y.detach(), x.detach()):
        problems.append("the forward pass must return x unchanged (the identity)")
    if x.grad is None:
        problems.append("no gradient reached x: build the output from x, e.g. with a "
                        "torch.autograd.Function whose backward returns -coeff * grad")
    elif not torch.allclose(x.grad, -0.3 * upstream):
        got, want = ([round(v, 3) for v in g.tolist()] for g in (x.grad, -0.3 * upstream))
        problems.append(f"the gradient reaching x is {got}, expected {want} "
                        "(= -coeff times the incoming gradient)")
    return _report(problems, strict, "Right: identity forward, negated and scaled backward.")


def check_selection_honesty(answers: dict[str, str], strict: bool = False) -> bool:
    """Check a mapping scenario -> "honest" | "leak"."""
    problems = []
    for scenario, (verdict, why) in SELECTION_SCENARIOS.items():
        given = answers.get(scenario)
        if given is None:
            problems.append(f"no answer yet for: {scenario!r}")
        elif str(given).strip().lower() != verdict:
            problems.append(f"{scenario!r} is not {given!r}: {why}.")
    return _report(problems, strict, "All right: you can tell honest validation from a leak.")
