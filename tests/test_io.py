"""Atomic, checksummed saves: a damaged file is detected and rebuilt, never trusted."""

import pickle

import pytest
import torch

from tlcourse import io


def test_save_then_load_round_trips(tmp_path):
    path = io.save({"w": torch.arange(5.0)}, tmp_path / "a" / "x.pt")
    assert torch.equal(io.load(path)["w"], torch.arange(5.0))
    assert sorted(p.name for p in path.parent.iterdir()) == ["x.pt", "x.pt.sha256"]


def test_truncated_file_is_refused(tmp_path):
    path = io.save({"w": torch.randn(100)}, tmp_path / "x.pt")
    path.write_bytes(path.read_bytes()[:50])
    with pytest.raises(io.CorruptFileError, match="truncated or corrupt"):
        io.load(path)


def test_file_without_checksum_is_refused(tmp_path):
    path = tmp_path / "x.pt"
    torch.save({"w": 1}, path)
    with pytest.raises(io.CorruptFileError, match="no checksum"):
        io.load(path)


def test_cached_builds_once_then_reuses_and_rebuilds_damage(tmp_path):
    calls = []

    def build():
        calls.append(1)
        return torch.ones(3)

    value, hit = io.cached("things", "k1", build, tmp_path)
    assert not hit and torch.equal(value, torch.ones(3))
    value, hit = io.cached("things", "k1", build, tmp_path)
    assert hit and len(calls) == 1
    (tmp_path / "things" / "k1.pt").write_bytes(b"garbage")
    with pytest.warns(UserWarning, match="rebuilding a damaged cache file"):
        value, hit = io.cached("things", "k1", build, tmp_path)
    assert not hit and len(calls) == 2 and torch.equal(io.load(tmp_path / "things" / "k1.pt"),
                                                       torch.ones(3))


class _Evil:
    def __reduce__(self):
        return (print, ("this ran while loading",))


def test_a_malicious_pickle_is_not_executed(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"x": _Evil()}, path, pickle_module=pickle)
    io.atomic_write_bytes(path.with_name("evil.pt.sha256"),
                          f"{io.sha256_file(path)}  evil.pt\n".encode())
    with pytest.raises(pickle.UnpicklingError):
        io.load(path)
