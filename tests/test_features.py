"""Feature extraction and its cache, probes, the neighbour explorer and notebook 01's checks."""

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from torch.nn import functional as F

import tlcourse as tlc
from tlcourse import features, widgets
from tlcourse.exercises import ex01


def _images(n=6, size=40, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n, size, size, 3), dtype=np.uint8)


@pytest.fixture
def lite0():
    torch.manual_seed(0)
    return tlc.models.load_backbone("efficientnet_lite0", pretrained=False)


@pytest.fixture
def dataset():
    transform = tlc.data.image_transform("efficientnet_lite0", 32)
    return tlc.data.ArrayDataset(_images(), [0, 1, 2, 0, 1, 2], ["a", "b", "c"], transform,
                                 name="random")


def test_extract_equals_pooled_feature_maps_written_out(lite0, dataset, tmp_path):
    feats, targets = features.extract(lite0, dataset, batch_size=4, layer="all",
                                      folder=tmp_path, progress=False)
    x = torch.stack([dataset[i][0] for i in range(len(dataset))])
    with torch.no_grad():
        maps = lite0.eval().feature_maps(x)
    assert list(feats) == features.depth_layers(lite0)
    assert len(feats) == 9
    for name, fmap in zip(feats, maps, strict=True):
        assert feats[name].shape == (6, fmap.shape[1])
        torch.testing.assert_close(feats[name], fmap.mean(dim=(2, 3)), atol=1e-5, rtol=1e-4)
    assert targets.tolist() == [0, 1, 2, 0, 1, 2]


def test_default_layer_is_the_models_embedding(lite0, dataset, tmp_path):
    feats, _ = features.extract(lite0, dataset, folder=tmp_path, progress=False)
    x = torch.stack([dataset[i][0] for i in range(len(dataset))])
    with torch.no_grad():
        expected = lite0.eval().forward_features(x)
    assert feats.shape == (6, 1280)
    torch.testing.assert_close(feats, expected, atol=1e-5, rtol=1e-4)


def test_second_call_is_a_hit_with_the_same_numbers(lite0, dataset, tmp_path):
    a, _, first = features.extract(lite0, dataset, layer="head", folder=tmp_path,
                                   progress=False, return_info=True)
    b, _, second = features.extract(lite0, dataset, layer="head", folder=tmp_path,
                                    progress=False, return_info=True)
    assert (first.hit, second.hit) == (False, True)
    assert torch.equal(a, b)
    assert second.build_seconds == first.build_seconds > 0
    assert second.path == features.cache_path(second.key, tmp_path) and second.path.exists()
    assert (second.path.parent / f"{second.key}.pt.sha256").exists()


def test_a_corrupt_cache_file_is_rebuilt_not_trusted(lite0, dataset, tmp_path):
    a, _, info = features.extract(lite0, dataset, folder=tmp_path, progress=False,
                                  return_info=True)
    info.path.write_bytes(info.path.read_bytes()[:100])
    with pytest.warns(UserWarning, match="rebuilding a damaged cache file"):
        b, _, again = features.extract(lite0, dataset, folder=tmp_path, progress=False,
                                       return_info=True)
    assert not again.hit and torch.equal(a, b)


def test_cache_false_never_writes(lite0, dataset, tmp_path):
    _, _, info = features.extract(lite0, dataset, cache=False, folder=tmp_path,
                                  progress=False, return_info=True)
    assert not info.hit and info.path is None and not any(tmp_path.iterdir())


def test_key_follows_weights_data_transform_and_layers(lite0, dataset):
    key = features.extraction_key(lite0, dataset, ["head"])
    assert features.extraction_key(lite0, dataset, ["head"]) == key  # stable
    other_size = dataset.with_transform(tlc.data.image_transform("efficientnet_lite0", 48))
    assert features.extraction_key(lite0, other_size, ["head"]) != key
    assert features.extraction_key(lite0, dataset, ["stage5"]) != key
    changed = tlc.data.ArrayDataset(dataset.images.clone(), dataset.targets, dataset.classes,
                                    dataset.transform, name="random")
    changed.images[0, 0, 0, 0] ^= 1  # one pixel, one bit
    assert features.extraction_key(lite0, changed, ["head"]) != key
    with torch.no_grad():
        lite0._bn1.running_mean[0] += 1e-3  # a buffer deep in the network
    assert features.extraction_key(lite0, dataset, ["head"]) != key


def test_subsets_and_tensor_datasets_have_content_keys():
    data = torch.utils.data.TensorDataset(torch.arange(6.0).reshape(3, 2), torch.arange(3))
    same = torch.utils.data.TensorDataset(torch.arange(6.0).reshape(3, 2), torch.arange(3))
    assert features.dataset_identity(data) == features.dataset_identity(same)
    sub = torch.utils.data.Subset(data, [0, 2])
    assert features.dataset_identity(sub) != features.dataset_identity(
        torch.utils.data.Subset(data, [0, 1]))


def test_cache_exercise_answers_are_what_the_cache_does(lite0, dataset, tmp_path):
    features.extract(lite0, dataset, layer="all", batch_size=4, folder=tmp_path, progress=False)

    def hit(model=lite0, data=dataset, **kwargs):
        args = {"layer": "all", "folder": tmp_path, "progress": False} | kwargs
        return features.extract(model, data, return_info=True, **args)[2].hit

    def fine_tuned():
        model = tlc.models.load_backbone("efficientnet_lite0", pretrained=False)
        model.load_state_dict(lite0.state_dict())
        with torch.no_grad():
            model._fc.weight[0, 0] += 1.0  # one step of fine-tuning, even of the head only
        return model

    size = tlc.data.image_transform("efficientnet_lite0", 48)
    augment = tlc.data.image_transform("efficientnet_lite0", 32, train=True)
    observed = {"batch_size=16": hit(batch_size=16),
                "IMAGE_SIZE": hit(data=dataset.with_transform(size)),
                "Train the backbone": hit(model=fine_tuned()),
                "layer='head'": hit(layer="head"),
                "train=True": hit(data=dataset.with_transform(augment)),
                "same settings": hit()}
    for change, (answer, _) in ex01.CACHE_CHANGES.items():
        matches = [hit_ for word, hit_ in observed.items() if word in change]
        if change.startswith("Set SEED"):
            continue  # the seed is not an argument of extract at all
        assert len(matches) == 1, change
        assert answer == ("hit" if matches[0] else "miss"), change


def test_torchvision_resnet_layers_come_from_forward_hooks(tmp_path):
    torch.manual_seed(0)
    model = tlc.models.load_backbone("resnet18", pretrained=False)
    assert features.depth_layers(model) == ["maxpool", "layer1", "layer2", "layer3", "layer4"]
    x = torch.randn(3, 3, 64, 64)
    data = torch.utils.data.TensorDataset(x, torch.tensor([0, 1, 0]))
    feats, _ = features.extract(model, data, layer=["layer2", "layer4"], folder=tmp_path,
                                progress=False)
    with torch.no_grad():
        h = model.maxpool(model.relu(model.bn1(model.conv1(x))))
        l2 = model.layer2(model.layer1(h))
        l4 = model.layer4(model.layer3(l2))
    torch.testing.assert_close(feats["layer2"], l2.mean(dim=(2, 3)), atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(feats["layer4"], l4.mean(dim=(2, 3)), atol=1e-5, rtol=1e-4)
    embedding, _ = features.extract(model, data, folder=tmp_path, progress=False)
    assert embedding.shape == (3, 512)  # layer4 pooled: what the avgpool feeds the head


def test_unknown_layer_names_the_valid_ones(lite0):
    with pytest.raises(ValueError, match="Did you mean 'stage5'"):
        features.pooled_features(lite0, torch.zeros(1, 3, 32, 32), ["stage50"])


def test_a_model_without_known_layers_uses_its_output(tmp_path):
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU())
    data = torch.utils.data.TensorDataset(torch.ones(2, 3, 8, 8), torch.tensor([0, 1]))
    feats, _ = features.extract(model, data, folder=tmp_path, progress=False)
    with torch.no_grad():
        expected = model(torch.ones(2, 3, 8, 8)).mean(dim=(2, 3))
    torch.testing.assert_close(feats, expected)


def _knn_reference(train_x, train_y, query, k):
    preds = []
    for q in query:
        sims = [float(q @ t / (q.norm() * t.norm())) for t in train_x]
        order = sorted(range(len(sims)), key=lambda i: -sims[i])[:k]
        score = {}
        for i in order:  # votes first, summed similarity breaks ties
            count, total = score.get(int(train_y[i]), (0, 0.0))
            score[int(train_y[i])] = (count + 1, total + sims[i])
        preds.append(max(score, key=lambda c: score[c]))
    return preds


@pytest.mark.parametrize("k", [1, 4, 5])
def test_knn_predict_matches_a_plain_reference(k):
    gen = torch.Generator().manual_seed(k)
    train_x, query = torch.randn(40, 5, generator=gen), torch.randn(25, 5, generator=gen)
    train_y = torch.randint(0, 3, (40,), generator=gen)
    got = features.knn_predict(train_x, train_y, query, k=k)
    assert got.tolist() == _knn_reference(train_x, train_y, query, k)


def test_nearest_neighbours_are_sorted_by_cosine_similarity():
    gallery = torch.tensor([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
    idx, sims = features.nearest_neighbours(torch.tensor([[3.0, 0.1]]), gallery, k=3)
    assert idx.tolist() == [[0, 2, 1]]
    torch.testing.assert_close(sims[0], F.cosine_similarity(torch.tensor([[3.0, 0.1]]),
                                                            gallery[idx[0]]))


def test_linear_probe_is_scikit_learns_logistic_regression():
    from sklearn.linear_model import LogisticRegression

    gen = torch.Generator().manual_seed(0)
    x = torch.randn(60, 4, 2, generator=gen)
    y = (x[:, 0, 0] > 0).long() + (x[:, 1, 1] > 0.5).long()
    clf = LogisticRegression(C=0.3, max_iter=2000).fit(x[:40].flatten(1), y[:40])
    expected = clf.score(x[40:].flatten(1), y[40:])
    assert features.linear_probe(x[:40], y[:40], x[40:], y[40:], C=0.3) == expected


def test_linear_probe_with_nothing_left_to_test_says_so():
    x, y = torch.randn(6, 3), torch.tensor([0, 0, 1, 1, 2, 2])
    with pytest.raises(ValueError, match=r"the test set is empty.*more than k examples"):
        features.linear_probe(x, y, x[:0], y[:0])


def test_plot_neighbours_colours_same_class_green():
    gallery = torch.tensor([[1.0, 0.0], [0.9, 0.2], [0.0, 1.0]])
    images = np.zeros((3, 8, 8, 3), dtype=np.uint8)
    fig = widgets.plot_neighbours(torch.tensor([[1.0, 0.1]]), gallery, images[:1], images, k=2,
                                  query_labels=[0], gallery_labels=[0, 1, 1],
                                  classes=["cat", "dog"])
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[0] == "query #0\ncat" and titles[1].endswith("cat")
    assert fig.axes[1].title.get_color() == "tab:green"
    assert fig.axes[2].title.get_color() == "tab:red"
    plt.close(fig)


def test_explorer_outside_a_kernel_is_a_static_figure():
    feats = torch.eye(4)
    images = torch.rand(4, 3, 8, 8)  # (C, H, W) tensors in [0, 1], as datasets give them
    fig = widgets.neighbour_explorer(feats, feats, images, images, query=2, k=3)
    assert len(fig.axes) == 4 and fig.axes[0].get_title().startswith("query #2")
    plt.close(fig)


def test_accuracy_vs_labels_marks_the_gap_and_the_all_point():
    curves = {"a": {1: [0.1, 0.2], 5: [0.3, 0.3], 40: [0.5]},
              "b": {1: [0.5, 0.6], 5: [0.7, 0.8], 40: [0.9]}}
    fig = tlc.plot.accuracy_vs_labels(curves, all_size=40, all_label="all", highlight=5)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1", "5", "all"]
    assert "+45 points" in [t.get_text() for t in ax.texts]
    plt.close(fig)


def test_check_knn_accepts_the_solution_and_rejects_a_wrong_one():
    def solution(train_x, train_y, query_x, k):
        sims = F.normalize(query_x, dim=1) @ F.normalize(train_x, dim=1).T
        votes = F.one_hot(train_y[sims.topk(k, dim=1).indices], int(train_y.max()) + 1)
        return votes.sum(1).argmax(1)

    def euclidean_farthest(train_x, train_y, query_x, k):
        return train_y[torch.cdist(query_x, train_x).argmax(1)]

    assert ex01.check_knn(solution, strict=True)
    assert not ex01.check_knn(lambda *args: None)
    with pytest.raises(AssertionError, match="differ from the reference"):
        ex01.check_knn(euclidean_farthest, strict=True)


def test_check_strategy_and_cache_answers():
    right = {p: c for p, (c, _) in ex01.PROJECTS.items()}
    assert ex01.check_strategy(right, strict=True)
    wrong = dict(right) | {next(iter(right)): "from scratch"}
    with pytest.raises(AssertionError, match="Hint"):
        ex01.check_strategy(wrong, strict=True)
    assert not ex01.check_cache_answers({c: "maybe" for c in ex01.CACHE_CHANGES})
