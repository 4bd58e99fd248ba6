"""Self-checks for notebook 02's exercises (fine-tuning)."""

from __future__ import annotations

import copy

import torch
from torch import nn

from tlcourse.exercises.feedback import call as _call
from tlcourse.exercises.feedback import report as _report

__all__ = ["FREEZE_SCENARIOS", "check_freeze_choices", "check_l2_sp", "check_lr_schedule",
           "check_param_groups"]


def _net(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 5))


def _raised(err: Exception, strict: bool) -> bool:
    return _report([f"your function raised {type(err).__name__}: {err}"], strict, "")


def check_param_groups(fn, strict: bool = False) -> bool:
    """Check ``fn(model, head_lr, backbone_lr_mult)`` -> a list of optimizer groups."""
    model = _net()
    head_ids = {id(p) for p in model[-1].parameters()}
    groups, error = _call(fn, model, 0.02, 0.25)
    if error:
        return _report([error], strict, "")
    try:
        optimizer = torch.optim.SGD(groups, lr=1.0)
    except Exception as err:  # feedback for the learner, not a crash
        return _raised(err, strict)
    lr_of = {id(p): g["lr"] for g in optimizer.param_groups for p in g["params"]}
    problems = []
    ids = [id(p) for g in optimizer.param_groups for p in g["params"]]
    if sorted(ids) != sorted(id(p) for p in model.parameters()):
        problems.append("every parameter must be in exactly one group (none missing, none twice)")
    wrong_head = [i for i in head_ids if lr_of.get(i) != 0.02]
    wrong_backbone = [i for i in lr_of if i not in head_ids and abs(lr_of[i] - 0.005) > 1e-12]
    if wrong_head:
        problems.append("the head's weight and bias should train at head_lr (0.02 here)")
    if wrong_backbone:
        problems.append("every backbone parameter should train at head_lr * backbone_lr_mult "
                        "(0.02 * 0.25 = 0.005 here); a fresh head needs large steps, "
                        "pretrained layers small ones")
    return _report(problems, strict, "Right: one optimizer, two learning rates.")


def check_lr_schedule(fn, strict: bool = False) -> bool:
    """Check ``fn(step, total_steps, warmup_steps, base_lr)`` for warm-up + cosine."""
    from tlcourse.schedules import cosine_factor

    cases = [(0, 100, 10), (5, 100, 10), (10, 100, 10), (55, 100, 10), (99, 100, 10),
             (100, 100, 10), (3, 8, 0)]
    problems = []
    for step, total, warm in cases:
        expected = 0.5 * cosine_factor(step, total, warm)
        got, error = _call(fn, step, total, warm, 0.5)
        if error:
            return _report([error], strict, "")
        try:
            got = float(got)
        except Exception as err:  # feedback for the learner, not a crash
            return _raised(err, strict)
        if abs(got - expected) > 1e-9:
            phase = "warm-up (linear from 0)" if step < warm else "cosine decay"
            problems.append(f"at step {step} of {total} (warm-up {warm}, base 0.5) you gave "
                            f"{got:.5f}, expected {expected:.5f} ({phase})")
    return _report(problems[:3], strict, "Right: warm-up, then half a cosine down to zero.")


def check_l2_sp(fn, strict: bool = False) -> bool:
    """Check ``fn(model, pretrained_state, alpha, beta)`` against the L2-SP formula."""
    from tlcourse.regularize import l2_sp

    model = _net(1)
    start = {k: v.detach().clone() for k, v in model.named_parameters()}
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    expected = l2_sp(model, start, alpha=0.3, beta=0.02).item()
    got, error = _call(fn, copy.deepcopy(model), start, 0.3, 0.02)
    if error:
        return _report([error], strict, "")
    try:
        got = float(got.detach() if torch.is_tensor(got) else got)
    except Exception as err:  # feedback for the learner, not a crash
        return _raised(err, strict)
    problems = [] if abs(got - expected) < 1e-6 * max(1.0, abs(expected)) else [
        f"you returned {got:.6f}, expected {expected:.6f}: alpha/2 times the squared distance "
        "of the backbone's weights from their pretrained values, plus beta/2 times the "
        "squared norm of the new head's weights (the last nn.Linear)"]
    return _report(problems, strict, "Right: that is L2-SP (Li et al. 2018, eq. 4).")


#: Scenario -> (what to train, why). After Yosinski et al. 2014 and common practice.
FREEZE_SCENARIOS = {
    "5 labelled photos per class of everyday objects (close to ImageNet)":
        ("head", "too few labels to move millions of weights; the features already fit"),
    "50,000 labelled spectrograms (nothing like ImageNet photos), a GPU for a day":
        ("everything", "plenty of labels and a distant domain: every layer should adapt"),
    "300 labelled clip-art drawings per class, a laptop CPU":
        ("last blocks", "deep blocks are the most task-specific; shallow edges and "
                        "textures carry over, and training fewer blocks is cheaper"),
    "the network must keep giving its original ImageNet answers too (shared backbone)":
        ("head", "a frozen backbone with BatchNorm in eval mode does not forget at all"),
}


def check_freeze_choices(answers: dict[str, str], strict: bool = False) -> bool:
    """Check scenario -> "head" | "last blocks" | "everything"."""
    problems = []
    for scenario, (choice, why) in FREEZE_SCENARIOS.items():
        given = answers.get(scenario)
        if given is None:
            problems.append(f"no answer yet for: {scenario!r}")
        elif str(given).strip().lower() != choice:
            problems.append(f"{scenario!r}: not {given!r}. Hint: {why}.")
    return _report(problems, strict, "Right: the data (how much, how different) decides.")
