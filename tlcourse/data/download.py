"""Downloads into the cache: checksummed, atomic, and failing fast without a network.

A file is fetched to a temporary name next to its destination, its SHA-256 checked, and
only then renamed into place, so an interrupted download never leaves a file that a later
run would trust.

In a rehearsal of the full profile (:func:`tlcourse.claims.rehearsal`) nothing is downloaded:
the stand-in files written into the cache are used as they are, without their checksums, and a
missing one is an error.
"""

from __future__ import annotations

import hashlib
import os
import socket
import tempfile
import threading
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from tlcourse.claims import rehearsal
from tlcourse.progress import progress_bar

__all__ = ["AssetMissingError", "ChecksumError", "cache_dir", "download", "md5_file",
           "network_available", "rehearsal_file", "sha256_file"]

FETCH_HINT = "Run `tlcourse fetch --profile full` on a machine with a network"


class AssetMissingError(FileNotFoundError):
    """A full-profile asset is not in the cache and cannot be downloaded now."""


class ChecksumError(RuntimeError):
    """A downloaded file does not have the expected SHA-256."""


#: written into a cache that holds the rehearsal's stand-ins (tests/standins.py)
STAND_INS_MARKER = ".tlcourse-rehearsal-stand-ins"


def cache_dir() -> Path:
    """Where downloads live: ``$TLCOURSE_CACHE`` or ``~/.cache/tlcourse``.

    A cache marked as holding the rehearsal's stand-ins (generated images, random weights
    under the real file names) is refused outside a rehearsal, so that no real run ever
    trains on them."""
    root = Path(os.environ.get("TLCOURSE_CACHE") or Path.home() / ".cache" / "tlcourse")
    root = root.expanduser()
    if (root / STAND_INS_MARKER).exists() and not rehearsal():
        raise RuntimeError(
            f"{root} holds the full-profile rehearsal's stand-in files (generated images and "
            "random weights under the real names), which must never stand for real data or "
            "weights. Point TLCOURSE_CACHE at another folder (or delete this one); only a "
            "rehearsal (TLCOURSE_REHEARSAL=1) may read it.")
    return root


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def md5_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex MD5 of a file (for archives whose publishers give only an MD5)."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _matches(path: Path, sha256: str | None, md5: str | None = None) -> bool:
    return ((sha256 is None or sha256_file(path).startswith(sha256.lower()))
            and (md5 is None or md5_file(path) == md5.lower()))


def rehearsal_file(path: str | os.PathLike, name: str) -> Path:
    """In a rehearsal: ``path`` if a stand-in is there (its checksum is not checked), else an
    :class:`AssetMissingError`; a rehearsal never downloads."""
    path = Path(path)
    if not path.exists():
        raise AssetMissingError(f"rehearsal: the stand-in for {name} is missing ({path}); a "
                                "rehearsal never downloads (TLCOURSE_REHEARSAL=1)")
    return path


def network_available(url: str, timeout: float = 3.0) -> bool:
    """Whether the host of ``url`` accepts a TCP connection within ``timeout`` seconds
    (name lookup included)."""
    parts = urllib.parse.urlparse(url)
    if parts.scheme == "file":
        return True
    if os.environ.get("TLCOURSE_OFFLINE") == "1" or rehearsal():
        return False
    port = parts.port or (443 if parts.scheme == "https" else 80)
    # The connection's timeout does not cover the name lookup, which can hang for much
    # longer without a network: run both in a thread and stop waiting after ``timeout``.
    result: list[bool] = []

    def probe() -> None:
        try:
            with socket.create_connection((parts.hostname, port), timeout=timeout):
                result.append(True)
        except OSError:
            result.append(False)

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(result and result[0])


def download(url: str, dest: str | os.PathLike, sha256: str | None = None, *,
             md5: str | None = None, name: str | None = None, timeout: float = 30.0,
             progress: bool = True) -> Path:
    """Fetch ``url`` to ``dest`` unless a file with the right checksum is already there.

    Args:
        url: ``https://`` or ``file://`` address.
        dest: final path (its folder is created).
        sha256: expected hex digest, or a prefix of it (torchvision names weight files
            with the first hex digits); ``None`` skips the check.
        md5: expected hex MD5, for archives published with only that (e.g. GLUE's SST-2,
            whose MD5 torchtext records); checked as well as ``sha256`` when both are given.
        name: what to call the asset in messages.

    Raises:
        AssetMissingError: no network and no good cached copy; names ``tlcourse fetch``.
        ChecksumError: the downloaded bytes do not match ``sha256`` (nothing is kept).
    """
    dest = Path(dest)
    name = name or dest.name
    if rehearsal():
        return rehearsal_file(dest, name)
    if dest.exists():
        if _matches(dest, sha256, md5):
            return dest
        print(f"cached {name} at {dest} has the wrong checksum; downloading it again")
    if not network_available(url):
        raise AssetMissingError(
            f"{name} is not in the cache ({dest}) and {urllib.parse.urlparse(url).hostname} "
            f"cannot be reached. {FETCH_HINT}, or copy its cache folder {cache_dir()} here; "
            "or use PROFILE = 'offline', which needs no download.")
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
            total = int(resp.headers.get("Content-Length") or 0) or None
            with progress_bar(total=total, unit="B", unit_scale=True, desc=name,
                              disable=not progress) as bar:
                while block := resp.read(1 << 20):
                    out.write(block)
                    bar.update(len(block))
        if not _matches(Path(tmp), sha256, md5):
            got = (f"SHA-256 {sha256_file(tmp)}, expected {sha256}"
                   if not _matches(Path(tmp), sha256) else f"MD5 {md5_file(tmp)}, expected {md5}")
            raise ChecksumError(
                f"{name} downloaded from {url} has {got}. The file was discarded; try again, "
                "and report it if it repeats.")
        os.replace(tmp, dest)
    except urllib.error.URLError as err:
        raise AssetMissingError(f"could not download {name} from {url}: {err.reason}. "
                                f"{FETCH_HINT}.") from err
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return dest
