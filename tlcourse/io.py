"""Files the course writes and later trusts: atomic, checksummed, safe to load.

``save`` writes to a temporary file in the same folder, flushes it to disk and renames it
into place, then does the same for a ``<name>.sha256`` file beside it. ``load`` refuses a
file whose bytes do not match that checksum (an interrupted or truncated write, a file
changed by hand) and loads with ``weights_only=True``, so a cache never runs code.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from tlcourse.data.download import cache_dir, sha256_file

__all__ = ["CorruptFileError", "atomic_write_bytes", "cache_key", "cached", "load", "save"]


class CorruptFileError(OSError):
    """A saved file is missing its checksum or does not match it."""


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` so that readers see the old file or the new, never half."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


#: A temporary file untouched for this long was left by a writer that was killed.
STALE_TMP_SECONDS = 3600


def _remove_stale_tmp(path: Path) -> None:
    """Delete ``.<name>.*.tmp`` files beside ``path`` left by a killed writer (an hour old).

    A writer still at work keeps touching its file, so a recent one is left alone.
    """
    cutoff = time.time() - STALE_TMP_SECONDS
    for tmp in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):  # "[" in a name
        try:
            if tmp.stat().st_mtime < cutoff:
                tmp.unlink()
        except OSError:  # removed by someone else meanwhile
            pass


def _checksum_path(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def _accepted_digests(sums: Path) -> list[str]:
    """The digests a checksum file accepts (one per line); ``[]`` if it is unreadable."""
    try:
        lines = sums.read_bytes().decode("ascii").splitlines()
    except (OSError, UnicodeDecodeError):
        return []
    return [line.split()[0] for line in lines if line.split()]


def save(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save`` ``obj`` atomically, with a SHA-256 file beside it.

    The checksum file first lists the new digest and the old one, then the data file is
    renamed into place, then the old digest is dropped: a crash at any point leaves the old
    file or the new one loadable, never neither.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_tmp(path)
    sums = _checksum_path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        digest = sha256_file(tmp)
        # keep the old file's digest only if the old file is intact
        old = sha256_file(path) if path.exists() else None
        previous = [old] if old in _accepted_digests(sums) else []
        lines = [f"{d}  {path.name}\n" for d in [digest, *previous]]
        atomic_write_bytes(sums, "".join(lines).encode())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    atomic_write_bytes(sums, f"{digest}  {path.name}\n".encode())
    return path


def load(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> Any:
    """Load what :func:`save` wrote, after checking its checksum.

    Raises:
        FileNotFoundError: no such file.
        CorruptFileError: the checksum file is missing or does not match.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(path)
    sums = _checksum_path(path)
    if not sums.exists():
        raise CorruptFileError(f"{path} has no checksum file {sums.name}: it was not written "
                               "completely by tlcourse; delete it to rebuild it.")
    if sha256_file(path) not in _accepted_digests(sums):
        raise CorruptFileError(f"{path} does not match its checksum: the file is truncated or "
                               "corrupt; delete it to rebuild it.")
    return torch.load(path, map_location=map_location, weights_only=True)


def cache_key(**parts: Any) -> str:
    """A short, stable hex key for the settings that determine a cached result.

    Example:
        >>> cache_key(model="lite0", size=128) == cache_key(size=128, model="lite0")
        True
    """
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def cached(kind: str, key: str, build: Callable[[], Any], folder: str | os.PathLike | None = None,
           ) -> tuple[Any, bool]:
    """Load ``<folder or cache>/<kind>/<key>.pt`` if it is intact, else ``build()`` and save it.

    A corrupt or truncated file is never trusted: it is rebuilt, with a warning.

    Returns:
        ``(value, hit)`` where ``hit`` tells whether the value came from the cache.
    """
    path = Path(folder or cache_dir()) / kind / f"{key}.pt"
    if path.exists():
        try:
            return load(path), True
        except CorruptFileError as err:
            warnings.warn(f"rebuilding a damaged cache file: {err}", stacklevel=2)
    value = build()
    save(value, path)
    return value, False
