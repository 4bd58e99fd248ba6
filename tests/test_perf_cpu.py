"""CPU defaults: how many threads, and channels_last on a CPU (see benchmarks/RESULTS.md)."""

import torch

from tlcourse import env


def test_one_core_is_left_free(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert [env.default_threads(c) for c in (1, 2, 4, 16)] == [1, 1, 3, 15]


def test_omp_num_threads_wins(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert env.default_threads(2) == 3
    monkeypatch.setenv("OMP_NUM_THREADS", "")  # unset-like values fall back to the rule
    assert env.default_threads(4) == 3


def test_set_threads_applies_and_reports(monkeypatch):
    before = torch.get_num_threads()
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(env, "available_cores", lambda: 2)
    try:
        assert env.set_threads() == 1 == torch.get_num_threads()
        assert env.set_threads(2) == 2
    finally:
        torch.set_num_threads(before)


def test_setup_reports_the_threads_it_set(monkeypatch):
    before = torch.get_num_threads()
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(env, "available_cores", lambda: 4)
    try:
        info = env.setup(profile="offline", device="cpu", quiet=True)
        assert info.num_threads == 3 == torch.get_num_threads()
        assert "CPU threads : 3" in info.report()
    finally:
        torch.set_num_threads(before)


def test_channels_last_training_on_cpu_repeats_exactly():
    # fit now uses channels_last on CPUs by default; seeded runs must still repeat.
    from torch import nn
    from torch.utils.data import TensorDataset

    import tlcourse as tlc

    def run():
        torch.manual_seed(0)
        model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(),
                              nn.Conv2d(8, 8, 3, stride=2, groups=2), nn.AdaptiveAvgPool2d(1),
                              nn.Flatten(), nn.Linear(8, 2))
        g = torch.Generator().manual_seed(1)
        data = TensorDataset(torch.randn(64, 3, 16, 16, generator=g),
                             torch.randint(0, 2, (64,), generator=g))
        history = tlc.train.fit(model, tlc.data.make_loader(data, 16, shuffle=True),
                                num_epochs=2, device="cpu", progress=False, seed=3)
        assert model[0].weight.is_contiguous(memory_format=torch.channels_last)
        return history["train_loss"], [p.detach().clone() for p in model.parameters()]

    (loss_a, weights_a), (loss_b, weights_b) = run(), run()
    assert loss_a == loss_b
    assert all(torch.equal(a, b) for a, b in zip(weights_a, weights_b, strict=True))
