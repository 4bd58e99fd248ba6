"""``tlcourse fetch``: every asset of every notebook, sizes before downloading, checksums after;
tested without a network (fake assets, stand-in files in the real layouts)."""

import hashlib
import time

import pytest

from tests import standins
from tlcourse import cli
from tlcourse.data import assets as assets_module
from tlcourse.data.assets import Asset, profile_assets, verify
from tlcourse.profiles import get_profile
from tlcourse.ssl import DEFAULTS


def test_the_full_plan_covers_every_asset_the_notebooks_read():
    names = {a.name for a in profile_assets("full")}
    profile = get_profile("full")
    expected = {f"weights {b}" for b in (profile.backbone, *profile.backbones)}
    expected |= {f"weights efficientnet_lite{k}" for k in range(3)}           # notebook 08
    expected |= {f"dataset {d}" for r, d in profile.datasets.items()
                 if r not in ("text", "photos", "pairs", "unlabelled")}
    expected |= {"dataset stl10",                         # labelled and unlabelled, one archive
                 f"dataset {DEFAULTS['full']['labelled']}", "embedded clipart_pairs",
                 "embedded clipart", "embedded clipart_unlabelled", "embedded mnist5k",
                 f"text {profile.dataset('text')}", "embedded vader", "embedded glove",
                 f"encoder {profile.text_encoder}", "photos"}
    assert expected <= names, expected - names
    assert {"dataset flowers102", "dataset mnist", "dataset usps", "dataset omniglot",
            "text sst2", "encoder distilbert-base-uncased"} <= names
    downloads = [a for a in profile_assets("full") if a.downloads]
    assert all(a.size > 1e6 for a in downloads)                 # every download has its size
    assert not any(a.downloads for a in profile_assets("offline"))


def _asset(tmp_path, name, content, expected, log, cached=False):
    path = tmp_path / "cache" / f"{name}.bin"
    if cached:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)

    def fetch():
        log.append(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)

    return Asset(name, "a fake asset", 2_000_000, lambda: [(path, "sha256", expected)], fetch)


def test_fetch_lists_sizes_first_then_downloads_then_checks_every_checksum(
        tmp_path, monkeypatch, capsys):
    log, printed_before_first_download = [], []
    good, bad = b"the real bytes", b"a corrupted copy"
    digest = hashlib.sha256(good).hexdigest()
    fakes = [_asset(tmp_path, "weights good", good, digest[:8], log),
             _asset(tmp_path, "dataset corrupt", bad, digest, log),
             _asset(tmp_path, "text cached", good, digest, log, cached=True),
             Asset("embedded shipped", "ships", 0, lambda: [])]
    original = fakes[0].fetch

    def first_fetch():
        printed_before_first_download.append(capsys.readouterr().out)
        original()

    fakes[0] = Asset(fakes[0].name, "", fakes[0].size, fakes[0].files, first_fetch)
    monkeypatch.setattr(assets_module, "profile_assets", lambda name: fakes)
    assert cli.main(["fetch", "--profile", "full"]) == 1            # one checksum failed
    plan = printed_before_first_download[0]
    assert "weights good" in plan and "to download, 2.0 MB" in plan
    assert "text cached" in plan and "in the cache" in plan
    assert "ships with the course" in plan
    assert "to download: 2 asset(s), about 4.0 MB" in plan
    assert log == ["weights good", "dataset corrupt"]              # the cached one is not fetched
    out = capsys.readouterr().out
    assert "[ ok ] weights good: checksums match" in out
    assert f"[FAIL] dataset corrupt: {tmp_path / 'cache' / 'dataset corrupt.bin'} has SHA256" in out
    assert "expected " + digest in out and "run `tlcourse fetch --profile full` again" in out


def test_a_download_that_fails_is_reported_and_the_others_still_come(tmp_path, monkeypatch,
                                                                      capsys):
    from tlcourse.data.download import ChecksumError

    log = []
    good = b"the real bytes"
    digest = hashlib.sha256(good).hexdigest()

    def refused():
        log.append("dataset refused")
        raise ChecksumError("dataset.tar.gz has MD5 0000, expected 1234")

    broken = Asset("dataset refused", "", 1_000_000, lambda: [(tmp_path / "d.tar.gz", None,
                                                                None)], refused)
    fakes = [broken, _asset(tmp_path, "weights good", good, digest, log)]
    monkeypatch.setattr(assets_module, "profile_assets", lambda name: fakes)
    assert cli.main(["fetch", "--profile", "full"]) == 1
    assert log == ["dataset refused", "weights good"]               # the second still came
    out = capsys.readouterr().out
    assert "[FAIL] dataset refused: ChecksumError: dataset.tar.gz has MD5 0000" in out
    assert "[ ok ] weights good: checksums match" in out
    assert "1 asset(s) failed" in out                                # counted once


def test_a_dry_run_only_lists(tmp_path, monkeypatch, capsys):
    def no_download():
        raise AssertionError("a dry run must not download")

    fake = Asset("weights x", "", 5_000_000_000, lambda: [(tmp_path / "x.pth", None, None)],
                 no_download)
    monkeypatch.setattr(assets_module, "profile_assets", lambda name: [fake])
    assert cli.main(["fetch", "--dry-run"]) == 0
    assert "to download: 1 asset(s), about 5.00 GB" in capsys.readouterr().out


def test_the_real_checksums_catch_stand_ins(tmp_path, monkeypatch):
    # The assets' own definitions, against files in the real layouts but with other bytes:
    # every one is found and refused with the checksum torchvision or GLUE publishes.
    monkeypatch.setenv("TLCOURSE_CACHE", str(tmp_path))
    standins.weights(tmp_path, ("resnet18",))
    standins.mnist(tmp_path / "datasets")
    zip_path = standins.sst2(tmp_path)
    by_name = {a.name: a for a in profile_assets("full")}
    for name in ("weights resnet18", "dataset mnist", "text sst2"):
        assert by_name[name].cached()
        problems = verify(by_name[name])
        assert problems and all("expected" in p for p in problems), (name, problems)
    assert "f37072fd" in verify(by_name["weights resnet18"])[0]    # torchvision's file name
    assert not verify(by_name["embedded clipart"])                # data/SHA256SUMS holds
    from tlcourse.text import data as text_data

    monkeypatch.setattr(text_data, "SST2_MD5", hashlib.md5(zip_path.read_bytes()).hexdigest())
    sst2 = next(a for a in profile_assets("full") if a.name == "text sst2")
    assert verify(sst2) == []                                      # the right bytes pass


def test_fetch_without_a_network_fails_fast_naming_the_asset(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TLCOURSE_CACHE", str(tmp_path))
    monkeypatch.setenv("TLCOURSE_OFFLINE", "1")
    weights = next(a for a in profile_assets("full") if a.name == "weights resnet50")
    monkeypatch.setattr(assets_module, "profile_assets", lambda name: [weights])
    start = time.perf_counter()
    assert cli.main(["fetch", "--profile", "full"]) == 2
    assert time.perf_counter() - start < 10
    captured = capsys.readouterr()
    assert "downloading weights resnet50 (102.5 MB)" in captured.out
    assert "resnet50 ImageNet weights" in captured.err and "cannot be reached" in captured.err


@pytest.mark.parametrize("profile", ["full", "offline"])
def test_every_assets_files_can_be_listed(profile):
    for asset in profile_assets(profile):
        files = asset.files()
        assert all(algorithm in (None, "sha256", "md5") for _, algorithm, _ in files)
