"""Self-checks for notebook 06's exercises (transfer learning for text)."""

from __future__ import annotations

import numpy as np
import torch

from tlcourse.exercises.feedback import call as _call
from tlcourse.exercises.feedback import report as _report
from tlcourse.text.encoder import mean_pool

__all__ = ["check_mean_pool", "check_tfidf_baseline", "check_worst_pair"]


def check_mean_pool(fn, strict: bool = False) -> bool:
    """Check ``fn(hidden, attention_mask)``: ``(B, T, D), (B, T) -> (B, D)``, the mean of each
    sentence's token vectors where the mask is 1."""
    gen = torch.Generator().manual_seed(6)
    hidden = torch.randn(3, 5, 4, generator=gen)
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0], [1, 0, 0, 0, 0]])
    got, error = _call(fn, hidden, mask)
    if error:
        return _report([error], strict, "")
    expected = mean_pool(hidden, mask)
    problems = []
    if not isinstance(got, torch.Tensor) or tuple(got.shape) != (3, 4):
        shape = tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__
        problems.append(f"expected a (3, 4) tensor (one vector per sentence), got {shape}")
    elif not torch.allclose(got, expected, atol=1e-5):
        plain = hidden.mean(1)
        hint = (" You averaged over all positions, padding included: multiply by the mask "
                "and divide by the number of real tokens." if torch.allclose(got, plain, atol=1e-5)
                else " Sum the masked token vectors, then divide by each sentence's count of "
                "real tokens (mask.sum(1)).")
        problems.append(f"the pooled vectors differ from the expected ones (largest "
                        f"difference {(got - expected).abs().max():.3g}).{hint}")
    return _report(problems, strict, "Right: padding tokens no longer dilute the average.")


def check_tfidf_baseline(fn, train_texts, train_labels, test_texts, test_labels,
                         expected_acc: float, strict: bool = False) -> bool:
    """Check ``fn(train_texts, train_labels, test_texts) -> predicted labels``: TF-IDF features
    fitted on the training texts only, and logistic regression; its accuracy must be within 5
    points of the lesson's own baseline (``expected_acc``)."""
    got, error = _call(fn, list(train_texts), np.asarray(train_labels), list(test_texts))
    if error:
        return _report([error], strict, "")
    got = np.asarray(got).ravel()
    if got.shape != (len(test_texts),):
        return _report([f"return one predicted label per test text ({len(test_texts)}), "
                        f"got {got.shape[0]}"], strict, "")
    acc = float((got == np.asarray(test_labels)).mean())
    problems = []
    if abs(acc - expected_acc) > 0.05:
        problems.append(f"your baseline scores {acc:.1%}, the lesson's {expected_acc:.1%}: "
                        "fit TfidfVectorizer on the training texts, transform both sets with "
                        "it, then LogisticRegression on the training rows")
    return _report(problems, strict, f"Right: {acc:.1%}, as the lesson's TF-IDF baseline "
                   f"({expected_acc:.1%}).")


def check_worst_pair(answer, matrix, domains, strict: bool = False) -> bool:
    """Check ``answer = (source, target)``: the pair of different domains whose accuracy in
    this run's transfer ``matrix`` (rows: trained on, columns: tested on) is lowest."""
    matrix = np.asarray(matrix, dtype=float)
    off = matrix + np.where(np.eye(len(domains), dtype=bool), np.inf, 0.0)
    worst = np.unravel_index(np.argmin(off), off.shape)
    if answer is None or answer is Ellipsis or not isinstance(answer, tuple) or len(answer) != 2:
        return _report(["answer with a tuple (trained on, tested on), e.g. ('tweets', 'movies')"],
                       strict, "")
    if answer[0] not in domains or answer[1] not in domains:
        return _report([f"use domain names from {', '.join(domains)}"], strict, "")
    got = matrix[domains.index(answer[0]), domains.index(answer[1])]
    problems = []
    if answer[0] == answer[1]:
        problems.append("that is the same domain twice (the diagonal): pick two different ones")
    elif got > off[worst] + 1e-9:       # a pair tied with the worst is right too
        problems.append(f"{answer[0]} -> {answer[1]} reached {got:.1%}; one pair did worse. "
                        "Look at the matrix: which column is lowest off the diagonal?")
    return _report(problems, strict, f"Right: {answer[0]} -> {answer[1]}, {got:.1%}, the "
                   "largest shift in this run.")
