import sys
import types

import numpy as np
import pytest
import torch

import tlcourse as tlc
from tlcourse.data import DATASETS
from tlcourse.models import BACKBONES
from tlcourse.profiles import PROFILES, get_profile, resolve_name


def test_device_is_chosen_when_called():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert tlc.get_device().type in (expected, "mps")
    assert tlc.get_device("cpu").type == "cpu"


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_asking_for_a_missing_gpu_is_a_clear_error():
    with pytest.raises(RuntimeError, match="no CUDA GPU"):
        tlc.get_device("cuda")


def test_seed_everything_repeats_python_numpy_and_torch():
    import random

    def draw():
        return random.random(), np.random.rand()  # noqa: NPY002 (the global RNG learners use), torch.rand(1).item()

    tlc.seed_everything(3)
    first = draw()
    tlc.seed_everything(3)
    assert draw() == first
    with pytest.raises(ValueError):
        tlc.seed_everything(-1)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU report")
def test_setup_reports_and_warns_without_gpu(capsys, monkeypatch):
    env = tlc.setup(seed=5)
    out = capsys.readouterr().out
    assert env.profile == "offline" and env.device.type in ("cpu", "mps")
    assert "WARNING" in out and "torch" in out and "profile     : offline" in out
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    tlc.setup(seed=5)
    assert "Runtime > Change runtime type" in capsys.readouterr().out


def test_auto_profile_follows_the_device():
    assert resolve_name("auto", torch.device("cpu")) == "offline"
    assert resolve_name("auto", torch.device("cuda")) == "full"
    assert get_profile("full").backbone == "resnet50"


def test_unknown_profile_lists_the_valid_ones():
    with pytest.raises(ValueError, match=r"Did you mean 'offline'\?.*Valid: auto, full, offline"):
        get_profile("ofline")


@pytest.mark.parametrize("profile", list(PROFILES.values()), ids=list(PROFILES))
def test_every_profile_names_real_assets(profile):
    assert profile.backbone in BACKBONES and set(profile.backbones) <= set(BACKBONES)
    from tlcourse.text.data import TEXT_DATASETS
    from tlcourse.text.encoder import _WHEELS

    for role, name in profile.datasets.items():
        assert name in (TEXT_DATASETS if role == "text" else (*DATASETS, "photos")), (role, name)
    # a shipped encoder offline; a hub id (fetched into the cache) in the full profile
    assert (profile.text_encoder in _WHEELS) == (profile.name == "offline")
    assert profile.image_size >= BACKBONES[profile.backbone].min_size
