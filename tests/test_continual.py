"""tlcourse.continual: the Fisher information against a per-example loop, EWC's penalty against
its formula, the accuracy-matrix metrics against hand computation, the replay buffer."""

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from tlcourse import continual as cl


def test_split_mnist_tasks_and_the_labels_each_scenario_trains_on():
    tasks = cl.split_classes(10, 2)
    assert tasks == [[0, 1], [2, 3], [4, 5], [6, 7], [8, 9]]
    y = torch.arange(10)
    assert cl.task_targets(y, tasks, "domain").tolist() == [0, 1] * 5
    assert torch.equal(cl.task_targets(y, tasks, "class"), y)
    assert torch.equal(cl.task_targets(y, tasks, "task"), y)
    with pytest.raises(ValueError, match="do not split"):
        cl.split_classes(10, 3)
    with pytest.raises(ValueError, match="scenario must be"):
        cl.task_targets(y, tasks, "instance")
    with pytest.raises(ValueError, match=r"classes \[8, 9\] are in no task"):
        cl.task_targets(y, tasks[:4], "domain")


def test_metrics_of_an_accuracy_matrix_match_the_definitions():
    r = [[0.9, 0.1, 0.2],
         [0.6, 0.8, 0.3],
         [0.5, 0.7, 0.95]]
    m = cl.continual_metrics(r, baseline=[0.1, 0.15, 0.25])
    assert m["acc"] == pytest.approx((0.5 + 0.7 + 0.95) / 3)
    assert m["bwt"] == pytest.approx(((0.5 - 0.9) + (0.7 - 0.8)) / 2)
    assert m["fwt"] == pytest.approx(((0.1 - 0.15) + (0.3 - 0.25)) / 2)
    assert "fwt" not in cl.continual_metrics(r)
    with pytest.raises(ValueError, match="T x T"):
        cl.continual_metrics([[1.0, 0.5]])
    with pytest.raises(ValueError, match="one accuracy per task"):
        cl.continual_metrics(r, baseline=[0.1, 0.2])


def _tiny(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 3), nn.Tanh(), nn.Linear(3, 3))


def _reference_fisher(model, x, y, labels):
    # One backward pass per example (and per class, weighted by the model's probability).
    total = {k: torch.zeros_like(p) for k, p in model.named_parameters()}
    for xi, yi in zip(x, y, strict=True):
        probs = torch.softmax(model(xi[None]), 1)[0].detach()
        classes = [(int(yi), 1.0)] if labels == "true" else [(k, float(probs[k])) for k in range(3)]
        for k, w in classes:
            model.zero_grad()
            torch.log_softmax(model(xi[None]), 1)[0, k].backward()
            for name, p in model.named_parameters():
                total[name] += w * p.grad ** 2
    return {k: v / len(x) for k, v in total.items()}


@pytest.mark.parametrize("labels", ["model", "true"])
def test_fisher_diagonal_matches_a_per_example_loop(labels):
    model = _tiny()
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(7, 4, generator=g), torch.randint(0, 3, (7,), generator=g)
    loader = DataLoader(TensorDataset(x, y), batch_size=3)
    fisher = cl.fisher_diagonal(model, loader, labels=labels)
    expected = _reference_fisher(model, x, y, labels)
    assert set(fisher) == set(expected)
    for k in expected:
        torch.testing.assert_close(fisher[k], expected[k], rtol=1e-5, atol=1e-7)
    first5 = cl.fisher_diagonal(model, loader, labels=labels, max_examples=5)
    torch.testing.assert_close(first5["2.weight"],
                               _reference_fisher(model, x[:5], y[:5], labels)["2.weight"])


def test_ewc_penalty_is_the_fisher_weighted_distance_to_the_old_weights():
    model = _tiny()
    fisher = {k: torch.rand_like(p) for k, p in model.named_parameters()}
    ewc = cl.EWC(lam=10.0)
    ewc.consolidate(model, fisher)
    assert float(ewc(model).detach()) == 0.0              # at the old weights: no penalty
    old = {k: p.detach().clone() for k, p in model.named_parameters()}
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    penalty = ewc(model, None, None)
    expected = 5.0 * sum((fisher[k] * (p - old[k]) ** 2).sum()
                         for k, p in model.named_parameters())
    torch.testing.assert_close(penalty, expected)
    penalty.backward()                                    # its gradient: lam * F * (theta - theta*)
    for k, p in model.named_parameters():
        torch.testing.assert_close(p.grad, 10.0 * fisher[k] * (p.detach() - old[k]))
    ewc.consolidate(model, fisher)                        # a second task adds its own term
    assert len(ewc.tasks) == 2
    with pytest.raises(KeyError, match="does not have"):
        ewc.consolidate(model, {"head.weight": torch.zeros(1)})


def test_the_replay_buffer_keeps_a_seeded_sample_of_every_class():
    x = torch.arange(40, dtype=torch.float32).view(20, 2)
    y = np.repeat([3, 4], 10)
    buffers = [cl.ReplayBuffer(per_class=3, seed=7) for _ in range(2)]
    for b in buffers:
        b.add(x, y)
        b.add(x[:2] + 100, [5, 5])                        # fewer than per_class: all kept
    bx, by = buffers[0].tensors()
    assert len(buffers[0]) == 8 and sorted(by.tolist()) == [3, 3, 3, 4, 4, 4, 5, 5]
    assert torch.equal(bx, buffers[1].tensors()[0])       # same seed, same memory
    for row, label in zip(bx[by != 5], by[by != 5], strict=True):
        assert y[int(row[0]) // 2] == label               # every example kept its label
    with pytest.raises(ValueError, match="empty"):
        cl.ReplayBuffer(2).tensors()
    with pytest.raises(ValueError, match="labels"):
        cl.ReplayBuffer(2).add(x, y[:5])


def test_ewc_in_fit_holds_the_important_weights_near_their_old_values():
    from tlcourse.train import fit

    g = torch.Generator().manual_seed(2)
    x, y = torch.randn(64, 4, generator=g), torch.randint(0, 3, (64,), generator=g)
    loader = DataLoader(TensorDataset(x, y), batch_size=16)

    def moved(lam):
        model = _tiny()
        old = torch.cat([p.detach().reshape(-1).clone() for p in model.parameters()])
        ewc = cl.EWC(lam)
        ewc.consolidate(model, {k: torch.ones_like(p) for k, p in model.named_parameters()})
        history = fit(model, loader, num_epochs=3, lr=0.05, seed=0, progress=False, penalty=ewc)
        new = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
        return float((new - old).norm()), history

    free, _ = moved(0.0)
    held, history = moved(1000.0)
    assert held < 0.2 * free, (held, free)
    assert history.last("penalty") > 0


def test_task_incremental_answers_only_among_the_tasks_classes():
    tasks = cl.split_classes(6, 2)
    net = nn.Linear(4, 6)
    model = cl.TaskIncremental(net, tasks)
    x = torch.randn(5, 4)
    task = torch.tensor([0, 1, 2, 1, 0])
    logits = model(x=x, task=task)
    raw = net(x)
    for i, t in enumerate(task.tolist()):
        allowed = tasks[t]
        torch.testing.assert_close(logits[i, allowed], raw[i, allowed])
        assert torch.isinf(logits[i]).sum() == 4 and logits[i].argmax() in allowed
    data = cl.TaskDataset(x, [0, 3, 5, 2, 1], tasks)
    assert data.task.tolist() == [0, 1, 2, 1, 0]
    item = data[1]
    assert set(item) == {"x", "task", "labels"} and int(item["labels"]) == 3


def test_the_fisher_of_some_output_columns_is_the_fisher_of_that_sub_classifier():
    model = _tiny()
    g = torch.Generator().manual_seed(3)
    x, y = torch.randn(6, 4, generator=g), torch.randint(0, 2, (6,), generator=g)
    loader = DataLoader(TensorDataset(x, y), batch_size=4)

    class FirstTwo(nn.Module):                       # the same network, two outputs only
        def __init__(self, net):
            super().__init__()
            self.net = net

        def forward(self, x):
            return self.net(x)[:, [1, 2]]

    direct = cl.fisher_diagonal(FirstTwo(model), loader)
    columns = cl.fisher_diagonal(model, loader, classes=[1, 2])
    for k, v in columns.items():
        torch.testing.assert_close(v, direct[f"net.{k}"])


def test_ewc_watches_the_network_it_consolidated_inside_a_wrapper():
    tasks = cl.split_classes(4, 2)
    net = nn.Linear(3, 4)
    ewc = cl.EWC(2.0)
    ewc.consolidate(net, {k: torch.ones_like(p) for k, p in net.named_parameters()})
    wrapper = cl.TaskIncremental(net, tasks)
    with torch.no_grad():
        net.bias.add_(1.0)
    assert float(ewc(wrapper).detach()) == pytest.approx(2.0 / 2 * 4)   # 4 biases moved by 1
    with pytest.raises(ValueError, match="same module"):
        ewc.consolidate(wrapper, {})


def test_lwf_on_the_networks_own_logits_distils_the_old_classes_only():
    from tlcourse.regularize import LwF

    teacher = _tiny(0)
    student = _tiny(1)
    x = torch.randn(8, 4)
    lwf = LwF(teacher, None, weight=1.0, temperature=2.0, classes=[0, 1])
    value = lwf(student, x, student(x))
    t, s = teacher(x)[:, :2] / 2, student(x)[:, :2] / 2
    expected = 4 * torch.nn.functional.kl_div(torch.log_softmax(s, 1), torch.log_softmax(t, 1),
                                              log_target=True, reduction="batchmean")
    torch.testing.assert_close(value, expected)
    assert float(lwf(teacher, x, teacher(x)).detach()) == pytest.approx(0.0, abs=1e-7)

    class Keywords(nn.Module):                        # a network called as model(x=...)
        def __init__(self, net):
            super().__init__()
            self.net = net

        def forward(self, x):
            return self.net(x)

    keyword_lwf = LwF(Keywords(teacher), None, weight=1.0, temperature=2.0, classes=[0, 1])
    torch.testing.assert_close(keyword_lwf(Keywords(student), {"x": x}), expected)


def test_the_exercise_checks_accept_the_solutions_and_explain_the_usual_mistakes(capsys):
    from tlcourse.exercises import ex10

    def ewc_penalty(model, anchor, fisher, lam):
        params = dict(model.named_parameters())
        return lam / 2 * sum((fisher[k] * (params[k] - anchor[k]) ** 2).sum() for k in fisher)

    assert ex10.check_ewc_penalty(ewc_penalty, strict=True)
    assert not ex10.check_ewc_penalty(lambda m, a, f, lam: 2 * ewc_penalty(m, a, f, lam))
    assert "1/2" in capsys.readouterr().out
    assert not ex10.check_ewc_penalty(lambda m, a, f, lam: ewc_penalty(m, a, f, lam).detach())
    assert "no gradient" in capsys.readouterr().out

    def bwt(r):
        r = np.asarray(r)
        return float(np.mean([r[-1, j] - r[j, j] for j in range(len(r) - 1)]))

    assert ex10.check_backward_transfer(bwt, strict=True)
    assert not ex10.check_backward_transfer(
        lambda r: float(np.mean([r[-1, j] - r[j, j] for j in range(len(r))])))
    assert "Leave out the last task" in capsys.readouterr().out

    def pick(labels, per_class, seed):
        rng, labels = np.random.default_rng(seed), np.asarray(labels)
        return np.concatenate([rng.choice(np.flatnonzero(labels == c),
                                          min(per_class, (labels == c).sum()), replace=False)
                               for c in np.unique(labels)])

    assert ex10.check_pick(pick, strict=True)
    assert not ex10.check_pick(lambda labels, k, seed: np.arange(9))
    assert "per class you picked" in capsys.readouterr().out
    assert not ex10.check_pick(lambda labels, k, seed: np.array([0, 0, 1]))
    assert "twice" in capsys.readouterr().out
