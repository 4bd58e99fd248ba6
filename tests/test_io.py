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


# --- interrupted saves: a crash at any step of io.save ---------------------------------

class _Crash(BaseException):
    """Stands for a kill: a BaseException, so no ``except Exception`` in the code stops it."""


def _crash_at(monkeypatch, step):
    """Make the ``step``-th file-system step of a save (fsync or rename) crash."""
    calls = {"n": 0}

    def wrap(real):
        def crashing(*args, **kwargs):
            calls["n"] += 1
            if calls["n"] == step:
                raise _Crash
            return real(*args, **kwargs)
        return crashing

    monkeypatch.setattr(io.os, "fsync", wrap(io.os.fsync))
    monkeypatch.setattr(io.os, "replace", wrap(io.os.replace))
    return calls


def _versions_after_a_crash_at_every_step(tmp_path, monkeypatch):
    """Save version 1 over version 0, crashing at step 1, 2, ... until a save completes.

    Returns what ``io.load`` then gives at each crash point: 0, 1, or None (refused).
    """
    found = []
    for step in range(1, 20):
        path = tmp_path / str(step) / "ck.pt"
        io.save({"v": torch.zeros(1000)}, path)
        with monkeypatch.context() as m:
            _crash_at(m, step)
            try:
                io.save({"v": torch.ones(2000)}, path)
            except _Crash:
                pass
            else:
                break
        try:
            value = io.load(path)["v"]
        except io.CorruptFileError:
            found.append(None)
            continue
        # whole, not a mixture: the old value or the new one
        assert torch.equal(value, torch.zeros(1000)) or torch.equal(value, torch.ones(2000))
        found.append(int(value[0]))
    assert len(found) >= 3, "expected several crash points inside a save"
    return found


def test_a_crash_at_any_step_of_a_save_never_leaves_a_trusted_bad_file(tmp_path, monkeypatch):
    found = _versions_after_a_crash_at_every_step(tmp_path, monkeypatch)
    assert 0 in found  # early crashes keep the old file loadable


def test_a_crash_at_any_step_of_a_save_keeps_the_old_or_the_new_file(tmp_path, monkeypatch):
    found = _versions_after_a_crash_at_every_step(tmp_path, monkeypatch)
    assert None not in found, found


@pytest.mark.parametrize("sums", [b"", b"\xff\xfe garbage"], ids=["empty", "binary"])
def test_a_damaged_checksum_file_is_rebuilt_too(tmp_path, sums):
    io.cached("things", "k", lambda: torch.ones(3), tmp_path)
    (tmp_path / "things" / "k.pt.sha256").write_bytes(sums)
    with pytest.warns(UserWarning, match="rebuilding a damaged cache file"):
        value, hit = io.cached("things", "k", lambda: torch.zeros(3), tmp_path)
    assert not hit and torch.equal(value, torch.zeros(3))


def test_a_cache_file_without_its_checksum_is_rebuilt(tmp_path):
    # e.g. a run killed after the data file was renamed into place, before the checksum
    io.cached("things", "k", lambda: torch.ones(3), tmp_path)
    (tmp_path / "things" / "k.pt.sha256").unlink()
    with pytest.warns(UserWarning, match="no checksum file"):
        value, hit = io.cached("things", "k", lambda: torch.zeros(3), tmp_path)
    assert not hit and torch.equal(value, torch.zeros(3))
    assert torch.equal(io.load(tmp_path / "things" / "k.pt"), torch.zeros(3))


# --- safety: no code runs while loading ------------------------------------------------

def _python_sources():
    """(name, source) of every Python file and notebook code cell of the course."""
    import json
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    for folder in ("tlcourse", "benchmarks", "scripts"):
        for path in sorted((root / folder).rglob("*.py")):
            yield str(path.relative_to(root)), path.read_text()
    for path in sorted((root / "notebooks").glob("*.ipynb")):
        for k, cell in enumerate(json.loads(path.read_text())["cells"]):
            if cell["cell_type"] == "code":
                lines = "".join(cell["source"]).splitlines()
                # IPython magics and shell lines are not Python
                yield (f"{path.name} cell {k}",
                       "\n".join("" if ln.lstrip().startswith(("%", "!")) else ln
                                 for ln in lines))


def test_every_torch_load_is_weights_only_and_no_remote_code_is_trusted():
    import ast

    checked, unsafe = 0, []
    for name, source in _python_sources():
        for node in ast.walk(ast.parse(source)):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            keywords = {kw.arg: kw.value for kw in node.keywords}
            if (isinstance(func, ast.Attribute) and func.attr == "load"
                    and isinstance(func.value, ast.Name) and func.value.id == "torch"):
                checked += 1
                flag = keywords.get("weights_only")
                if not (isinstance(flag, ast.Constant) and flag.value is True):
                    unsafe.append(f"{name}:{node.lineno} torch.load without weights_only=True")
            flag = keywords.get("trust_remote_code")
            if flag is not None and not (isinstance(flag, ast.Constant) and flag.value is False):
                unsafe.append(f"{name}:{node.lineno} trust_remote_code")
    assert checked >= 3, "expected the course's own torch.load calls"
    assert not unsafe, unsafe


def test_temporary_files_left_by_a_killed_writer_are_cleaned_up(tmp_path):
    import os
    import time

    path = tmp_path / "model.pt"
    stale = tmp_path / ".model.pt.abc123.tmp"
    recent = tmp_path / ".model.pt.def456.tmp"  # another writer, still at work
    stale.write_bytes(b"half a file")
    recent.write_bytes(b"half a file")
    old = time.time() - io.STALE_TMP_SECONDS - 60
    os.utime(stale, (old, old))
    io.save({"w": torch.ones(2)}, path)
    assert not stale.exists() and recent.exists()
    assert torch.equal(io.load(path)["w"], torch.ones(2))


def test_stale_temporary_files_are_found_beside_a_name_with_glob_characters(tmp_path):
    import os
    import time

    path = tmp_path / "run[1].pt"
    stale = tmp_path / ".run[1].pt.abc123.tmp"
    stale.write_bytes(b"half a file")
    old = time.time() - io.STALE_TMP_SECONDS - 60
    os.utime(stale, (old, old))
    io.save({"w": torch.ones(1)}, path)
    assert not stale.exists() and torch.equal(io.load(path)["w"], torch.ones(1))
