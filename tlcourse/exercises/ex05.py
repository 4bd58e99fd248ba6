"""Self-checks for notebook 05's exercises (the capstone on your own images)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from tlcourse.exercises.feedback import call as _call
from tlcourse.exercises.feedback import report as _report

__all__ = ["check_balanced_accuracy", "check_folder", "check_wilson_interval"]


def _wilson(correct: int, n: int, z: float) -> tuple[float, float]:
    p = correct / n
    centre, spread = p + z * z / (2 * n), z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (centre - spread) / (1 + z * z / n), (centre + spread) / (1 + z * z / n)


def check_wilson_interval(fn, strict: bool = False) -> bool:
    """Check ``fn(correct, n, z=1.96) -> (low, high)``, the Wilson score interval."""
    problems = []
    # (30 of 36 right, 95%): about (0.68, 0.93), a wide interval for a small test set.
    for correct, n, z in [(30, 36, 1.96), (0, 10, 1.96), (50, 50, 1.96), (450, 500, 2.576)]:
        got, error = _call(fn, correct, n, z)
        if error:
            return _report([error], strict, "")
        try:
            low, high = (float(v) for v in got)
        except (TypeError, ValueError):
            problems.append(f"return two numbers (low, high); for {correct}/{n} you "
                            f"returned {got!r}")
            break
        expected = _wilson(correct, n, z)
        if not np.allclose((low, high), expected, atol=1e-6):
            problems.append(f"for {correct} right out of {n} (z={z}) you returned ({low:.4f}, "
                            f"{high:.4f}), expected ({expected[0]:.4f}, {expected[1]:.4f}). "
                            "Hint: both the centre and the spread are divided by 1 + z**2 / n")
            break
    return _report(problems, strict, "Right: with 36 test images, 30 right means anything "
                                     "from about 68% to 92%. Small test sets give wide intervals.")


def check_balanced_accuracy(fn, strict: bool = False) -> bool:
    """Check ``fn(confusion)``: the mean recall over the classes that have images."""
    confusion = np.array([[8, 1, 0, 1], [1, 1, 0, 0], [0, 0, 0, 0], [0, 2, 1, 7]])
    # rows: 10, 2, 0 and 10 images; recalls 0.8, 0.5 and 0.7 (the empty class is left out)
    expected = (0.8 + 0.5 + 0.7) / 3
    problems = []
    got, error = _call(fn, confusion)
    if error:
        return _report([error], strict, "")
    if got is None or not np.isclose(float(got), expected):
        plain = np.trace(confusion) / confusion.sum()
        hint = (" That is the plain accuracy: average the per-class recalls instead."
                if got is not None and np.isclose(float(got), plain) else
                " Hints: recall of a class = its diagonal count / its row sum; skip rows "
                "that sum to 0; average the recalls.")
        problems.append(f"for a 4-class matrix you returned {got}, expected {expected:.4f}.{hint}")
    return _report(problems, strict, "Right: every class counts the same, however many "
                                     "images it has.")


def check_folder(path, min_images: int = 5, strict: bool = False) -> bool:
    """Check that ``path`` is an ImageFolder-style folder the capstone can use, and say why not."""
    from tlcourse.data.folder import IMAGE_SUFFIXES

    if path is None:
        return _report(["set MY_FOLDER to the path of your folder, e.g. \"~/Pictures/pets\""],
                       strict, "")
    root = Path(path).expanduser()
    if not root.is_dir():
        return _report([f"{root} is not a folder"], strict, "")
    problems = []
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    loose = [p.name for p in root.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    if loose:
        problems.append(f"{len(loose)} image(s) lie directly in {root} (e.g. {loose[0]}): move "
                        "them into a sub-folder named after their class")
    counts = {}
    for d in class_dirs:
        files = [p for p in d.rglob("*") if p.is_file()]
        counts[d.name] = sum(p.suffix.lower() in IMAGE_SUFFIXES for p in files)
        others = len(files) - counts[d.name]
        print(f"  {d.name:20s} {counts[d.name]:5d} images" + (f" ({others} other files, ignored)"
                                                                if others else ""))
    usable = [name for name, n in counts.items() if n >= min_images]
    if len(usable) < 2:
        problems.append(f"{len(usable)} class folder(s) have at least {min_images} images; a "
                        "classifier needs two classes or more: one sub-folder per class")
    small = [f"{name} ({n})" for name, n in counts.items() if n < min_images]
    if small:
        problems.append(f"these classes have fewer than {min_images} images and would be left "
                        f"out: {', '.join(small)}")
    return _report(problems, strict, f"Ready: {len(usable)} classes. Set DATA_DIR = "
                                     f"{str(root)!r} in the parameters cell and run all cells.")
