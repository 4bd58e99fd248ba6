"""Shared by the build scripts: one file's line in a folder's SHA256SUMS, others kept; strings
as arrays without pickled objects."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np


def write_sum(path: Path) -> str:
    """Put ``path``'s sha256 into ``SHA256SUMS`` beside it (sorted by name); return it."""
    sums_path = path.parent / "SHA256SUMS"
    sums = {}
    if sums_path.exists():
        sums = {line.split()[1]: line.split()[0]
                for line in sums_path.read_text().splitlines() if line.strip()}
    sums[path.name] = hashlib.sha256(path.read_bytes()).hexdigest()
    sums_path.write_text("".join(f"{h}  {n}\n" for n, h in sorted(sums.items())))
    return sums[path.name]


def utf8_arrays(strings) -> tuple[np.ndarray, np.ndarray]:
    """``(blob, offsets)``: the strings as one UTF-8 uint8 array and ``n + 1`` int64 offsets
    (read back by ``tlcourse.data.arrays.strings_from_utf8``)."""
    encoded = [s.encode("utf-8") for s in strings]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(b) for b in encoded])
    return np.frombuffer(b"".join(encoded), dtype=np.uint8), offsets
