"""Fine-tuning helpers: parameter groups, stages, unfreezing, BatchNorm modes, L2-SP, LwF."""

import copy

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

import tlcourse as tlc
from tlcourse import regularize
from tlcourse.models import (
    GradualUnfreezing,
    get_head,
    param_groups,
    set_bn_eval,
    stages,
    unfreeze_last,
)


@pytest.fixture(scope="module")
def lite0():
    return tlc.models.replace_head(tlc.models.load_backbone("efficientnet_lite0",
                                                           pretrained=False), 10)


@pytest.fixture
def net(lite0):
    return copy.deepcopy(lite0)


def _trainable(blocks):
    return [all(p.requires_grad for p in b.parameters()) for b in blocks]


def _frozen(blocks):
    return [not any(p.requires_grad for p in b.parameters()) for b in blocks]


def test_param_groups_split_head_and_backbone_at_the_given_ratio(net):
    groups = param_groups(net, head_lr=3e-3, backbone_lr_mult=0.1)
    assert [g["name"] for g in groups] == ["head", "backbone"]
    assert groups[0]["lr"] == 3e-3 and groups[1]["lr"] == pytest.approx(3e-4)
    head_ids = {id(p) for p in get_head(net).parameters()}
    assert {id(p) for p in groups[0]["params"]} == head_ids
    all_ids = [id(p) for g in groups for p in g["params"]]
    assert sorted(all_ids) == sorted(id(p) for p in net.parameters())  # each exactly once
    optimizer = torch.optim.AdamW(groups)
    assert [g["lr"] for g in optimizer.param_groups] == [3e-3, pytest.approx(3e-4)]


def test_param_groups_can_leave_out_frozen_parameters(net):
    unfreeze_last(net, 1)
    groups = param_groups(net, 1e-2, trainable_only=True)
    expected = sum(p.numel() for p in net.parameters() if p.requires_grad)
    assert sum(p.numel() for g in groups for p in g["params"]) == expected
    with pytest.raises(ValueError, match="head_lr"):
        param_groups(net, 0.0)


def test_stages_cover_the_backbone_shallow_to_deep(net):
    blocks = stages(net)
    assert len(blocks) == 9  # stem, 7 stages, conv head
    in_stages = {id(p) for b in blocks for p in b.parameters()}
    head = {id(p) for p in get_head(net).parameters()}
    assert in_stages | head == {id(p) for p in net.parameters()} and not in_stages & head
    # shallow to deep: spatial size shrinks along the feature maps
    sizes = [m.shape[-1] for m in net.feature_maps(torch.zeros(1, 3, 64, 64))]
    assert sizes == sorted(sizes, reverse=True)


def test_stages_of_a_torchvision_resnet():
    resnet = tlc.models.load_backbone("resnet18", pretrained=False)
    blocks = stages(resnet)
    assert len(blocks) == 5 and blocks[-1] is resnet.layer4
    with pytest.raises(ValueError, match="stages"):
        stages(nn.Sequential(nn.Linear(2, 2)))


@pytest.mark.parametrize("n", [0, 2, 9])
def test_unfreeze_last_trains_the_head_and_the_last_n_blocks(net, n):
    unfreeze_last(net, n)
    blocks = stages(net)
    assert _trainable(blocks[9 - n:]) == [True] * n
    assert _frozen(blocks[:9 - n]) == [True] * (9 - n)
    assert all(p.requires_grad for p in get_head(net).parameters())


def test_unfreeze_last_rejects_too_many_blocks(net):
    with pytest.raises(ValueError, match="0 to 9"):
        unfreeze_last(net, 10)


def test_gradual_unfreezing_adds_one_block_every_k_epochs(net):
    callback = GradualUnfreezing(every=2, max_stages=3)
    counts = []
    for epoch in range(10):
        callback.on_epoch_start(epoch, net)
        counts.append(sum(_trainable(stages(net))))
    assert counts == [0, 0, 1, 1, 2, 2, 3, 3, 3, 3]


def test_gradual_unfreezing_inside_fit_trains_deeper_blocks_later():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 2))
    model.stages = lambda: [model[0], model[2]]
    data = TensorDataset(torch.randn(32, 4), torch.arange(32) % 2)
    loader = tlc.data.make_loader(data, 8, shuffle=True)
    first = model[0].weight.detach().clone()
    second = model[2].weight.detach().clone()
    optimizer = torch.optim.AdamW(param_groups(model, 1e-2))
    tlc.train.fit(model, loader, num_epochs=1, optimizer=optimizer, device="cpu",
                  progress=False, callbacks=[GradualUnfreezing(every=1, start=1)])
    assert torch.equal(model[0].weight, first) and not torch.equal(model[2].weight, second)
    tlc.train.fit(model, loader, num_epochs=2, optimizer=optimizer, device="cpu",
                  progress=False, callbacks=[GradualUnfreezing(every=1, start=1)])
    assert not torch.equal(model[0].weight, first)


def test_set_bn_eval_only_touches_frozen_batchnorm(net):
    unfreeze_last(net, 2)
    net.train()
    count = set_bn_eval(net)
    bns = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
    frozen = [m for m in bns if not m.weight.requires_grad]
    assert count == len(frozen) > 0
    assert all(not m.training for m in frozen)
    assert all(m.training for m in bns if m.weight.requires_grad)
    assert set_bn_eval(net, frozen_only=False) == len(bns)


def test_frozen_bn_eval_keeps_running_statistics_during_fit():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))
    tlc.models.freeze(model[:2])
    data = TensorDataset(torch.randn(32, 3) * 5 + 3, torch.arange(32) % 2)
    loader = tlc.data.make_loader(data, 8)
    before = model[1].running_mean.clone()
    tlc.train.fit(model, loader, num_epochs=1, device="cpu", progress=False,
                  batchnorm="eval_frozen")
    assert torch.equal(model[1].running_mean, before)
    tlc.train.fit(model, loader, num_epochs=1, device="cpu", progress=False)
    assert not torch.equal(model[1].running_mean, before)  # train mode overwrites them


def test_l2_sp_matches_a_plain_reference():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    penalty = regularize.L2SP(model, alpha=0.3, beta=0.05)
    w0 = [p.detach().clone() for p in model[0].parameters()]
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p))
    shared = sum(((p - q) ** 2).sum() for p, q in zip(model[0].parameters(), w0, strict=True))
    head = (model[2].weight ** 2).sum() + (model[2].bias ** 2).sum()
    expected = 0.3 / 2 * shared + 0.05 / 2 * head
    got = penalty(model)
    assert got.item() == pytest.approx(expected.item(), rel=1e-6)
    got.backward()  # gradient alpha * (w - w0) for the shared weights
    assert torch.allclose(model[0].weight.grad, 0.3 * (model[0].weight - w0[0]), atol=1e-6)
    assert torch.allclose(model[2].weight.grad, 0.05 * model[2].weight, atol=1e-6)


def test_l2_sp_ignores_frozen_weights_and_is_zero_at_the_start():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    penalty = regularize.L2SP(model, alpha=1.0, beta=0.0)
    assert penalty(model).item() == 0.0
    with torch.no_grad():
        model[0].weight.add_(1.0)
    assert penalty(model).item() == pytest.approx(0.5 * 12)
    tlc.models.freeze(model[0])
    assert penalty(model).item() == 0.0


def _tiny(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(5, 6), nn.Tanh(), nn.Linear(6, 4))


def test_old_task_logits_and_drift_of_an_unchanged_network():
    model = _tiny()
    old_head = copy.deepcopy(get_head(model))
    x = torch.randn(7, 5)
    reference = model(x).detach()
    tlc.models.replace_head(model, 3)
    assert torch.allclose(regularize.old_task_logits(model, old_head, x), reference)
    result = regularize.drift(model, old_head, x, reference)
    assert result["agreement"] == 1.0 and result["kl"] == pytest.approx(0.0, abs=1e-6)


def test_drift_kl_matches_a_plain_reference():
    model = _tiny()
    old_head = copy.deepcopy(get_head(model))
    x = torch.randn(9, 5)
    reference = torch.randn(9, 4)
    current = regularize.old_task_logits(model, old_head, x).detach()
    p = reference.softmax(1)
    expected = (p * (p.log() - current.log_softmax(1))).sum(1).mean()
    agreement = (current.argmax(1) == reference.argmax(1)).float().mean()
    result = regularize.drift(model, old_head, x, reference)
    assert result["kl"] == pytest.approx(expected.item(), rel=1e-5)
    assert result["agreement"] == pytest.approx(agreement.item())


def test_lwf_is_zero_for_the_original_network_and_positive_after_a_change():
    teacher = _tiny()
    old_head = copy.deepcopy(get_head(teacher))
    student = tlc.models.replace_head(copy.deepcopy(teacher), 3)
    lwf = regularize.LwF(teacher, old_head, weight=1.0, temperature=2.0)
    x = torch.randn(8, 5)
    assert lwf(student, x).item() == pytest.approx(0.0, abs=1e-6)
    with torch.no_grad():
        student[0].weight.add_(0.5)
    loss = lwf(student, x)
    t = 2.0
    target = teacher(x).detach() / t
    current = old_head(torch.tanh(student[0](x))).detach() / t
    p = target.softmax(1)
    expected = t * t * (p * (p.log() - current.log_softmax(1))).sum(1).mean()
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5) and loss.item() > 0
    loss.backward()
    assert student[0].weight.grad is not None and old_head.weight.grad is None


def test_drift_monitor_adds_its_metrics_to_the_history():
    model = _tiny()
    old_head = copy.deepcopy(get_head(model))
    x = torch.randn(6, 5)
    reference = model(x).detach()
    tlc.models.replace_head(model, 2)
    data = TensorDataset(torch.randn(16, 5), torch.arange(16) % 2)
    history = tlc.train.fit(model, tlc.data.make_loader(data, 8), num_epochs=2, lr=0.05,
                            device="cpu", progress=False,
                            callbacks=[regularize.DriftMonitor(old_head, x, reference, "imnet")],
                            penalty=regularize.L2SP(model, alpha=0.1))
    assert len(history["imnet_agreement"]) == 2 and history["imnet_kl"][-1] > 0
    assert history["penalty"][0] >= 0


def test_batchnorm_eval_keeps_every_running_statistic_and_bad_modes_are_refused():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))
    data = TensorDataset(torch.randn(32, 3) * 5 + 3, torch.arange(32) % 2)
    loader = tlc.data.make_loader(data, 8)
    before = model[1].running_var.clone()
    weight = model[1].weight.detach().clone()
    tlc.train.fit(model, loader, num_epochs=1, lr=0.05, device="cpu", progress=False,
                  batchnorm="eval")
    assert torch.equal(model[1].running_var, before)
    assert not torch.equal(model[1].weight, weight)  # its scale still trains
    with pytest.raises(ValueError, match="batchnorm"):
        tlc.train.fit(model, loader, num_epochs=1, device="cpu", progress=False,
                      batchnorm="frozen")


def test_predict_returns_tensors_a_head_can_be_trained_on():
    model = nn.Linear(3, 4)
    data = TensorDataset(torch.randn(10, 3), torch.arange(10) % 2)
    features, targets = tlc.train.predict(model, tlc.data.make_loader(data, 4), device="cpu")
    assert not features.is_inference() and not targets.is_inference()
    head = nn.Linear(4, 2)
    nn.functional.cross_entropy(head(features), targets).backward()
    assert head.weight.grad is not None


def test_finetune_explorer_runs_headless_and_returns_the_default_run():
    import matplotlib

    matplotlib.use("Agg")
    from tlcourse.widgets import finetune_explorer

    data = TensorDataset(torch.randn(16, 4), torch.arange(16) % 2)
    loader = tlc.data.make_loader(data, 8)

    def build(n_blocks):
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
        model.stages = lambda: [model[0]]
        return unfreeze_last(model, n_blocks)

    history, fig = finetune_explorer(build, loader, loader, num_blocks=1, lr=0.01,
                                     num_epochs=2, max_blocks=1, interactive=False,
                                     device="cpu", progress=False)
    assert len(history) == 2 and "val_acc" in history.epochs[0]
    assert "1 blocks, lr 0.01" in fig.axes[0].get_legend_handles_labels()[1][0]
