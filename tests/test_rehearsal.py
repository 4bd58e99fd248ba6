"""A rehearsal of the full profile: every notebook from first cell to last with
``PROFILE = "full"`` on the CPU, against stand-in files (tests/standins.py) in a temporary
cache, with tiny sizes and one epoch through each notebook's own parameters.

``TLCOURSE_REHEARSAL=1`` (set here, and only here) lets the loaders accept the stand-ins without
their checksums, refuses every download, and records claims without enforcing them (random
weights prove nothing); every report of such a run says it is a rehearsal. Everything else, every
full-profile code path, must run without error. ``make rehearse`` runs this file alone.
"""

from __future__ import annotations

import importlib
import json
import os

import pytest

from tests import standins
from tlcourse import claims
from tlcourse.runner import run_notebook, write_reports

from .conftest import NOTEBOOKS

#: per notebook: the parameters that make its full branch tiny (one epoch, a few images, small
#: resolutions); ``PROFILE = "full"`` is added to each
TINY = {
    "00_setup": {},                                 # 224 px, as a learner runs it
    "01_feature_extraction": dict(IMAGE_SIZE=32, LABELS_PER_CLASS=[1], NUM_DRAWS=1,
                                  HEAD_EPOCHS=1, CNN_EPOCHS=1, CNN_MIN_STEPS=1, MAP_POINTS=300,
                                  QUERY=0),
    "02_fine_tuning": dict(IMAGE_SIZE=32, TRAIN_PER_CLASS=1, VAL_PER_CLASS=1, BATCH_SIZE=32,
                           NUM_EPOCHS=1, FEW_PER_CLASS=1, FEW_EPOCHS=5, PATIENCE=5,
                           PHOTO_VIEWS=1, LIVE_PLOT=False, DIGITS_PER_CLASS=2, DIGITS_EPOCHS=1),
    "03_domain_adaptation": dict(SEEDS=[0], SOURCE_EPOCHS=1, ADAPT_EPOCHS=1, BATCH_SIZE=32,
                                 MAP_POINTS=20),
    "04_unsupervised_transfer": dict(PRETRAIN_EPOCHS=1, IMAGE_SIZE=32, LABELS_PER_CLASS=[1, 2],
                                     PROBE_DRAWS=1, FINETUNE_DRAWS=1, FINETUNE_STEPS=2,
                                     MAP="pca", LIVE_PLOT=False),
    "05_capstone": dict(IMAGE_SIZE=32, FINETUNE_EPOCHS=1, C_VALUES=[1.0], LIVE_PLOT=False),
    "06_text": dict(LABELS_PER_CLASS=[4], NUM_DRAWS=1, FEW=4, SCRATCH_STEPS=2,
                    SCRATCH_MAX_EPOCHS=1, FT_LABELS_PER_CLASS=[4], FT_EPOCHS=1, FT_MIN_STEPS=1,
                    FT_ALL_EPOCHS=1, SHIFT_PER_CLASS=8, SHIFT_TEST_PER_CLASS=8, TARGET_LABELS=4),
    "07_multitask": dict(NUM_DRAWS=1, STEPS=30, COSINE_EVERY=5, LABELS_PER_CLASS=5),
    "08_choosing_a_model": dict(CLIPART_SIZE=32, LABELS_PER_CLASS=2, DIGIT_NET_EPOCHS=1,
                                SIMCLR_EPOCHS=1, FINETUNE_EPOCHS=1),
    "09_few_shot": dict(SHOTS=[1], N_QUERY=2, TEST_EPISODES=4, MAML_TEST_EPISODES=2,
                        IMAGE_SIZE=32, TRAIN_SHOTS=1, PROTONET_EPISODES=2, EMBED_EPISODES=2,
                        HEAD_STEPS=2, MAML_EPISODES=4, MAML_INNER_STEPS=1, DIGITS_PER_CLASS=3),
    "10_lifelong": dict(EPOCHS_PER_TASK=1, FISHER_EXAMPLES=8, REPLAY_PER_CLASS=2),
    # notebook 11's claims weigh the probe with 5 labels per class against the words
    "11_cross_modal": dict(IMAGE_SIZE=32, NUM_EPOCHS=1, PROBE_LABELS=[1, 5], PROBE_DRAWS=1),
}


@pytest.fixture(scope="session")
def standin_cache(tmp_path_factory):
    """Every stand-in, written once per session (about 15 s)."""
    return standins.write_all(tmp_path_factory.mktemp("rehearsal-cache"))


@pytest.fixture
def rehearsal(standin_cache, monkeypatch):
    """The rehearsal's switch and its cache, for this process and the kernels it starts."""
    monkeypatch.setenv("TLCOURSE_CACHE", str(standin_cache))
    monkeypatch.setenv(claims.REHEARSAL_ENV, "1")
    monkeypatch.delenv("TLCOURSE_CLAIMS", raising=False)
    return standin_cache


def test_every_notebook_has_tiny_rehearsal_parameters():
    assert sorted(TINY) == sorted(p.stem for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


def _outputs_text(path) -> str:
    nb = json.loads(path.read_text())
    return "\n".join("".join(out.get("text", "")) + "".join(out.get("data", {}).get(
        "text/plain", "")) for cell in nb["cells"] for out in cell.get("outputs", []))


@pytest.mark.rehearsal
@pytest.mark.notebooks
@pytest.mark.parametrize("name", sorted(TINY))
def test_full_profile_rehearsal(name, rehearsal, tmp_path):
    parameters = {"PROFILE": "full", **TINY[name]}
    if name == "05_capstone":
        parameters["OUTPUT_DIR"] = str(tmp_path / "capstone_output")
    entry = run_notebook(NOTEBOOKS / f"{name}.ipynb", tmp_path, parameters)
    assert entry["status"] == "ok", f"{name}, full profile: {entry['error']}"
    assert entry["profile"] == "full" and entry["rehearsal"] is True
    assert entry["claims"], f"{name} evaluated no claims"
    assert all(c.get("rehearsal") for c in entry["claims"])
    assert claims.REHEARSAL_NOTE in _outputs_text(tmp_path / f"{name}.ipynb")
    write_reports(tmp_path, [entry])
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["rehearsal"] is True
    assert (tmp_path / "report.md").read_text().startswith("# Rehearsal (not results)")


@pytest.mark.rehearsal
@pytest.mark.notebooks
def test_a_broken_full_branch_fails_the_rehearsal(rehearsal, tmp_path):
    # Notebook 09's full branch (Omniglot), with one line broken, in a copy: the rehearsal must
    # report the notebook as failed, with the error of that line.
    nb = json.loads((NOTEBOOKS / "09_few_shot.ipynb").read_text())
    branch = 'if env.profile == "full":\n'
    cells = [c for c in nb["cells"] if c["cell_type"] == "code"
             and "".join(c["source"]).startswith(branch)]
    assert len(cells) == 1, "the full branch this test breaks has moved: update the test"
    source = "".join(cells[0]["source"])
    cells[0]["source"] = source.replace(
        branch, branch + "    raise NameError('deliberately broken full branch')\n", 1)
    copy = tmp_path / "nb" / "09_few_shot.ipynb"
    copy.parent.mkdir()
    copy.write_text(json.dumps(nb))
    entry = run_notebook(copy, tmp_path, {"PROFILE": "full", **TINY["09_few_shot"]})
    assert entry["status"] == "failed"
    assert "deliberately broken full branch" in entry["error"]


# --- the switch, without notebooks -----------------------------------------------------------

def test_a_rehearsal_records_failed_claims_without_raising(monkeypatch, capsys):
    monkeypatch.setenv(claims.REHEARSAL_ENV, "1")
    claims.at_least("random weights beat chance by 50 points", 0.1, 0.5)
    claims.check("a fact that is false", False)
    got = claims.recorded()["claims"]
    assert [c["held"] for c in got] == [False, False]
    assert all(c["rehearsal"] for c in got)
    assert "[rehearsal, not enforced] claim FAILED" in capsys.readouterr().out
    monkeypatch.delenv(claims.REHEARSAL_ENV)
    with pytest.raises(claims.ClaimFailed):          # outside a rehearsal, enforced again
        claims.at_least("random weights beat chance by 50 points", 0.1, 0.5)
    assert "rehearsal" not in claims.recorded()["claims"][-1]


def test_the_switch_takes_only_1(monkeypatch):
    monkeypatch.setenv(claims.REHEARSAL_ENV, "yes")
    with pytest.raises(ValueError, match="TLCOURSE_REHEARSAL"):
        claims.rehearsal()
    monkeypatch.setenv(claims.REHEARSAL_ENV, "0")
    assert claims.rehearsal() is False


def test_setup_says_it_is_a_rehearsal(monkeypatch, capsys):
    import tlcourse as tlc

    monkeypatch.setenv(claims.REHEARSAL_ENV, "1")
    env = tlc.setup(profile="full", device="cpu")
    assert env.rehearsal and claims.REHEARSAL_NOTE in capsys.readouterr().out
    monkeypatch.delenv(claims.REHEARSAL_ENV)
    assert claims.REHEARSAL_NOTE not in tlc.setup(profile="full", device="cpu").report()


@pytest.mark.parametrize("name", sorted(standins.DATASET_WRITERS))
def test_every_stand_in_set_loads_only_in_a_rehearsal(name, tmp_path, monkeypatch):
    import torch
    import torchvision.datasets.utils as tv_utils

    import tlcourse as tlc

    standins.DATASET_WRITERS[name](tmp_path / "datasets")
    monkeypatch.setenv("TLCOURSE_CACHE", str(tmp_path))
    monkeypatch.setenv(claims.REHEARSAL_ENV, "1")
    names = [n for n, s in tlc.data.DATASETS.items() if s.kind == "download"
             and n.startswith(name)]
    assert names
    for dataset_name in names:
        for split in tlc.data.DATASETS[dataset_name].splits:
            data = tlc.data.load(dataset_name, split)
            _image, target = data[0]
            assert len(data) > 0 and len(data.classes) > 0 and isinstance(target, int)
            # class indices are int64 (STL-10 reads uint8 labels, which one_hot refuses)
            assert torch.as_tensor(tlc.data.targets_of(data)).dtype == torch.int64
    for module in ("flowers102", "cifar", "svhn", "stl10", "omniglot", "mnist"):  # put back
        module = importlib.import_module(f"torchvision.datasets.{module}")
        assert module.check_integrity is tv_utils.check_integrity
    monkeypatch.delenv(claims.REHEARSAL_ENV)
    if name not in ("mnist", "usps", "pets"):          # torchvision checks these by MD5 only
        with pytest.raises(tlc.data.AssetMissingError):
            tlc.data.load(names[0], tlc.data.DATASETS[names[0]].splits[0], download=False)


def test_a_cache_of_stand_ins_is_refused_outside_a_rehearsal(tmp_path, monkeypatch):
    # write_all marks its folder last; a real run pointed at it must refuse it, not train on it.
    import tlcourse as tlc
    from tlcourse.data.download import STAND_INS_MARKER

    for writer in ("weights", "sst2", "distilbert"):
        monkeypatch.setattr(standins, writer, lambda *args, **kwargs: None)
    monkeypatch.setattr(standins, "DATASET_WRITERS", {"mnist": standins.mnist})
    standins.write_all(tmp_path)
    assert (tmp_path / STAND_INS_MARKER).is_file()
    monkeypatch.setenv("TLCOURSE_CACHE", str(tmp_path))
    monkeypatch.delenv(claims.REHEARSAL_ENV, raising=False)
    with pytest.raises(RuntimeError, match=r"rehearsal's stand-in files.*TLCOURSE_CACHE"):
        tlc.data.load("mnist", "train")
    monkeypatch.setenv(claims.REHEARSAL_ENV, "1")
    assert len(tlc.data.load("mnist", "train")) > 0


def test_a_rehearsal_never_downloads(tmp_path, monkeypatch):
    from tlcourse.data import AssetMissingError, download
    from tlcourse.data.download import network_available

    source = tmp_path / "remote.bin"
    source.write_bytes(b"bytes")
    monkeypatch.setenv(claims.REHEARSAL_ENV, "1")
    with pytest.raises(AssetMissingError, match="never downloads"):
        download(source.as_uri(), tmp_path / "cache" / "x.bin", "ab" * 32)
    assert not (tmp_path / "cache" / "x.bin").exists()
    assert network_available("https://download.pytorch.org") is False
    stand_in = tmp_path / "cache" / "y.bin"
    stand_in.parent.mkdir()
    stand_in.write_bytes(b"not the real bytes")
    assert download("https://example.invalid/y.bin", stand_in, "ab" * 32) == stand_in


def test_stand_in_weights_load_strictly_into_the_backbones(tmp_path, monkeypatch):
    import tlcourse as tlc

    paths = standins.weights(tmp_path, ("resnet18",))
    assert paths[0].name.startswith("resnet18-") and paths[0].suffix == ".pth"
    monkeypatch.setenv("TLCOURSE_CACHE", str(tmp_path))
    monkeypatch.setenv(claims.REHEARSAL_ENV, "1")
    model = tlc.models.load_backbone("resnet18")          # load_state_dict is strict
    assert tlc.models.get_head(model).out_features == 1000
    monkeypatch.delenv(claims.REHEARSAL_ENV)
    monkeypatch.setenv("TLCOURSE_OFFLINE", "1")           # outside: the checksum refuses it
    with pytest.raises(tlc.data.AssetMissingError):
        tlc.models.load_backbone("resnet18")
    assert os.path.exists(paths[0])
