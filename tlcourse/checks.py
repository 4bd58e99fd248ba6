"""Argument checks shared by the public API, so every bad setting gets the same clear error."""

from __future__ import annotations

__all__ = ["positive_int"]


def positive_int(name: str, value) -> int:
    """Return ``value`` if it is a positive int (not a bool), else raise a ``ValueError``.

    Example:
        >>> positive_int("num_epochs", 3)
        3
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value
