import pytest
import torch

import tlcourse as tlc
from tlcourse.data import AssetMissingError


@pytest.fixture
def resnet():
    return tlc.models.load_backbone("resnet18", pretrained=False)


def test_replace_head_and_freeze_leave_only_the_head_trainable(resnet):
    tlc.models.freeze(resnet)
    assert tlc.models.count_parameters(resnet) == 0
    tlc.models.replace_head(resnet, 7)
    assert tlc.models.count_parameters(resnet) == 512 * 7 + 7
    assert resnet(torch.zeros(2, 3, 32, 32)).shape == (2, 7)
    tlc.models.unfreeze(resnet)
    assert tlc.models.count_parameters(resnet) == tlc.models.count_parameters(
        resnet, trainable_only=False)


@pytest.mark.parametrize("name", ["efficientnet_lite0", "resnet18"])
def test_feature_extractor_returns_the_documented_feature_size(name):
    model = tlc.models.feature_extractor(tlc.models.load_backbone(name, pretrained=False))
    dim = tlc.models.get_spec(name).feature_dim
    assert model(torch.zeros(3, 3, 64, 64)).shape == (3, dim)


def test_replace_head_rejects_a_bad_class_count(resnet):
    with pytest.raises(ValueError, match="positive int"):
        tlc.models.replace_head(resnet, 0)


def test_unknown_backbone_suggests_the_closest_name():
    with pytest.raises(ValueError, match="Did you mean 'resnet50'"):
        tlc.models.load_backbone("resnet5")


def test_imagenet_classes_are_index_aligned():
    names = tlc.models.imagenet_classes()
    assert len(names) == 1000
    assert names[281] == "tabby" and names[967] == "espresso"


def test_uncached_torchvision_weights_fail_fast_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("TLCOURSE_CACHE", str(tmp_path))
    monkeypatch.setenv("TLCOURSE_OFFLINE", "1")
    # A file sits where the cache expects the weights, but it is not the real thing.
    bad = tmp_path / "weights" / "resnet18-f37072fd.pth"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"not the weights")
    with pytest.raises(AssetMissingError, match="tlcourse fetch"):
        tlc.models.load_backbone("resnet18", pretrained=True)
