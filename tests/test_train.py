"""fit / evaluate / predict: learning, exact repeatability, and clear errors."""

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

import tlcourse as tlc
from tlcourse.train import amp_dtype, evaluate, fit, predict


def _blobs(n=200, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 2
    x = torch.randn(n, 4, generator=g) + 2.5 * y[:, None].float()
    return TensorDataset(x, y)


def _loaders(seed=0):
    train = tlc.data.make_loader(_blobs(seed=seed), 32, shuffle=True, seed=seed)
    val = tlc.data.make_loader(_blobs(80, seed=seed + 100), 64)
    return train, val


def _model(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 2))


@pytest.mark.outcomes
def test_fit_learns_a_separable_problem():
    train, val = _loaders()
    history = fit(_model(), train, val, num_epochs=5, lr=0.05, device="cpu", progress=False)
    assert len(history) == 5
    assert history.last("val_acc") >= 0.95
    assert history["train_loss"][-1] < history["train_loss"][0]
    assert set(history.epochs[0]) >= {"train_loss", "train_acc", "val_loss", "val_acc", "lr"}


def test_same_seed_gives_identical_history_and_weights():
    runs = []
    for _ in range(2):
        train, val = _loaders()
        model = _model(seed=1)
        history = fit(model, train, val, num_epochs=3, lr=0.01, device="cpu", seed=7,
                      progress=False)
        runs.append(([{k: v for k, v in e.items() if k != "seconds"} for e in history.epochs],
                     [p.detach().clone() for p in model.parameters()]))
    assert runs[0][0] == runs[1][0]
    assert all(torch.equal(a, b) for a, b in zip(runs[0][1], runs[1][1], strict=True))


def test_evaluate_matches_a_direct_computation():
    _, val = _loaders()
    model = _model()
    x, y = val.dataset.tensors
    with torch.no_grad():
        logits = model(x)
    expected_loss = nn.functional.cross_entropy(logits, y).item()
    expected_acc = (logits.argmax(1) == y).float().mean().item()
    result = evaluate(model, val, device="cpu")
    assert result["loss"] == pytest.approx(expected_loss, abs=1e-6)
    assert result["acc"] == pytest.approx(expected_acc)
    out, targets = predict(model, val, device="cpu")
    assert torch.allclose(out, logits, atol=1e-6) and torch.equal(targets, y)


def test_frozen_parameters_do_not_change():
    train, _ = _loaders()
    model = _model()
    tlc.models.freeze(model[0])
    before = model[0].weight.detach().clone()
    fit(model, train, num_epochs=1, lr=0.1, device="cpu", progress=False)
    assert torch.equal(model[0].weight, before)


def test_all_frozen_is_a_clear_error():
    train, _ = _loaders()
    with pytest.raises(ValueError, match="frozen"):
        fit(tlc.models.freeze(_model()), train, num_epochs=1, device="cpu", progress=False)


def test_exploding_learning_rate_names_the_likely_cause():
    train, _ = _loaders()
    with pytest.raises(FloatingPointError, match="learning rate"):
        fit(_model(), train, num_epochs=3, lr=1e30, device="cpu", progress=False)


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_bad_epoch_counts_are_refused(bad):
    train, _ = _loaders()
    with pytest.raises(ValueError, match="num_epochs"):
        fit(_model(), train, num_epochs=bad, device="cpu", progress=False)


def test_channels_last_gives_the_same_numbers_on_cpu():
    torch.manual_seed(0)
    conv = nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(4, 2))
    data = TensorDataset(torch.randn(8, 3, 10, 10), torch.tensor([0, 1] * 4))
    loader = tlc.data.make_loader(data, 4)
    plain, _ = predict(conv, loader, device="cpu", channels_last=False)
    cl, _ = predict(conv, loader, device="cpu", channels_last=True)
    assert torch.allclose(plain, cl, atol=1e-5)


def test_mixed_precision_is_a_gpu_only_path():
    assert amp_dtype(torch.device("cpu"), "auto") is None
    assert amp_dtype(torch.device("cpu"), True) is None
    assert amp_dtype(torch.device("cuda"), False) is None


def test_training_metrics_are_the_means_over_the_epoch():
    # With a learning rate of 0 the model never changes, so the epoch's training loss and
    # accuracy are those of the model on the whole training set, with and without a penalty.
    train, _ = _loaders()
    model = _model()
    expected = evaluate(model, train, device="cpu")
    history = fit(model, train, num_epochs=2, device="cpu", progress=False,
                  optimizer=torch.optim.SGD(model.parameters(), lr=0.0),
                  penalty=lambda model, x, logits: 0.25 * x.abs().mean())
    x = train.dataset.tensors[0]
    assert history["train_loss"] == pytest.approx([expected["loss"]] * 2, rel=1e-5)
    assert history["train_acc"] == pytest.approx([expected["acc"]] * 2)
    assert history["penalty"] == pytest.approx([0.25 * x.abs().mean().item()] * 2, rel=1e-5)
