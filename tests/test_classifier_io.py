"""A trained classifier saved with its class names and input size, and loaded back."""

import pytest
import torch

import tlcourse as tlc
from tlcourse.checkpoint import load_classifier, save_classifier


def test_saved_classifier_loads_with_the_same_predictions_and_metadata(tmp_path):
    torch.manual_seed(0)
    model = tlc.models.replace_head(tlc.models.load_backbone("efficientnet_lite0",
                                                             pretrained=False), 3)
    path = save_classifier(tmp_path / "model.pt", model, backbone="efficientnet_lite0",
                           classes=["a", "b", "c"], image_size=64)
    loaded, info = load_classifier(path)
    assert info == {"backbone": "efficientnet_lite0", "classes": ["a", "b", "c"], "image_size": 64}
    assert not loaded.training
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(loaded(x), model.eval()(x))


def test_a_training_checkpoint_is_not_mistaken_for_a_classifier(tmp_path):
    model = torch.nn.Linear(2, 2)
    path = tlc.checkpoint.save_checkpoint(tmp_path / "ckpt.pt", model=model, epoch=1)
    with pytest.raises(ValueError, match="not a classifier saved by"):
        load_classifier(path)


def test_a_damaged_classifier_file_is_refused(tmp_path):
    model = tlc.models.replace_head(tlc.models.load_backbone("efficientnet_lite0",
                                                             pretrained=False), 2)
    path = save_classifier(tmp_path / "model.pt", model, backbone="efficientnet_lite0",
                           classes=["a", "b"], image_size=32)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(tlc.io.CorruptFileError):
        load_classifier(path)
