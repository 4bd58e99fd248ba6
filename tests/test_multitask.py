"""tlcourse.multitask: PCGrad against the paper's projection, uncertainty weighting against its
closed-form optimum, and multi-task batches through the one training loop."""

import math

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from tlcourse import multitask as mt
from tlcourse.train import evaluate, fit


def _two_task_reference(g1, g2):
    # Yu et al. 2020, eq. in Sec. 3 for two tasks: g_i - (g_i . g_j) / |g_j|^2 g_j if in conflict.
    def proj(a, b):
        d = float(a @ b)
        return a - d / float(b @ b) * b if d < 0 else a
    return proj(g1, g2), proj(g2, g1)


def test_pcgrad_matches_the_two_task_formula_and_leaves_agreeing_gradients_alone():
    g1, g2 = torch.tensor([1.0, 2.0, -1.0]), torch.tensor([-2.0, 0.5, 1.0])
    assert float(g1 @ g2) < 0
    p1, p2 = mt.pcgrad_project([g1, g2])
    r1, r2 = _two_task_reference(g1, g2)
    torch.testing.assert_close(p1, r1)
    torch.testing.assert_close(p2, r2)
    assert abs(float(p1 @ g2)) < 1e-6 and abs(float(p2 @ g1)) < 1e-6  # conflict removed
    a, b = torch.tensor([1.0, 0.0]), torch.tensor([1.0, 1.0])
    torch.testing.assert_close(mt.pcgrad_project([a, b]), [a, b])      # no conflict: unchanged


def test_pcgrad_with_three_tasks_follows_algorithm_1_in_the_generators_order():
    torch.manual_seed(0)
    grads = [torch.randn(6) for _ in range(3)]
    grads[2] = -grads[0] + 0.1 * torch.randn(6)           # a strong conflict
    out = mt.pcgrad_project(grads, torch.Generator().manual_seed(5))
    order = torch.Generator().manual_seed(5)
    for i, g in enumerate(grads):
        expect = g.clone()
        for j in [j for j in torch.randperm(3, generator=order).tolist() if j != i]:
            d = float(expect @ grads[j])
            if d < 0:
                expect = expect - d / float(grads[j] @ grads[j]) * grads[j]
        torch.testing.assert_close(out[i], expect)
    assert not torch.equal(out[0], grads[0]) and not torch.equal(out[2], grads[2])


def _toy(n=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 5, generator=g)
    return x, (x[:, 0] > 0).long(), (x[:, 1] + x[:, 2] > 0).long()


def _model(seed=0):
    torch.manual_seed(seed)
    return mt.MultiTaskModel(nn.Sequential(nn.Linear(5, 8), nn.Tanh()),
                             {"a": nn.Linear(8, 2), "b": nn.Linear(8, 2)})


def _loader(x, y, batch_size=16, shuffle=False):
    return DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=shuffle)


def test_a_pcgrad_step_in_fit_moves_the_shared_layers_by_the_projected_sum():
    x, ya, yb = _toy(16)
    model = _model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    shared = list(model.encoder.parameters())
    out = model(a=x, b=x)
    losses = [nn.functional.cross_entropy(out["a"], ya), nn.functional.cross_entropy(out["b"], yb)]
    grads = [torch.cat([g.reshape(-1) for g in torch.autograd.grad(loss, shared,
                                                                     retain_graph=True)])
             for loss in losses]
    expect = sum(_two_task_reference(*grads))
    head_a = torch.autograd.grad(losses[0], list(model.heads["a"].parameters()))
    loader = mt.TaskLoader({"a": _loader(x, ya), "b": _loader(x, yb)})
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    fit(model, loader, num_epochs=1, optimizer=optimizer, task_gradients=mt.PCGrad(model.encoder),
        progress=False, channels_last=False)
    moved = torch.cat([(before[f"encoder.{k}"] - v).reshape(-1)
                       for k, v in model.encoder.state_dict().items()])
    torch.testing.assert_close(moved, expect)
    torch.testing.assert_close(before["heads.a.weight"] - model.heads["a"].weight.detach(),
                               head_a[0])


def test_uncertainty_weighting_follows_eq_10_and_learns_its_optimum():
    uw = mt.UncertaintyWeighting(["a", "b"])
    with torch.no_grad():
        uw.log_vars.copy_(torch.tensor([0.5, -1.0]))
    terms = uw({"a": torch.tensor(2.0), "b": torch.tensor(0.25)})
    terms = {k: v.detach() for k, v in terms.items()}
    assert float(terms["a"]) == pytest.approx(math.exp(-0.5) * 2.0 + 0.25)
    assert float(terms["b"]) == pytest.approx(math.exp(1.0) * 0.25 - 0.5)
    # d/ds [exp(-s) L + s/2] = 0 at exp(-s) = 1 / (2 L): a noisy task (L = 2.3) gets a small
    # weight, a learnt one (L = 0.05) a large one.
    uw = mt.UncertaintyWeighting(["noisy", "learnt"])
    opt = torch.optim.Adam(uw.parameters(), lr=0.05)
    for _ in range(2000):
        opt.zero_grad()
        sum(uw({"noisy": torch.tensor(2.3), "learnt": torch.tensor(0.05)}).values()).backward()
        opt.step()
    weights = uw.weights()
    assert weights["noisy"] == pytest.approx(1 / 4.6, rel=1e-3)
    assert weights["learnt"] == pytest.approx(10.0, rel=1e-3)


def test_one_task_through_the_multitask_path_trains_exactly_like_a_plain_model():
    x, ya, _ = _toy()
    torch.manual_seed(1)
    plain = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 2))
    multi = mt.MultiTaskModel(nn.Sequential(nn.Linear(5, 8), nn.Tanh()), {"a": nn.Linear(8, 2)})
    multi.load_state_dict({"encoder.0.weight": plain[0].weight, "encoder.0.bias": plain[0].bias,
                           "heads.a.weight": plain[2].weight, "heads.a.bias": plain[2].bias})
    h1 = fit(plain, _loader(x, ya, shuffle=True), _loader(x, ya), num_epochs=3, lr=0.05, seed=3,
             progress=False)
    h2 = fit(multi, mt.TaskLoader({"a": _loader(x, ya, shuffle=True)}),
             mt.TaskLoader({"a": _loader(x, ya)}, mode="each"), num_epochs=3, lr=0.05, seed=3,
             progress=False)
    assert h1["train_loss"] == h2["train_loss"] and h1["val_acc"] == h2["val_acc"]
    assert h2["val_acc/a"] == h2["val_acc"] and h2["train_acc/a"] == h2["train_acc"]
    torch.testing.assert_close(plain[2].weight, multi.heads["a"].weight)


@pytest.mark.outcomes
def test_two_tasks_learn_together_and_report_per_task_accuracy():
    x, ya, yb = _toy(256)
    model = _model()
    train = mt.TaskLoader({"a": _loader(x, ya, 32, True), "b": _loader(x[:64], yb[:64], 32, True)})
    assert len(train) == 8                      # the longest loader; task b cycles
    val = mt.TaskLoader({"a": _loader(x, ya), "b": _loader(x, yb)}, mode="each")
    history = fit(model, train, val, num_epochs=15, lr=0.02, seed=0, progress=False,
                  task_weights={"b": 2.0})
    scores = evaluate(model, val)
    assert scores["acc/a"] > 0.9 and scores["acc/b"] > 0.8, scores
    assert scores["acc"] == pytest.approx((scores["acc/a"] + scores["acc/b"]) / 2)
    assert history.last("val_acc/a") == pytest.approx(scores["acc/a"])
    assert {"train_acc/a", "train_acc/b"} <= set(history.epochs[-1])


def test_learned_task_weights_train_with_the_model_and_resume_exactly(tmp_path):
    x, ya, yb = _toy(64)

    def run(epochs, resume=False):
        model, uw = _model(), mt.UncertaintyWeighting(["a", "b"])
        loader = mt.TaskLoader({"a": _loader(x, ya, 16, True), "b": _loader(x, yb, 16, True)})
        fit(model, loader, num_epochs=epochs, lr=0.05, seed=0, progress=False, task_weights=uw,
            checkpoint=tmp_path / "ckpt.pt", resume=resume)
        return model, uw

    _, partial = run(2)
    assert partial.log_vars.abs().sum() > 0            # the weights were trained
    resumed_model, resumed = run(4, resume=True)
    (tmp_path / "ckpt.pt").unlink()
    full_model, full = run(4)
    torch.testing.assert_close(resumed.log_vars, full.log_vars, rtol=0, atol=0)
    torch.testing.assert_close(resumed_model.heads["b"].weight, full_model.heads["b"].weight,
                               rtol=0, atol=0)


def test_gradient_cosine_records_the_cosine_of_the_shared_gradients():
    x, ya, yb = _toy(16)
    model = _model()
    out = model(a=x, b=x)
    shared = list(model.encoder.parameters())
    ga, gb = (torch.cat([g.reshape(-1) for g in torch.autograd.grad(
        nn.functional.cross_entropy(out[t], y), shared)]) for t, y in (("a", ya), ("b", yb)))
    cosine = mt.GradientCosine(model.encoder, every=2)
    loader = mt.TaskLoader({"a": _loader(x, ya), "b": _loader(x, yb)}, steps=3)
    fit(model, loader, num_epochs=1, optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
        task_gradients=cosine, progress=False, channels_last=False)
    assert [r["step"] for r in cosine.records] == [0, 2]
    assert cosine.records[0]["a/b"] == pytest.approx(
        float(nn.functional.cosine_similarity(ga, gb, dim=0)), abs=1e-6)


def test_bad_multitask_input_says_what_was_wrong():
    model = _model()
    with pytest.raises(KeyError, match="no head for task"):
        model(c=torch.zeros(1, 5))
    with pytest.raises(ValueError, match="at least one head"):
        mt.MultiTaskModel(nn.Identity(), {})
    with pytest.raises(KeyError, match="task_weights names"):
        mt.weigh({"c": 2.0}, {"a": torch.tensor(1.0)})
    with pytest.raises(ValueError, match="mode must be"):
        mt.TaskLoader({"a": [1]}, mode="both")
    with pytest.raises(ValueError, match="has no batches"):
        mt.TaskLoader({"a": []})
    x, ya, _ = _toy(16)
    with pytest.raises(ValueError, match="do not combine"):
        fit(model, mt.TaskLoader({"a": _loader(x, ya)}), num_epochs=1, progress=False,
            penalty=lambda m, x, out: 0.0, task_gradients=mt.PCGrad(model.encoder))


def test_the_exercise_checks_accept_the_solutions_and_explain_the_usual_mistakes(capsys):
    from tlcourse.exercises import ex07

    def project(g1, g2):
        dot = torch.dot(g1, g2)
        if dot >= 0:
            return g1, g2
        return g1 - dot / torch.dot(g2, g2) * g2, g2 - dot / torch.dot(g1, g1) * g1

    def always_project(g1, g2):                       # forgets the "only if in conflict"
        dot = torch.dot(g1, g2)
        return g1 - dot / torch.dot(g2, g2) * g2, g2 - dot / torch.dot(g1, g1) * g1

    assert ex07.check_project(project, strict=True)
    assert not ex07.check_project(always_project)
    assert "return both unchanged" in capsys.readouterr().out
    assert not ex07.check_project(lambda g1, g2: g1)
    assert "a pair of tensors" in capsys.readouterr().out

    assert ex07.check_uw_objective(lambda L, s: (torch.exp(-s) * L + s / 2).sum(), strict=True)
    assert not ex07.check_uw_objective(lambda L, s: (torch.exp(-s) * L + s).sum())
    assert "s / 2" in capsys.readouterr().out
    with pytest.raises(AssertionError):
        ex07.check_uw_objective(lambda L, s: (L / s.exp()).sum(), strict=True)

    assert ex07.check_uw_weight(1.0, loss=0.5, strict=True)
    assert not ex07.check_uw_weight(2.0, loss=0.5)
    assert not ex07.check_uw_weight(None, loss=0.5)
    assert "the answer is None" in capsys.readouterr().out
    assert not ex07.check_uw_weight("half", loss=0.5)
