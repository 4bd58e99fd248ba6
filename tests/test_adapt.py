"""tlcourse.adapt: every method against a plain reference computation written out here."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset, TensorDataset

from tlcourse import adapt
from tlcourse.data.arrays import ArrayDataset


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    # Tiny tensors: a second thread only adds synchronisation (and stalls on a busy machine).
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _randn(*shape, seed=0, dtype=torch.float64):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


# ---------------------------------------------------------------- gradient reversal (grl.py)

@pytest.mark.parametrize("coeff", [0.0, 0.3, 1.0, 2.5])
def test_gradient_reversal_is_identity_forward_and_minus_coeff_backward(coeff):
    x = _randn(4, 3).requires_grad_()
    upstream = _randn(4, 3, seed=1)
    y = adapt.GradientReverseLayer(coeff)(x)
    assert torch.equal(y, x)
    (grad,) = torch.autograd.grad((y * upstream).sum(), x)
    assert torch.allclose(grad, -coeff * upstream)


def test_gradient_reversal_flips_the_gradient_of_the_layers_below_only():
    torch.manual_seed(0)
    below, above = nn.Linear(3, 4), nn.Linear(4, 1)
    x = torch.randn(5, 3)

    def grads(middle):
        below.zero_grad()
        above.zero_grad()
        above(middle(below(x))).pow(2).mean().backward()
        return below.weight.grad.clone(), above.weight.grad.clone()

    plain_below, plain_above = grads(nn.Identity())
    rev_below, rev_above = grads(adapt.GradientReverseLayer(0.5))
    assert torch.allclose(rev_above, plain_above)  # the discriminator trains as usual
    assert torch.allclose(rev_below, -0.5 * plain_below)  # the features get the reverse


def test_grl_schedule_follows_the_papers_formula():
    for p in (0.0, 0.05, 0.3, 0.7, 1.0):
        assert adapt.grl_coefficient(p) == pytest.approx(2 / (1 + math.exp(-10 * p)) - 1)
    assert adapt.grl_coefficient(0.5, alpha=4, lo=0.2, hi=0.6) == pytest.approx(
        0.2 + 0.4 * (2 / (1 + math.exp(-2)) - 1))


def test_warm_start_layer_steps_in_training_only_and_uses_the_current_coefficient():
    grl = adapt.WarmStartGradientReverseLayer(max_iters=10)
    x = torch.ones(2, requires_grad=True)
    grl(x).sum().backward()  # step 0: coefficient 0, so no gradient at all
    assert torch.equal(x.grad, torch.zeros(2)) and grl.iter_num == 1
    grl.eval()
    x.grad = None
    grl(x).sum().backward()
    assert grl.iter_num == 1  # evaluation does not advance the schedule
    assert torch.allclose(x.grad, torch.full((2,), -adapt.grl_coefficient(0.1)))
    assert grl.step(100) == pytest.approx(adapt.grl_coefficient(1.0))  # capped at p = 1
    with pytest.raises(ValueError):
        adapt.WarmStartGradientReverseLayer(max_iters=0)


# ------------------------------------------------------------------------- DANN (dann.py)

def test_domain_adversarial_loss_matches_the_written_out_cross_entropy():
    d_s, d_t = _randn(6, 1), _randn(4, 1, seed=1)
    sig = torch.sigmoid
    expected = 0.5 * (-torch.log(sig(d_s)).mean() - torch.log(1 - sig(d_t)).mean())
    assert torch.allclose(adapt.domain_adversarial_loss(d_s, d_t), expected)
    w_s, w_t = torch.rand(6, 1, dtype=torch.float64), torch.rand(4, 1, dtype=torch.float64)
    weighted = 0.5 * ((-torch.log(sig(d_s)) * w_s).mean() + (-torch.log(1 - sig(d_t)) * w_t).mean())
    assert torch.allclose(adapt.domain_adversarial_loss(d_s, d_t, w_s, w_t), weighted)


def test_dann_loss_reverses_the_feature_gradient_and_measures_the_discriminator():
    torch.manual_seed(0)
    disc = nn.Linear(3, 1).double()
    f_s, f_t = _randn(5, 3).requires_grad_(), _randn(7, 3, seed=1).requires_grad_()
    plain = adapt.DomainAdversarialLoss(disc, grl=nn.Identity())(f_s, f_t)
    g_plain = torch.autograd.grad(plain, [f_s, f_t])
    loss = adapt.DomainAdversarialLoss(disc, grl=adapt.GradientReverseLayer(0.7))
    value = loss(f_s, f_t)
    g_rev = torch.autograd.grad(value, [f_s, f_t])
    assert torch.allclose(value, plain)
    for a, b in zip(g_rev, g_plain, strict=True):
        assert torch.allclose(a, -0.7 * b)
    with torch.no_grad():
        logits = disc(torch.cat([f_s, f_t]))
    correct = (logits[:5] > 0).sum() + (logits[5:] <= 0).sum()
    assert loss.domain_accuracy == pytest.approx(correct.item() / 12)


def test_domain_discriminator_shape_and_parameters_are_trainable():
    disc = adapt.DomainDiscriminator(8, hidden_size=16)
    assert disc(torch.randn(4, 8)).shape == (4, 1)
    linear, batchnorm = (8 * 16 + 16) + (16 * 16 + 16) + (16 + 1), 2 * (2 * 16)
    assert sum(p.numel() for p in disc.parameters()) == linear + batchnorm


# ----------------------------------------------------------------------- CORAL (coral.py)

def _coral_reference(xs, xt):
    # Sun & Saenko's formula, step by step, in NumPy.
    def cov(x):
        n = len(x)
        ones = np.ones((1, n))
        return (x.T @ x - (ones @ x).T @ (ones @ x) / n) / (n - 1)

    d = xs.shape[1]
    return float(np.sum((cov(xs) - cov(xt)) ** 2) / (4 * d * d))


def test_coral_matches_the_papers_formula_with_explicit_covariances():
    xs, xt = _randn(30, 5), 3 * _randn(17, 5, seed=1) + 2
    assert adapt.coral_loss(xs, xt).item() == pytest.approx(
        _coral_reference(xs.numpy(), xt.numpy()), rel=1e-10)
    assert torch.allclose(adapt.covariance(xs), torch.cov(xs.T))
    assert adapt.CorrelationAlignmentLoss()(xs, xt).item() == pytest.approx(
        adapt.coral_loss(xs, xt).item())


def test_coral_ignores_shifts_sees_scale_and_has_the_right_gradient():
    xs = _randn(20, 3)
    assert adapt.coral_loss(xs, xs + 7.0).item() == pytest.approx(0.0, abs=1e-12)
    assert adapt.coral_loss(xs, 2 * xs).item() > 0
    xt = _randn(12, 3, seed=2)
    assert torch.autograd.gradcheck(adapt.coral_loss, (xs.requires_grad_(), xt.requires_grad_()))
    with pytest.raises(ValueError, match="differ in size"):
        adapt.coral_loss(torch.randn(4, 3), torch.randn(4, 2))
    with pytest.raises(ValueError):
        adapt.covariance(torch.randn(1, 3))


# ------------------------------------------------------------------------- MMD (mmd.py)

def _mmd_reference(xs, xt, alphas):
    # Double loops over every pair: the unbiased multi-kernel MMD^2.
    xs, xt = xs.tolist(), xt.tolist()
    joint = xs + xt
    sq = lambda a, b: sum((u - v) ** 2 for u, v in zip(a, b, strict=True))  # noqa: E731
    mean_sq = sum(sq(a, b) for a in joint for b in joint) / len(joint) ** 2

    def k(a, b):
        return sum(math.exp(-sq(a, b) / (2 * alpha * mean_sq)) for alpha in alphas)

    m, n = len(xs), len(xt)
    ss = sum(k(xs[i], xs[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    tt = sum(k(xt[i], xt[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    st = sum(k(a, b) for a in xs for b in xt) / (m * n)
    return ss + tt - 2 * st


@pytest.mark.parametrize("alphas", [(1.0,), adapt.DAN_ALPHAS])
def test_mmd_matches_a_double_loop(alphas):
    xs, xt = _randn(7, 3), _randn(5, 3, seed=1) + 1.0
    assert adapt.mk_mmd(xs, xt, alphas).item() == pytest.approx(
        _mmd_reference(xs, xt, alphas), rel=1e-9)
    assert adapt.MultipleKernelMMD(alphas)(xs, xt).item() == pytest.approx(
        adapt.mk_mmd(xs, xt, alphas).item())


def test_mmd_is_small_for_one_distribution_large_for_two_and_symmetric():
    a, b = _randn(200, 2), _randn(200, 2, seed=1)
    assert abs(adapt.mk_mmd(a, b).item()) < 0.05
    assert adapt.mk_mmd(a, b + 2).item() > 1.0
    assert adapt.mk_mmd(a, b + 2).item() == pytest.approx(adapt.mk_mmd(b + 2, a).item())
    with pytest.raises(ValueError, match="at least 2"):
        adapt.mk_mmd(a[:1], b)


def test_mmd_bandwidth_is_not_trained():
    xs, xt = _randn(6, 2).requires_grad_(), _randn(6, 2, seed=1).requires_grad_()
    # The gradient treats the bandwidth as a constant: compare with a fixed-bandwidth copy.
    sq = torch.cdist(torch.cat([xs, xt]), torch.cat([xs, xt])).pow(2).detach().mean()

    def fixed(a, b):
        x = torch.cat([a, b])
        k = sum(torch.exp(-torch.cdist(x, x).pow(2) / (2 * al * sq)) for al in adapt.DAN_ALPHAS)
        m = len(a)
        return ((k[:m, :m].sum() - k[:m, :m].trace()) / (m * (m - 1))
                + (k[m:, m:].sum() - k[m:, m:].trace()) / (m * (m - 1)) - 2 * k[:m, m:].mean())

    g1 = torch.autograd.grad(adapt.mk_mmd(xs, xt), [xs, xt])
    g2 = torch.autograd.grad(fixed(xs, xt), [xs, xt])
    for a, b in zip(g1, g2, strict=True):
        assert torch.allclose(a, b)


# ----------------------------------------------------------------------- AdaBN (adabn.py)

class _Reordered(nn.Module):
    """BatchNorm layers registered in the reverse of the order the forward pass uses them."""

    def __init__(self):
        super().__init__()
        self.bn_late = nn.BatchNorm1d(3)
        self.lin2 = nn.Linear(3, 3)
        self.bn_early = nn.BatchNorm1d(3)
        self.lin1 = nn.Linear(2, 3)

    def forward(self, x):
        return self.bn_late(self.lin2(torch.relu(self.bn_early(self.lin1(x)))))


def test_adabn_sets_every_layer_to_the_exact_target_statistics_in_forward_order():
    torch.manual_seed(0)
    model = _Reordered()
    model.train()
    for _ in range(3):  # some source statistics to replace
        model(torch.randn(32, 2))
    weights = {k: v.clone() for k, v in model.state_dict().items() if "running" not in k
               and "num_batches" not in k}
    target = torch.randn(101, 2, dtype=torch.float32) * 2 + 3
    loader = DataLoader(TensorDataset(target, torch.zeros(101)), batch_size=16)  # uneven batches
    adapt.adabn(model, loader)
    with torch.no_grad():
        h1 = model.lin1(target)
        assert torch.allclose(model.bn_early.running_mean, h1.mean(0), atol=1e-5)
        assert torch.allclose(model.bn_early.running_var, h1.var(0, unbiased=True), atol=1e-5)
        h2 = model.lin2(torch.relu(model.bn_early(h1)))  # eval mode: the adapted statistics
        assert torch.allclose(model.bn_late.running_mean, h2.mean(0), atol=1e-5)
        assert torch.allclose(model.bn_late.running_var, h2.var(0, unbiased=True), atol=1e-5)
    assert not model.training
    for k, v in weights.items():
        assert torch.equal(model.state_dict()[k], v), f"AdaBN changed the weight {k}"


def test_adabn_on_a_cnn_pools_over_batch_and_space():
    torch.manual_seed(0)
    model = adapt.LeNetBN(image_size=8)
    target = torch.rand(40, 1, 8, 8)
    adapt.adabn(model, [target[:25], target[25:]])  # a plain list of x batches works too
    with torch.no_grad():
        conv = model.backbone[0](target)
    assert torch.allclose(model.backbone[1].running_mean, conv.mean(dim=(0, 2, 3)), atol=1e-5)
    assert torch.allclose(model.backbone[1].running_var,
                          conv.transpose(0, 1).reshape(conv.shape[1], -1).var(1), atol=1e-5)


def test_adabn_needs_batchnorm():
    with pytest.raises(ValueError, match="no BatchNorm"):
        adapt.adabn(nn.Linear(2, 2), [torch.zeros(3, 2)])
    assert adapt.batchnorm_layers(nn.Sequential(nn.BatchNorm1d(2, track_running_stats=False))) == []


# ----------------------------------------------------------- pseudo-labels (pseudo_label.py)

def test_pseudo_labels_threshold_and_masking_are_exact():
    logits = torch.tensor([[math.log(9.0), 0.0], [0.0, math.log(9.0)], [0.2, 0.0], [0.0, 3.0]],
                          dtype=torch.float64)
    at = torch.softmax(logits[0], 0).max().item()  # about 0.9: rows 0 and 1 sit exactly on it
    labels, mask = adapt.pseudo_labels(logits, threshold=at)
    assert labels.tolist() == [0, 1, 0, 1]
    assert mask.tolist() == [True, True, False, True]  # at the threshold counts as confident
    assert adapt.pseudo_labels(logits, threshold=at + 1e-12)[1].tolist() == [False, False,
                                                                             False, True]
    loss = adapt.PseudoLabelLoss(threshold=at)
    value = loss(logits)
    ce = -torch.log_softmax(logits, 1)[torch.arange(4), labels]
    assert value.item() == pytest.approx(((ce * mask).sum() / 4).item())  # over the whole batch
    assert loss.mask_ratio == 0.75
    assert adapt.pseudo_label_loss(logits, at).item() == pytest.approx(value.item())
    assert adapt.pseudo_label_loss(logits, 1.0).item() == 0.0  # nothing passes
    with pytest.raises(ValueError):
        adapt.pseudo_labels(logits, 1.5)


def test_pseudo_label_gradient_treats_the_labels_as_constants():
    logits = _randn(5, 3).requires_grad_()
    labels, _ = adapt.pseudo_labels(logits, 0.0)
    (grad,) = torch.autograd.grad(adapt.pseudo_label_loss(logits, 0.0), logits)
    expected = (torch.softmax(logits, 1) - F.one_hot(labels, 3)) / 5
    assert torch.allclose(grad, expected.detach())


# ------------------------------------------------------------------------- CDAN (cdan.py)

def test_multilinear_map_is_the_flattened_outer_product():
    f, g = _randn(4, 3), _randn(4, 2, seed=1)
    h = adapt.multilinear_map(f, g)
    for i in range(4):
        assert torch.allclose(h[i], torch.outer(g[i], f[i]).flatten())


def test_cdan_loss_equals_dann_on_the_conditioned_input_with_entropy_weights():
    torch.manual_seed(0)
    disc = nn.Linear(3 * 2, 1).double()
    ys, fs, yt, ft = _randn(4, 2), _randn(4, 3, seed=1), _randn(5, 2, seed=2), _randn(5, 3, seed=3)
    loss = adapt.ConditionalDomainAdversarialLoss(disc, grl=nn.Identity(),
                                                  entropy_conditioning=True)
    g = torch.softmax(torch.cat([ys, yt]), 1)
    h = adapt.multilinear_map(torch.cat([fs, ft]), g)
    w = 1 + torch.exp((g * g.log()).sum(1, keepdim=True))  # 1 + exp(-entropy)
    w = w / w.mean()
    d = disc(h)
    expected = adapt.domain_adversarial_loss(d[:4], d[4:], w[:4], w[4:])
    assert loss(ys, fs, yt, ft).item() == pytest.approx(expected.item())
    plain = adapt.ConditionalDomainAdversarialLoss(disc, grl=nn.Identity())
    assert plain(ys, fs, yt, ft).item() == pytest.approx(
        adapt.domain_adversarial_loss(d[:4], d[4:]).item())


# --------------------------------------------------- proxy A-distance and DEV (validation)

def test_logistic_regression_matches_scikit_learn():
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 4))
    y = (x @ [1.0, -2.0, 0.5, 0.0] + rng.normal(size=300) > 0).astype(int)
    l2 = 1e-2
    ours = adapt.fit_logistic_regression(x, y, l2=l2)(x)
    z = (x - x.mean(0)) / x.std(0, ddof=1)
    # sklearn minimises 0.5 ||w||^2 + C * sum(loss): the same optimum when C = 1 / (2 l2 n).
    ref = LogisticRegression(C=1 / (2 * l2 * len(x)), tol=1e-10, max_iter=10_000).fit(z, y)
    assert np.allclose(ours, ref.decision_function(z), atol=1e-3)


@pytest.mark.outcomes
def test_proxy_a_distance_is_two_times_one_minus_twice_the_error():
    rng = np.random.default_rng(1)
    apart = adapt.proxy_a_distance(rng.normal(size=(200, 3)), rng.normal(5, 1, (200, 3)))
    assert apart == 2.0  # perfectly separable
    acc = adapt.domain_classifier_accuracy(rng.normal(size=(300, 3)), rng.normal(0.5, 1, (300, 3)))
    assert 0.5 < acc < 0.9
    same = [adapt.proxy_a_distance(rng.normal(size=(300, 3)), rng.normal(size=(300, 3)), seed=s)
            for s in range(3)]
    assert max(same) < 0.35
    with pytest.raises(ValueError):
        adapt.domain_classifier_accuracy(np.zeros((3, 2)), np.zeros((3, 2)))


def test_dev_risk_matches_the_control_variate_formula():
    rng = np.random.default_rng(2)
    losses, weights = rng.exponential(size=50), rng.gamma(2.0, 0.5, size=50)
    lw = losses * weights
    eta = -np.cov(lw, weights, ddof=1)[0, 1] / np.var(weights, ddof=1)
    assert adapt.dev_risk(losses, weights) == pytest.approx(lw.mean() + eta * weights.mean() - eta)
    assert adapt.dev_risk([0.1, 0.5], [1.0, 1.0]) == pytest.approx(0.3)
    with pytest.raises(ValueError):
        adapt.dev_risk([1.0, 2.0], [1.0])


def test_density_ratio_recovers_a_known_ratio():
    # Source N(0, 1), target N(1, 1): p_t / p_s = exp(x - 0.5), a logistic model exactly.
    rng = np.random.default_rng(3)
    xs, xt = rng.normal(size=(4000, 1)), rng.normal(1, 1, (2000, 1))
    grid = np.array([[-1.0], [0.0], [0.5], [1.5]])
    assert np.allclose(adapt.density_ratio(xs, xt, grid), np.exp(grid[:, 0] - 0.5), rtol=0.15)


# ------------------------------------------------------------- the training loop (trainer)

class _NoLabels(Dataset):
    """Target images whose "labels" cannot be used by anything."""

    def __init__(self, x):
        self.x = x

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.x[i], "no label"


class _Untouchable:
    def __iter__(self):
        raise AssertionError("source-only training read the target")

    def __len__(self):
        return 1


def _toy(seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(64) % 3
    x = torch.rand(64, 1, 8, 8, generator=g) * 0.3
    x[torch.arange(64), 0, y * 2, y * 2] += 1.0
    target = torch.rand(48, 1, 8, 8, generator=g) * 0.3 + 0.2
    source_loader = DataLoader(TensorDataset(x, y), batch_size=16, shuffle=True,
                               generator=torch.Generator().manual_seed(seed), drop_last=True)
    target_loader = DataLoader(_NoLabels(target), batch_size=16, shuffle=True,
                               generator=torch.Generator().manual_seed(seed), drop_last=True)
    return source_loader, target_loader


@pytest.mark.parametrize("method", adapt.LOSS_METHODS)
def test_every_method_trains_without_target_labels_and_repeats_exactly(method):
    results = []
    for _ in range(2):
        source_loader, target_loader = _toy()
        torch.manual_seed(0)
        model = adapt.LeNetBN(num_classes=3, image_size=8, widths=(4, 8), feature_dim=16)
        term = adapt.transfer_term(method, feature_dim=16, num_classes=3, max_iters=8,
                                   threshold=0.5, hidden_size=8)
        history = adapt.fit_adapt(model, source_loader, target_loader, term, num_epochs=2,
                                  lr=1e-2, device="cpu", seed=0, progress=False)
        results.append((history.epochs, [p.detach().clone() for p in model.parameters()]))
    (h1, p1), (h2, p2) = results
    assert len(h1) == 2 and all(math.isfinite(r["transfer_loss"]) for r in h1)
    assert [{k: v for k, v in r.items() if k != "seconds"} for r in h1] == \
        [{k: v for k, v in r.items() if k != "seconds"} for r in h2]
    assert all(torch.equal(a, b) for a, b in zip(p1, p2, strict=True))
    if method in ("dann", "cdan"):
        assert 0.0 <= h1[-1]["domain_accuracy"] <= 1.0
    if method == "pseudo_label":
        assert 0.0 <= h1[-1]["mask_ratio"] <= 1.0


@pytest.mark.outcomes
def test_source_only_training_never_reads_the_target_and_learns():
    source_loader, _ = _toy()
    torch.manual_seed(0)
    model = adapt.LeNetBN(num_classes=3, image_size=8, widths=(4, 8), feature_dim=16)
    history = adapt.fit_adapt(model, source_loader, _Untouchable(), num_epochs=8, lr=1e-2,
                              device="cpu", seed=0, progress=False)
    assert history.last("train_acc") > history["train_acc"][0]
    assert history.last("transfer_loss") == 0.0
    assert not model.training


def test_fit_adapt_and_transfer_term_reject_bad_input():
    source_loader, _ = _toy()
    model = adapt.LeNetBN(num_classes=3, image_size=8)
    term = adapt.transfer_term("coral", feature_dim=64, num_classes=3, max_iters=4)
    with pytest.raises(ValueError, match="target_loader"):
        adapt.fit_adapt(model, source_loader, None, term, num_epochs=1, progress=False)
    with pytest.raises(ValueError, match="optimizer"):
        adapt.fit_adapt(model, source_loader, num_epochs=1, optimizer="rmsprop", progress=False)
    with pytest.raises(ValueError, match="Did you mean 'dann'"):
        adapt.transfer_term("dan", feature_dim=64, num_classes=3, max_iters=4)


def test_learning_rate_is_annealed_as_in_ganin_et_al():
    source_loader, _ = _toy()
    model = adapt.LeNetBN(num_classes=3, image_size=8)
    lrs = []
    model.head.register_forward_hook(lambda *_: None)
    sgd_step = torch.optim.AdamW.step

    def spy(self, *args, **kwargs):
        lrs.append(self.param_groups[0]["lr"])
        return sgd_step(self, *args, **kwargs)

    torch.optim.AdamW.step = spy
    try:
        adapt.fit_adapt(model, source_loader, num_epochs=2, lr=0.1, progress=False)
    finally:
        torch.optim.AdamW.step = sgd_step
    total = 2 * len(source_loader)
    assert lrs == pytest.approx([0.1 * (1 + 10 * s / total) ** -0.75 for s in range(total)])


def test_extract_features_and_mean_entropy():
    model = adapt.LeNetBN(num_classes=3, image_size=8, feature_dim=16)
    loader = DataLoader(TensorDataset(torch.rand(10, 1, 8, 8), torch.arange(10)), batch_size=4)
    f, logits, y = adapt.extract_features(model, loader, "cpu")
    assert f.shape == (10, 16) and logits.shape == (10, 3) and y.tolist() == list(range(10))
    assert torch.allclose(model.head(f), logits, atol=1e-6)
    assert adapt.mean_entropy(torch.zeros(4, 10)) == pytest.approx(math.log(10))
    assert adapt.mean_entropy(torch.tensor([[100.0, 0.0]])) == pytest.approx(0.0, abs=1e-6)


# ------------------------------------------------------------- digits and the model (digits)

def test_frame_digits_fits_the_ink_into_mnists_box_and_centres_it():
    image = np.zeros((1, 8, 8), np.uint8)
    image[0, 1:7, 5:7] = 255  # a bar 6 tall and 2 wide, off centre
    out = adapt.frame_digits(image, size=28)[0]
    rows, cols = np.flatnonzero(out.max(1) > 0), np.flatnonzero(out.max(0) > 0)
    assert len(rows) == 20  # fitted into MNIST's 20 px box, aspect ratio kept
    assert abs(len(cols) - round(20 * 2 / 6)) <= 1
    assert rows[0] == 4 and rows[-1] == 23
    assert abs((cols[0] + cols[-1]) / 2 - 13.5) <= 1  # centred
    assert adapt.frame_digits(np.zeros((1, 8, 8), np.uint8), 16).max() == 0  # blank stays blank


def test_to_gray_uint8_rescales_and_converts_rgb_in_either_layout():
    class Rgb:
        data = np.zeros((2, 3, 4, 4), np.uint8)
        labels = np.array([3, 7])

    Rgb.data[0, 0] = 100  # red only: luminance 0.299 * 100
    Rgb.data[1, :, 1, 1] = 50
    gray, targets = adapt.to_gray_uint8(Rgb())
    assert gray.shape == (2, 4, 4) and targets.tolist() == [3, 7]
    assert gray[0].min() == gray[0].max() == 0  # a flat image has no range to stretch
    assert gray[1, 1, 1] == 255 and gray[1].sum() == 255
    ds = ArrayDataset(np.arange(16, dtype=np.uint8).reshape(1, 4, 4) * 2, [1], ["a", "b"])
    gray, _ = adapt.to_gray_uint8(ds)
    assert gray.min() == 0 and gray.max() == 255


def test_label_shift_subset_keeps_the_asked_share_of_each_class():
    targets = np.repeat(np.arange(4), 10)
    keep = adapt.label_shift_subset(targets, [1.0, 0.5, 0.0, 0.25], seed=1)
    assert np.bincount(targets[keep], minlength=4).tolist() == [10, 5, 0, 2]
    assert len(set(keep.tolist())) == len(keep)


def test_load_digits_domain_uses_the_registrys_splits():
    import tlcourse as tlc

    for split in ("train", "test"):
        ours = adapt.load_digits_domain("uci_digits", split, image_size=12)
        reference = tlc.data.load("uci_digits", split)
        assert torch.equal(ours.targets, reference.targets)
        assert ours.images.shape == (len(reference), 1, 12, 12)
        assert ours.images.dtype == torch.uint8


def test_lenet_shapes_and_size_check():
    model = adapt.LeNetBN(num_classes=7, image_size=12, feature_dim=32)
    x = torch.zeros(3, 1, 12, 12)
    assert model(x).shape == (3, 7) and model.features(x).shape == (3, 32)
    assert len(adapt.batchnorm_layers(model)) == 3
    with pytest.raises(ValueError, match="multiple of 4"):
        adapt.LeNetBN(image_size=14)
