"""Downloads: checksums, atomic writes, the cache, and failing fast without a network."""

import hashlib
import time

import pytest

from tlcourse.data import AssetMissingError, ChecksumError, download


@pytest.fixture
def source(tmp_path):
    path = tmp_path / "remote" / "asset.bin"
    path.parent.mkdir()
    path.write_bytes(b"real bytes" * 1000)
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


def test_download_verifies_and_places_the_file(tmp_path, source):
    path, digest = source
    dest = download(path.as_uri(), tmp_path / "cache" / "asset.bin", digest, progress=False)
    assert dest.read_bytes() == path.read_bytes()
    assert list(dest.parent.iterdir()) == [dest]  # no temporary file left behind


def test_a_checksum_prefix_is_enough(tmp_path, source):
    path, digest = source
    dest = download(path.as_uri(), tmp_path / "a.bin", digest[:8], progress=False)
    assert dest.exists()


def test_wrong_checksum_keeps_nothing(tmp_path, source):
    path, _ = source
    dest = tmp_path / "cache" / "asset.bin"
    with pytest.raises(ChecksumError, match="expected"):
        download(path.as_uri(), dest, "0" * 64, progress=False)
    assert not dest.exists() and list(dest.parent.iterdir()) == []


def test_good_cached_file_is_used_without_network(tmp_path, source, monkeypatch):
    path, digest = source
    dest = tmp_path / "asset.bin"
    dest.write_bytes(path.read_bytes())
    monkeypatch.setenv("TLCOURSE_OFFLINE", "1")
    assert download("https://example.invalid/asset.bin", dest, digest) == dest


def test_corrupt_cached_file_is_replaced(tmp_path, source):
    path, digest = source
    dest = tmp_path / "asset.bin"
    dest.write_bytes(b"truncated")
    download(path.as_uri(), dest, digest, progress=False)
    assert hashlib.sha256(dest.read_bytes()).hexdigest() == digest


def test_no_network_fails_within_seconds_naming_fetch(tmp_path, monkeypatch):
    monkeypatch.setenv("TLCOURSE_OFFLINE", "1")
    start = time.perf_counter()
    with pytest.raises(AssetMissingError, match="tlcourse fetch --profile full"):
        download("https://download.pytorch.org/models/x.pth", tmp_path / "x.pth", "ab")
    assert time.perf_counter() - start < 5


def test_a_name_lookup_that_hangs_is_given_up_after_the_timeout(monkeypatch):
    # Without a network, resolving a host name can block far longer than a connect timeout.
    import importlib
    import socket

    download_module = importlib.import_module("tlcourse.data.download")  # not the function

    def hang(*args, **kwargs):
        time.sleep(10)
        raise OSError("the lookup timed out")  # as a real resolver finally would

    monkeypatch.delenv("TLCOURSE_OFFLINE", raising=False)
    monkeypatch.setattr(socket, "create_connection", hang)
    start = time.perf_counter()
    assert download_module.network_available("https://example.invalid/x", timeout=0.5) is False
    assert time.perf_counter() - start < 3
