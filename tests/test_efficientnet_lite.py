"""The offline backbone: architecture details and proof that the ImageNet weights are right."""

import pytest
import torch
from torch.nn import functional as F

import tlcourse as tlc
from tlcourse.backbones.efficientnet_lite import Conv2dSame, EfficientNetLite0

CAT_CLASSES = {"tabby", "tiger cat", "Egyptian cat"}


@pytest.mark.outcomes
def test_pretrained_weights_recognise_the_cat_and_the_espresso():
    model = tlc.models.load_backbone("efficientnet_lite0")
    transform = tlc.data.image_transform("efficientnet_lite0", 224)
    photos = tlc.data.load_photos(["chelsea", "coffee"])
    x = torch.stack([transform(p) for p in photos.values()])
    cat, coffee = tlc.models.top_k(model, x, k=5)
    assert cat[0][0] in CAT_CLASSES and cat[0][1] > 0.5
    assert "espresso" in [name for name, _ in coffee]
    assert coffee[0] == ("espresso", coffee[0][1]) and coffee[0][1] > 0.5


def test_parameter_count_matches_the_reference_model():
    # 4,652,008 parameters: EfficientNet-Lite0 as published (4.65 M).
    assert tlc.models.count_parameters(EfficientNetLite0(), trainable_only=False) == 4_652_008


def test_same_padding_matches_tensorflow_for_stride_two():
    torch.manual_seed(0)
    conv = Conv2dSame(2, 3, kernel_size=3, stride=2)
    x = torch.randn(1, 2, 8, 8)
    # TF "SAME", stride 2, even input: total padding 1, all of it at the bottom/right.
    expected = F.conv2d(F.pad(x, (0, 1, 0, 1)), conv.weight, stride=2)
    assert torch.equal(conv(x), expected)


def test_same_padding_output_size_is_ceil_of_input_over_stride():
    conv = Conv2dSame(1, 1, kernel_size=5, stride=2)
    for size in (7, 8, 9, 33):
        assert conv(torch.zeros(1, 1, size, size)).shape[-1] == -(-size // 2)


def test_stage_feature_maps_have_the_expected_channels_and_strides():
    maps = EfficientNetLite0().eval().feature_maps(torch.zeros(1, 3, 64, 64))
    channels = [m.shape[1] for m in maps]
    sizes = [m.shape[-1] for m in maps]
    assert channels == [32, 16, 24, 40, 80, 112, 192, 320, 1280]
    assert sizes == [32, 32, 16, 8, 4, 4, 2, 2, 2]
