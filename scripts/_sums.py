"""Shared by the build scripts: one file's line in a folder's SHA256SUMS, others kept."""

from __future__ import annotations

import hashlib
from pathlib import Path


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
