"""The GPU code paths of fit/predict/extract, exercised on a CPU.

Out-of-memory is simulated by a model that raises ``torch.OutOfMemoryError`` (what CUDA
raises) when a batch is larger than it "fits"; mixed precision, the gradient scaler and
channels_last are checked by monkeypatching what the device reports.
"""

import warnings

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import tlcourse as tlc
from tlcourse import accel, features, train
from tlcourse.train import OutOfMemoryError, fit, predict, shrink_loader


def _blobs(n=200, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 2
    return TensorDataset(torch.randn(n, 4, generator=g) + 2.5 * y[:, None].float(), y)


class Fits(nn.Module):
    """An MLP that 'runs out of GPU memory' on batches larger than ``limit``.

    ``when(model)`` decides whether the limit applies now (default: always).
    """

    def __init__(self, limit, when=None, seed=0):
        super().__init__()
        torch.manual_seed(seed)
        self.net = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 2))
        self.limit, self.when, self.calls = limit, when, 0

    def forward(self, x):
        self.calls += 1
        if len(x) > self.limit and (self.when is None or self.when(self)):
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return self.net(x)


def _rows(history):
    return [{k: v for k, v in row.items() if k != "seconds"} for row in history.epochs]


def _weights(model):
    return [p.detach().clone() for p in model.parameters()]


def _fit_quietly(*args, **kwargs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = fit(*args, progress=False, device="cpu", oom_retry=True, **kwargs)
    return history, [str(w.message) for w in caught]


@pytest.mark.outcomes
def test_oom_halves_the_batch_and_matches_a_run_at_that_size():
    val = tlc.data.make_loader(_blobs(80, seed=1), 80)
    big = Fits(limit=1000)
    oom = Fits(limit=8, when=lambda m: m.training)  # validation batches (80) fit
    history, messages = _fit_quietly(oom, tlc.data.make_loader(_blobs(), 32, shuffle=True),
                                     val, num_epochs=3, lr=0.05, seed=3)
    oom_messages = [m for m in messages if "out of memory" in m]
    assert oom_messages == [
        "CUDA out of memory at batch size 32 while training epoch 1; retrying with batch size 16.",
        "CUDA out of memory at batch size 16 while training epoch 1; retrying with batch size 8."]
    assert history.batch_size == 8 and len(history) == 3
    assert history.last("val_acc") >= 0.95
    # A run given batch size 8 from the start: the same numbers, to the last bit.
    reference, messages = _fit_quietly(big, tlc.data.make_loader(_blobs(), 8, shuffle=True),
                                       val, num_epochs=3, lr=0.05, seed=3)
    assert not [m for m in messages if "out of memory" in m]
    assert _rows(history) == _rows(reference)
    assert all(torch.equal(a, b) for a, b in zip(_weights(oom), _weights(big), strict=True))


def test_an_epoch_that_fails_halfway_is_undone_before_the_retry():
    # Batches of 16 fit in epoch 1; in epoch 2 memory is short after 3 batches, when
    # three optimizer steps (weights, Adam moments) and BatchNorm-free updates happened.
    state = {"epoch2_batches": 0}

    def short_of_memory(model):
        if model.training and model.calls > 13:  # 13 batches of 16 = epoch 1
            state["epoch2_batches"] += 1
            return state["epoch2_batches"] > 3
        return False

    model = Fits(limit=8, when=short_of_memory)
    data = _blobs()
    opt = torch.optim.AdamW(model.parameters(), lr=0.05)
    tlc.seed_everything(5)
    history, messages = _fit_quietly(model, tlc.data.make_loader(data, 16, shuffle=True),
                                     num_epochs=2, optimizer=opt)
    assert [m for m in messages if "out of memory" in m] == [
        "CUDA out of memory at batch size 16 while training epoch 2; retrying with batch size 8."]
    # Reference: epoch 1 at 16, then epoch 2 at 8 from the state epoch 1 left.
    ref = Fits(limit=1000)
    ref_opt = torch.optim.AdamW(ref.parameters(), lr=0.05)
    tlc.seed_everything(5)
    loader16 = tlc.data.make_loader(data, 16, shuffle=True)
    first, _ = _fit_quietly(ref, loader16, num_epochs=1, optimizer=ref_opt)
    loader8 = DataLoader(data, batch_size=8, sampler=loader16.sampler,
                         generator=loader16.generator)
    second, _ = _fit_quietly(ref, loader8, num_epochs=1, optimizer=ref_opt)
    assert _rows(history)[0] == _rows(first)[0]
    assert {k: v for k, v in _rows(history)[1].items() if k != "epoch"} == \
        {k: v for k, v in _rows(second)[0].items() if k != "epoch"}
    assert all(torch.equal(a, b) for a, b in zip(_weights(model), _weights(ref), strict=True))


def test_the_schedule_keeps_its_length_after_the_batch_is_halved():
    def run(limit):
        tlc.seed_everything(0)
        model = Fits(limit=limit)
        history, _ = _fit_quietly(model, tlc.data.make_loader(_blobs(), 32, shuffle=True),
                                  num_epochs=3, lr=0.05, scheduler="onecycle")
        return history

    plain, halved = run(1000), run(16)
    assert halved.batch_size == 16
    # OneCycleLR raises if stepped past its total; the lr at each epoch's end is the same.
    assert halved["lr"] == pytest.approx(plain["lr"], rel=1e-9)
    assert halved["lr"][-1] < 0.01 * max(halved["lr"])


def test_out_of_memory_at_batch_size_one_is_a_clear_error():
    model = Fits(limit=0)
    loader = tlc.data.make_loader(_blobs(20), 4)
    with pytest.warns(UserWarning) as caught, \
            pytest.raises(OutOfMemoryError, match=r"even with batch size 1.*smaller backbone"):
        fit(model, loader, num_epochs=1, device="cpu", progress=False, oom_retry=True)
    assert [str(w.message).split("retrying with ")[1] for w in caught
            if "out of memory" in str(w.message)] == ["batch size 2.", "batch size 1."]


def test_a_loader_without_batch_size_cannot_shrink_and_says_so():
    sampler = torch.utils.data.BatchSampler(range(20), batch_size=4, drop_last=False)
    loader = DataLoader(_blobs(20), batch_sampler=sampler)
    with pytest.raises(OutOfMemoryError, match="no batch_size to halve"):
        fit(Fits(limit=2), loader, num_epochs=1, device="cpu", progress=False, oom_retry=True)


def test_shrink_loader_keeps_the_settings():
    def collate(items):
        return torch.utils.data.default_collate(items)

    data = _blobs(30)
    loader = tlc.data.make_loader(data, 10, shuffle=True, seed=4, drop_last=True,
                                  collate_fn=collate)
    with pytest.warns(UserWarning, match="retrying with batch size 5"):
        smaller = shrink_loader(loader, "testing")
    assert smaller.batch_size == 5 and smaller.dataset is data
    assert smaller.sampler is loader.sampler and smaller.generator is loader.generator
    assert smaller.drop_last and smaller.collate_fn is collate
    assert smaller.num_workers == loader.num_workers and not smaller.pin_memory


@pytest.mark.outcomes
def test_validation_and_predict_halve_their_batch_too():
    model = Fits(limit=16)
    val = tlc.data.make_loader(_blobs(80, seed=1), 64)
    with pytest.warns(UserWarning) as caught:
        logits, targets = predict(model, val, device="cpu")
    assert [str(w.message)[-49:] for w in caught] == [
        "64 while predicting; retrying with batch size 32.",
        "32 while predicting; retrying with batch size 16."]
    with torch.no_grad():
        expected = model.net(val.dataset.tensors[0])
    torch.testing.assert_close(logits, expected)
    assert torch.equal(targets, val.dataset.tensors[1])
    # In fit the smaller validation loader is kept: one warning per halving, not per epoch.
    history, messages = _fit_quietly(model, tlc.data.make_loader(_blobs(), 16), val,
                                     num_epochs=3, lr=0.05)
    assert len([m for m in messages if "predicting" in m]) == 2
    assert history.last("val_acc") >= 0.95


def test_extract_halves_the_batch_and_gets_the_same_features(tmp_path):
    data = TensorDataset(torch.randn(24, 4), torch.arange(24) % 3)
    model = Fits(limit=6)
    with pytest.warns(UserWarning) as caught:
        feats, targets = features.extract(model, data, batch_size=24, cache=False,
                                          progress=False, device="cpu")
    # (on a GPU machine the loader may warn about other things too: only the halvings count)
    assert [str(w.message).split("; ")[1] for w in caught if "retrying" in str(w.message)] == [
        "retrying with batch size 12.", "retrying with batch size 6."]
    with torch.no_grad():
        torch.testing.assert_close(feats, model.net(data.tensors[0]))
    assert torch.equal(targets, data.tensors[1])


def test_extract_uses_large_batches_under_inference_mode(monkeypatch):
    seen = []

    class Probe(nn.Module):
        def forward(self, x):
            seen.append((len(x), torch.is_inference_mode_enabled()))
            return x.flatten(1)

    data = TensorDataset(torch.randn(300, 2), torch.zeros(300, dtype=torch.long))
    features.extract(Probe(), data, cache=False, progress=False, device="cpu")
    assert seen == [(16, True)] * 18 + [(12, True)]
    assert features.BATCH_SIZE == {"cuda": 256, "mps": 64, "cpu": 16}


# --- torch.compile ---------------------------------------------------------------------

def test_compile_is_used_for_training_when_asked(monkeypatch):
    calls = []

    def fake_compile(model):
        def compiled(x):
            calls.append(len(x))
            return model(x)
        return compiled

    monkeypatch.setattr(torch, "compile", fake_compile)
    loader = tlc.data.make_loader(_blobs(), 50)
    history, _ = _fit_quietly(Fits(1000), loader, num_epochs=2, lr=0.05, compile=True)
    assert calls == [50] * 8  # every training batch went through the compiled model
    plain, _ = _fit_quietly(Fits(1000), loader, num_epochs=2, lr=0.05)
    assert _rows(history) == _rows(plain)


@pytest.mark.parametrize("where", ["at compile()", "at the first call"])
def test_a_failing_compile_warns_and_trains_without_it(monkeypatch, where):
    def broken(model):
        if where == "at compile()":
            raise RuntimeError("Dynamo is not supported on this Python")

        def compiled(x):
            raise RuntimeError("backend='inductor' raised: no C++ compiler found")
        return compiled

    monkeypatch.setattr(torch, "compile", broken)
    loader = tlc.data.make_loader(_blobs(), 50)
    history, messages = _fit_quietly(Fits(1000), loader, num_epochs=2, lr=0.05, compile=True)
    failed = [m for m in messages if "torch.compile failed" in m]
    assert len(failed) == 1 and "RuntimeError" in failed[0]
    plain, _ = _fit_quietly(Fits(1000), loader, num_epochs=2, lr=0.05)
    assert _rows(history) == _rows(plain)


# --- mixed precision, gradient scaler, channels_last ---------------------------------

@pytest.mark.parametrize(("bf16", "expected"), [(True, torch.bfloat16), (False, torch.float16)])
def test_amp_dtype_is_bf16_where_supported_else_fp16(monkeypatch, bf16, expected):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16)
    assert accel.amp_dtype(torch.device("cuda"), "auto") is expected
    assert accel.amp_dtype(torch.device("cuda"), True) is expected
    assert accel.amp_dtype(torch.device("cuda"), False) is None
    assert accel.amp_dtype(torch.device("cpu"), True) is None


@pytest.mark.parametrize(("dtype", "scaled"), [(torch.float16, True), (torch.bfloat16, False)])
@pytest.mark.outcomes
def test_fp16_trains_through_a_gradient_scaler_and_bf16_without(monkeypatch, dtype, scaled):
    # Pretend the CPU is a GPU that chose ``dtype``: autocast and the scaler then run for real.
    scalers = []

    class Spy(torch.amp.GradScaler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.scaled = 0
            scalers.append(self)

        def scale(self, outputs):
            self.scaled += self.is_enabled()
            return super().scale(outputs)

    monkeypatch.setattr(train, "amp_dtype", lambda device, amp="auto": dtype)
    monkeypatch.setattr(torch.amp, "GradScaler", Spy)
    dtypes = []
    model = Fits(1000)
    model.register_forward_hook(lambda m, i, out: dtypes.append(out.dtype))
    loader = tlc.data.make_loader(_blobs(), 32, shuffle=True)
    val = tlc.data.make_loader(_blobs(80, seed=1), 80)
    history, _ = _fit_quietly(model, loader, val, num_epochs=4, lr=0.05)
    (scaler,) = scalers
    assert scaler.is_enabled() is scaled
    assert scaler.scaled == (4 * 7 if scaled else 0)
    assert scaler.get_scale() == (2.0**16 if scaled else 1.0)  # no overflow: scale kept
    assert set(dtypes) == {dtype}
    assert history.last("val_acc") >= 0.95


def test_channels_last_is_the_default_on_cuda_and_cpu_not_mps():
    use = accel._use_channels_last
    assert use(torch.device("cuda"), "auto") and use(torch.device("cpu"), "auto")
    assert not use(torch.device("mps"), "auto") and not use(torch.device("cuda"), False)
    x, _ = accel._to((torch.randn(2, 3, 5, 5), torch.tensor([0, 1])), torch.device("cpu"), True)
    assert x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()


@pytest.mark.parametrize("channels_last", ["auto", False])
def test_fit_converts_a_cnn_to_channels_last_on_cpu(channels_last):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                          nn.Linear(4, 2))
    data = TensorDataset(torch.randn(16, 3, 10, 10), torch.tensor([0, 1] * 8))
    fit(model, tlc.data.make_loader(data, 8), num_epochs=1, device="cpu", progress=False,
        channels_last=channels_last)
    weight = model[0].weight
    assert weight.is_contiguous(memory_format=torch.channels_last) is (channels_last == "auto")


# --- on a real GPU (skipped without one) ------------------------------------------------

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.mark.gpu
@cuda
def test_on_cuda_fit_uses_amp_channels_last_and_undoes_an_oom_epoch():
    dtypes = []

    class Net(nn.Module):
        def __init__(self, limit):
            super().__init__()
            torch.manual_seed(0)
            self.conv, self.head, self.limit = nn.Conv2d(3, 8, 3), nn.Linear(8, 2), limit

        def forward(self, x):
            if self.training and len(x) > self.limit:
                raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
            dtypes.append((x.is_contiguous(memory_format=torch.channels_last), x.dtype))
            out = self.head(self.conv(x).mean((2, 3)))
            dtypes.append(out.dtype)
            return out

    g = torch.Generator().manual_seed(0)
    y = torch.arange(96) % 2
    x = torch.randn(96, 3, 12, 12, generator=g) + y[:, None, None, None].float()
    data = TensorDataset(x, y)

    def run(batch, limit):
        model = Net(limit)
        tlc.seed_everything(0)
        loader = tlc.data.make_loader(data, batch, shuffle=True, device="cuda", num_workers=0)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            history = fit(model, loader, loader, num_epochs=3, lr=0.05, device="cuda",
                          progress=False)
        return model, history, [str(w.message) for w in caught if "out of memory" in str(w)]

    model, history, messages = run(32, 8)
    assert messages[-1].endswith("retrying with batch size 8.") and history.batch_size == 8
    assert model.conv.weight.is_contiguous(memory_format=torch.channels_last)
    expected = accel.amp_dtype(torch.device("cuda"))
    assert (True, torch.float32) in dtypes and expected in dtypes
    reference, ref_history, _ = run(8, 1000)
    assert history["train_loss"] == pytest.approx(ref_history["train_loss"], rel=1e-3)
    for a, b in zip(model.parameters(), reference.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-4)


def test_on_a_cpu_fit_takes_no_snapshot_and_an_out_of_memory_error_goes_through(monkeypatch):
    # A CPU's allocator fails with a RuntimeError, never torch.OutOfMemoryError, so "auto"
    # spends nothing on copies for retries there; a (simulated) one is raised as it is.
    import tlcourse.train as train_module

    calls = []
    monkeypatch.setattr(train_module, "_snapshot", lambda *a: calls.append(1) or (lambda: None))
    loader = tlc.data.make_loader(TensorDataset(torch.randn(8, 4), torch.arange(8) % 2), 8)
    fit(nn.Linear(4, 2), loader, num_epochs=2, device="cpu", progress=False)
    assert calls == []
    with pytest.raises(OutOfMemoryError, match="CUDA out of memory"):
        fit(Fits(limit=2), loader, num_epochs=1, device="cpu", progress=False)
    fit(nn.Linear(4, 2), loader, num_epochs=2, device="cpu", progress=False, oom_retry=True)
    assert calls == [1, 1]
