"""tlcourse.fewshot: episodes that keep classes and examples apart, prototypes as written in
Snell et al., MAML's inner step and meta-gradient against hand-unrolled autograd and finite
differences, and episodic training through tlc.train.fit."""

import numpy as np
import pytest
import torch
from scipy import stats
from torch import nn
from torch.nn import functional as F

import tlcourse as tlc
from tlcourse import fewshot as fs


def _blobs(classes=12, per_class=15, d=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(classes, d, generator=g) * 3
    y = torch.arange(classes).repeat_interleave(per_class)
    return centres[y] + torch.randn(len(y), d, generator=g), y.numpy()


def test_class_splits_are_disjoint_sized_and_seeded():
    train, val, test = fs.split_classes(range(20), [12, 4, 4], seed=3)
    assert (len(train), len(val), len(test)) == (12, 4, 4)
    assert not (set(train) & set(val) or set(train) & set(test) or set(val) & set(test))
    assert fs.split_classes(range(20), [12, 4, 4], seed=3) == [train, val, test]
    assert fs.split_classes(range(20), [12, 4, 4], seed=4) != [train, val, test]
    with pytest.raises(ValueError, match=r"cannot take sets of \[12, 9\] classes from 20"):
        fs.split_classes(range(20), [12, 9])


def test_an_episode_draws_n_way_classes_with_disjoint_support_and_query():
    x, y = _blobs()
    episodes = fs.EpisodeDataset(x, y, [0, 2, 4, 6, 8, 10], n_way=3, k_shot=2, n_query=4,
                                 episodes=50, seed=1)
    for i in range(len(episodes)):
        chosen, support, query = episodes.indices(i)
        assert len(set(chosen)) == 3 and set(chosen) <= {0, 2, 4, 6, 8, 10}
        assert not set(support) & set(query)
        e = episodes[i]
        assert e["support_x"].shape == (6, 6) and e["query_x"].shape == (12, 6)
        # label j is class chosen[j], in the support and in the query
        assert (y[support] == np.asarray(chosen)[e["support_y"].numpy()]).all()
        assert (y[query] == np.asarray(chosen)[e["labels"].numpy()]).all()
        assert torch.equal(e["support_x"], x[support])
    again = fs.EpisodeDataset(x, y, [0, 2, 4, 6, 8, 10], n_way=3, k_shot=2, n_query=4,
                              episodes=50, seed=1)
    assert all(torch.equal(again[i]["query_x"], episodes[i]["query_x"]) for i in (0, 7, 49))
    assert not torch.equal(episodes[0]["query_x"], episodes[1]["query_x"])
    batch = fs.collate_episodes([episodes[0], episodes[1]])
    assert batch["support_x"].shape == (2, 6, 6) and batch["labels"].shape == (24,)


def test_episodes_refuse_what_cannot_be_drawn():
    x, y = _blobs(per_class=5)
    with pytest.raises(ValueError, match=r"fewer than k_shot \+ n_query = 6 examples"):
        fs.EpisodeDataset(x, y, [0, 1, 2], n_way=2, k_shot=1, n_query=5, episodes=1)
    with pytest.raises(ValueError, match="n_way must be from 2 to the 3 classes given, got 4"):
        fs.EpisodeDataset(x, y, [0, 1, 2], n_way=4, k_shot=1, n_query=1, episodes=1)
    with pytest.raises(IndexError):
        fs.EpisodeDataset(x, y, [0, 1, 2], n_way=2, k_shot=1, n_query=1, episodes=3)[3]


def test_prototypes_are_class_means_and_logits_negative_squared_distances():
    s = torch.tensor([[0.0, 0.0], [2.0, 0.0], [0.0, 4.0], [0.0, 6.0]])
    protos = fs.prototypes(s, torch.tensor([0, 0, 1, 1]), 2)
    assert torch.equal(protos, torch.tensor([[1.0, 0.0], [0.0, 5.0]]))
    q = torch.tensor([[1.0, 1.0]])
    assert torch.allclose(fs.proto_logits(q, protos), torch.tensor([[-1.0, -17.0]]))


def test_a_prototypical_net_on_two_tasks_equals_each_task_alone():
    x, y = _blobs()
    episodes = fs.EpisodeDataset(x, y, range(12), n_way=4, k_shot=3, n_query=2, episodes=2)
    net = fs.PrototypicalNet(nn.Linear(6, 5))
    batch = fs.collate_episodes([episodes[0], episodes[1]])
    both = net(batch["support_x"], batch["support_y"], batch["query_x"])
    alone = [net(e["support_x"], e["support_y"], e["query_x"]) for e in (episodes[0], episodes[1])]
    assert torch.allclose(both, torch.cat(alone))
    e = episodes[0]
    by_hand = -torch.cdist(net.encoder(e["query_x"]),
                           torch.stack([net.encoder(e["support_x"][e["support_y"] == k]).mean(0)
                                        for k in range(4)])).pow(2)
    assert torch.allclose(alone[0], by_hand, atol=1e-5)


def _tiny_task(seed=0):
    g = torch.Generator().manual_seed(seed)
    model = nn.Linear(3, 2).double()
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float64))
    sx, qx = (torch.randn(n, 3, generator=g, dtype=torch.float64) for n in (4, 6))
    sy, qy = torch.tensor([0, 1, 0, 1]), torch.tensor([1, 0, 1, 1, 0, 0])
    return model, sx, sy, qx, qy


def _unrolled(model, sx, sy, qx, qy, lr, steps, first_order):
    """MAML by hand with torch.autograd: the meta-gradient of the query loss."""
    w, b = model.weight, model.bias
    fw, fb = w, b
    for _ in range(steps):
        loss = F.cross_entropy(sx @ fw.T + fb, sy)
        gw, gb = torch.autograd.grad(loss, (fw, fb), create_graph=not first_order)
        fw, fb = fw - lr * gw, fb - lr * gb
    outer = F.cross_entropy(qx @ fw.T + fb, qy)
    if first_order:   # the gradient at the adapted weights, passed back unchanged
        return torch.autograd.grad(outer, (fw, fb))
    return torch.autograd.grad(outer, (w, b))


@pytest.mark.parametrize("first_order", [False, True])
def test_the_maml_meta_gradient_equals_the_hand_unrolled_one(first_order):
    model, sx, sy, qx, qy = _tiny_task()
    maml = fs.MAML(model, inner_lr=0.5, inner_steps=2, first_order=first_order)
    loss = F.cross_entropy(maml(sx, sy, qx), qy)
    got = torch.autograd.grad(loss, (model.weight, model.bias))
    expected = _unrolled(model, sx, sy, qx, qy, 0.5, 2, first_order)
    for a, b in zip(got, expected, strict=True):
        assert torch.allclose(a, b, atol=1e-10)
    if not first_order:   # and the second-order term matters: FOMAML's gradient differs
        fo = _unrolled(model, sx, sy, qx, qy, 0.5, 2, True)
        assert not torch.allclose(got[0], fo[0], atol=1e-3)


def test_the_second_order_meta_gradient_matches_finite_differences():
    model, sx, sy, qx, qy = _tiny_task(seed=1)
    maml = fs.MAML(model, inner_lr=0.3, inner_steps=3)

    def outer():
        return F.cross_entropy(maml(sx, sy, qx), qy).item()

    analytic = torch.autograd.grad(F.cross_entropy(maml(sx, sy, qx), qy), model.weight)[0]
    eps, numeric = 1e-6, torch.zeros_like(model.weight)
    for i in range(2):
        for j in range(3):
            with torch.no_grad():
                model.weight[i, j] += eps
            up = outer()
            with torch.no_grad():
                model.weight[i, j] -= 2 * eps
            down = outer()
            with torch.no_grad():
                model.weight[i, j] += eps
            numeric[i, j] = (up - down) / (2 * eps)
    assert torch.allclose(analytic, numeric, atol=1e-6)


def test_one_inner_step_is_a_gradient_step_on_the_support_loss():
    model, sx, sy, _, _ = _tiny_task(seed=2)
    maml = fs.MAML(model, inner_lr=0.1, inner_steps=1)
    adapted = maml.adapt(dict(model.named_parameters()), sx, sy, 1)
    gw, gb = torch.autograd.grad(F.cross_entropy(model(sx), sy), (model.weight, model.bias))
    assert torch.allclose(adapted["weight"], model.weight - 0.1 * gw)
    assert torch.allclose(adapted["bias"], model.bias - 0.1 * gb)


def test_a_linear_head_is_gradient_descent_from_zeros_on_the_support_set():
    x, y = _blobs()
    episodes = fs.EpisodeDataset(x, y, range(12), n_way=3, k_shot=5, n_query=5, episodes=3)
    linear = nn.Linear(6, 3)
    nn.init.zeros_(linear.weight)
    nn.init.zeros_(linear.bias)
    maml = fs.MAML(linear, inner_lr=0.7, inner_steps=0, inner_steps_eval=25).eval()
    head = fs.LinearHead(steps=25, lr=0.7)
    for i in range(3):
        e = episodes[i]
        with torch.no_grad():
            expected = maml(e["support_x"], e["support_y"], e["query_x"])
            got = head(e["support_x"], e["support_y"], e["query_x"])
        assert torch.allclose(got, expected, atol=1e-5)
    # on two tasks at once, each task's logits are its own
    batch = fs.collate_episodes([episodes[0], episodes[1]])
    both = head(batch["support_x"], batch["support_y"], batch["query_x"])
    assert torch.allclose(both[:15], head(**{k: episodes[0][k] for k in
                                             ("support_x", "support_y", "query_x")}))
    with pytest.raises(ValueError, match="steps must be"):
        fs.LinearHead(steps=0)


def test_nearest_neighbour_uses_each_class_nearest_example():
    support = torch.tensor([[0.0, 0.0], [10.0, 0.0], [4.0, 0.0], [6.0, 0.0]])
    labels = torch.tensor([0, 0, 1, 1])                   # class means 5 and 5: a tie
    query = torch.tensor([[1.0, 0.0], [4.5, 0.0], [9.0, 0.0]])
    logits = fs.NearestNeighbour()(support, labels, query)
    assert torch.allclose(logits, -torch.tensor([[1.0, 3.0], [4.5, 0.5], [1.0, 3.0]]))
    # with one shot it decides like the prototypes
    x, y = _blobs()
    e = fs.EpisodeDataset(x, y, range(12), n_way=4, k_shot=1, n_query=5, episodes=1)[0]
    args = (e["support_x"], e["support_y"], e["query_x"])
    assert torch.equal(fs.NearestNeighbour()(*args).argmax(1),
                       fs.PrototypicalNet(nn.Identity())(*args).argmax(1))


def test_maml_meta_trains_a_network_with_batch_norm():
    # The inner steps use the support's batch statistics and leave the running ones alone;
    # the query pass of a training step updates them (torch.func.grad refuses in-place
    # updates of buffers it did not create, so the inner loop must not make them).
    x, y = _blobs()
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))
    maml = fs.MAML(net, inner_lr=0.5, inner_steps=2)
    episodes = fs.EpisodeDataset(x, y, range(12), n_way=3, k_shot=5, n_query=5, episodes=1)
    e = episodes[0]
    before = net[1].running_mean.clone()
    adapted = maml.adapt(dict(net.named_parameters()), e["support_x"], e["support_y"], 2)
    assert torch.equal(net[1].running_mean, before)          # the inner steps: untouched
    assert not torch.equal(adapted["0.weight"], net[0].weight)
    logits = maml(e["support_x"], e["support_y"], e["query_x"])
    F.cross_entropy(logits, e["labels"]).backward()
    assert not torch.equal(net[1].running_mean, before)      # the query pass: updated
    assert net[0].weight.grad is not None and net[0].weight.grad.abs().sum() > 0


def test_maml_adapts_in_evaluation_too_and_evaluate_can_run_it():
    x, y = _blobs()
    episodes = fs.EpisodeDataset(x, y, range(12), n_way=3, k_shot=5, n_query=5, episodes=4)
    maml = fs.MAML(nn.Linear(6, 3), inner_lr=0.5, inner_steps=1, inner_steps_eval=10)
    loader = torch.utils.data.DataLoader(episodes, batch_size=2, collate_fn=fs.collate_episodes)
    scores = tlc.train.evaluate(maml, loader)          # under no_grad, the inner loop still runs
    accs = fs.episode_accuracies(maml, episodes)
    assert scores["acc"] == pytest.approx(accs.mean())
    zero_steps = fs.MAML(maml.model, inner_lr=0.5, inner_steps=0, inner_steps_eval=0)
    assert accs.mean() > fs.episode_accuracies(zero_steps, episodes).mean() + 0.2


@pytest.mark.outcomes
def test_fit_meta_trains_a_prototypical_encoder_for_classes_it_never_saw():
    # 30 classes that differ in 4 of 20 dimensions, the other 16 noise: episodic training on
    # 20 classes finds the 4 that matter, and test episodes of the 10 others gain from it.
    g = torch.Generator().manual_seed(0)
    centres = torch.zeros(30, 20)
    centres[:, :4] = torch.randn(30, 4, generator=g) * 2
    y = torch.arange(30).repeat_interleave(20)
    x = centres[y] + torch.randn(len(y), 20, generator=g) * torch.cat([torch.full((4,), 0.5),
                                                                       torch.full((16,), 3.0)])
    train, test = fs.split_classes(range(30), [20, 10], seed=0)
    tasks = fs.EpisodeDataset(x, y.numpy(), train, n_way=5, k_shot=1, n_query=5, episodes=300)
    test_tasks = fs.EpisodeDataset(x, y.numpy(), test, n_way=5, k_shot=1, n_query=5,
                                   episodes=100, seed=9)
    torch.manual_seed(0)
    net = fs.PrototypicalNet(nn.Linear(20, 8))
    before = fs.episode_accuracies(net, test_tasks).mean()
    loader = torch.utils.data.DataLoader(tasks, batch_size=4, collate_fn=fs.collate_episodes)
    history = tlc.train.fit(net, loader, num_epochs=1, lr=1e-2, progress=False)
    after = fs.episode_accuracies(net, test_tasks).mean()
    assert "train_acc" in history.epochs[-1]
    assert after > before + 0.15, (before, after)


def test_mean_ci_is_the_normal_interval_of_the_mean():
    values = np.random.default_rng(0).uniform(0.3, 0.9, 600)
    mean, half = fs.mean_ci(values)
    assert mean == pytest.approx(values.mean())
    assert half == pytest.approx(stats.norm.ppf(0.975) * stats.sem(values), rel=1e-9)
    assert fs.mean_ci(values, 0.99)[1] == pytest.approx(stats.norm.ppf(0.995) * stats.sem(values))
    with pytest.raises(ValueError, match="at least two values"):
        fs.mean_ci([0.5])
