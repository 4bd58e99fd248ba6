"""tlc.transferability.rank_backbones: the scores of the registry's backbones on a labelled
set, equal to the scores computed by hand from each backbone's own outputs; cached features."""

import numpy as np
import pytest
import torch

import tlcourse as tlc
from tlcourse import transferability as tr

NAMES = ["efficientnet_lite0", "efficientnet_lite1"]


@pytest.fixture(scope="module")
def data():
    clipart = tlc.data.load("clipart", "train")
    keep = np.concatenate([np.flatnonzero(np.asarray(clipart.targets) == c)[:4]
                           for c in range(len(clipart.classes))])
    return tlc.data.ArrayDataset(clipart.images[keep], np.asarray(clipart.targets)[keep],
                                 clipart.classes)


def _by_hand(name, data, size, indices=None):
    model = tlc.models.load_backbone(name)
    transform = tlc.data.image_transform(name, size)
    idx = np.arange(len(data)) if indices is None else np.asarray(indices)
    x = torch.stack([transform(data.images[i]) for i in idx])
    y = np.asarray(data.targets)[idx]
    with torch.no_grad():
        probs = model(x).softmax(1).double().numpy()
        feats = tlc.models.feature_extractor(model)(x).double().numpy()
    return feats, probs, y


def test_scores_equal_those_computed_from_each_backbones_outputs(data, tmp_path):
    ranked = tr.rank_backbones(data, NAMES, image_size=32, folder=tmp_path, progress=False)
    assert [r.score for r in ranked] == sorted((r.score for r in ranked), reverse=True)
    assert sorted(r.name for r in ranked) == sorted(NAMES)
    leep = {r.name: r for r in tr.rank_backbones(data, NAMES, image_size=32, score="leep",
                                                 folder=tmp_path, progress=False)}
    for r in ranked:
        feats, probs, y = _by_hand(r.name, data, 32)
        assert r.score == pytest.approx(tr.logme(feats, y), abs=1e-4)
        assert leep[r.name].score == pytest.approx(tr.leep(probs, y), abs=1e-5)
        assert not r.cache_hit and leep[r.name].cache_hit   # LEEP reused LogME's features


def test_indices_score_only_those_examples(data, tmp_path):
    idx = np.arange(0, len(data), 2)
    (r,) = tr.rank_backbones(data, NAMES[:1], image_size=32, indices=idx, score="h_score",
                             folder=tmp_path, progress=False)
    feats, _, y = _by_hand(NAMES[0], data, 32, idx)
    assert r.score == pytest.approx(tr.h_score(feats, y), abs=1e-4)


def test_bad_requests_say_what_is_valid(data):
    with pytest.raises(ValueError, match="unknown score 'logmee'; valid: logme, h_score"):
        tr.rank_backbones(data, NAMES, image_size=32, score="logmee")
    with pytest.raises(ValueError, match="unknown backbone 'lite9'"):
        tr.rank_backbones(data, ["lite9"], image_size=32)
    with pytest.raises(ValueError, match="at least one candidate"):
        tr.rank_backbones(data, [], image_size=32)
    with pytest.raises(TypeError, match="needs an ArrayDataset"):
        tr.rank_backbones(torch.utils.data.TensorDataset(torch.zeros(2, 3, 8, 8)), NAMES,
                          image_size=32)
