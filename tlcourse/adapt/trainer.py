"""One training loop for every adaptation method: labelled source + unlabelled target.

Each step draws a labelled source batch ``(x_s, y_s)`` and an unlabelled target batch
``x_t``, passes both through the network in ONE forward pass (so BatchNorm sees both), and
minimises

    loss = CE(head(f_s), y_s) + trade_off * transfer(f_s, f_t, logits_s, logits_t)

where ``transfer`` is the method's term (CORAL, MMD, DANN, CDAN, pseudo-labels). Without a
term it is plain source-only training, and the target is not even looked at. Target labels
are never read: the loop discards whatever the target loader yields besides ``x_t``.

Example:
    >>> from torch.utils.data import DataLoader, TensorDataset
    >>> from tlcourse.adapt.lenet import LeNetBN
    >>> source = DataLoader(TensorDataset(torch.rand(32, 1, 8, 8), torch.arange(32) % 2), 8)
    >>> target = DataLoader(TensorDataset(torch.rand(24, 1, 8, 8), torch.zeros(24)), 8)
    >>> term = transfer_term("mmd", feature_dim=64, num_classes=2, max_iters=4)
    >>> history = fit_adapt(LeNetBN(num_classes=2, image_size=8), source, target, term,
    ...                     num_epochs=1, device="cpu", progress=False)
    >>> sorted(history.epochs[0])
    ['cls_loss', 'epoch', 'seconds', 'train_acc', 'transfer_loss']
"""

from __future__ import annotations

import time
from collections import defaultdict

import torch
import torch.nn.functional as F
from torch import nn

from tlcourse.adapt.cdan import ConditionalDomainAdversarialLoss
from tlcourse.adapt.coral import CorrelationAlignmentLoss
from tlcourse.adapt.dann import DomainAdversarialLoss, DomainDiscriminator
from tlcourse.adapt.mmd import MultipleKernelMMD
from tlcourse.adapt.pseudo_label import PseudoLabelLoss
from tlcourse.env import get_device, seed_everything
from tlcourse.progress import progress_bar
from tlcourse.train import History, amp_dtype

__all__ = ["LOSS_METHODS", "TransferTerm", "extract_features", "fit_adapt", "transfer_term"]

#: Methods that add a loss term to training (AdaBN and source-only add none).
LOSS_METHODS = ("coral", "mmd", "dann", "cdan", "pseudo_label")


class TransferTerm(nn.Module):
    """A method's loss, fed what it needs of one step's ``outputs`` (``f_s``, ``f_t``,
    ``logits_s``, ``logits_t``): ``term(outputs) -> scalar``."""

    def __init__(self, name: str, loss: nn.Module, inputs: tuple[str, ...]) -> None:
        super().__init__()
        self.name, self.loss, self.inputs = name, loss, inputs

    def forward(self, outputs: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.loss(*(outputs[key] for key in self.inputs))


def transfer_term(method: str, *, feature_dim: int, num_classes: int, max_iters: int,
                  threshold: float = 0.95, hidden_size: int = 256) -> TransferTerm:
    """The loss term of ``method`` (one of :data:`LOSS_METHODS`) with its papers' defaults.

    Args: ``max_iters``, the training steps (for the gradient-reversal schedule);
    ``threshold`` of the pseudo-labels; ``hidden_size`` of the domain discriminators.
    """
    if method == "coral":
        return TransferTerm(method, CorrelationAlignmentLoss(), ("f_s", "f_t"))
    if method == "mmd":
        return TransferTerm(method, MultipleKernelMMD(), ("f_s", "f_t"))
    if method == "dann":
        loss = DomainAdversarialLoss(DomainDiscriminator(feature_dim, hidden_size),
                                     max_iters=max_iters)
        return TransferTerm(method, loss, ("f_s", "f_t"))
    if method == "cdan":
        loss = ConditionalDomainAdversarialLoss(
            DomainDiscriminator(feature_dim * num_classes, hidden_size), max_iters=max_iters)
        return TransferTerm(method, loss, ("logits_s", "f_s", "logits_t", "f_t"))
    if method == "pseudo_label":
        return TransferTerm(method, PseudoLabelLoss(threshold), ("logits_t",))
    from tlcourse.profiles import unknown_name_error

    raise unknown_name_error("adaptation loss", method, LOSS_METHODS)


def _cycle(loader):
    while True:
        yield from loader


def fit_adapt(model: nn.Module, source_loader, target_loader=None,
              transfer: TransferTerm | None = None, *, num_epochs: int, lr: float = 1e-3,
              trade_off: float = 1.0, optimizer: str = "adamw", weight_decay: float = 5e-4,
              anneal: bool = True, device: torch.device | str | None = None,
              amp: bool | str = "auto",
              seed: int | None = None, progress: bool = True, desc: str = "adapt") -> History:
    """Train ``model`` on the source, with ``transfer`` aligning it to the target.

    Args:
        model: has ``features(x) -> (N, F)`` and ``head(f) -> (N, K)``, e.g. ``LeNetBN``.
        source_loader: labelled ``(x, y)`` batches; one epoch is one pass over it.
        target_loader: target batches (cycled as needed); only ``x`` is used. Needed only
            with a ``transfer`` term.
        transfer: e.g. ``transfer_term("dann", ...)``; its parameters (a discriminator)
            are trained by the same optimizer. ``None``: source-only training.
        trade_off: the weight of the transfer term.
        optimizer: ``"adamw"`` or ``"sgd"`` (momentum 0.9, as in the DANN paper).
        anneal: decay the learning rate as in Ganin et al. 2016,
            ``lr_p = lr / (1 + 10 p) ** 0.75`` with ``p`` the fraction of training done
            (at the end: lr / 6); ``False`` keeps it constant.
        seed: re-seeds torch first, so a CPU run repeats exactly.

    Returns:
        A :class:`tlcourse.train.History` with per epoch ``cls_loss``, ``transfer_loss``,
        ``train_acc`` (source), ``seconds`` and, where the term reports them,
        ``domain_accuracy`` (DANN, CDAN) or ``mask_ratio`` (pseudo-labels).
    """
    if transfer is not None and target_loader is None:
        raise ValueError(f"the {transfer.name} term needs unlabelled target data: "
                         "pass target_loader")
    if seed is not None:
        seed_everything(seed)
    if optimizer not in ("adamw", "sgd"):
        raise ValueError(f"optimizer must be 'sgd' or 'adamw', got {optimizer!r}")
    device = get_device(device if device is None else str(device))
    modules = [model] + ([transfer] if transfer is not None else [])
    params = [p for m in modules for p in m.to(device).parameters()]
    opt = (torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay) if optimizer == "adamw"
           else torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=weight_decay))
    total_steps = num_epochs * len(source_loader)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda step: (1 + 10 * step / total_steps) ** -0.75 if anneal else 1.0)
    dtype = amp_dtype(device, amp)
    scaler = torch.amp.GradScaler("cuda", enabled=dtype == torch.float16)
    target_batches = _cycle(target_loader) if transfer is not None else None
    monitor = next((key for key in ("domain_accuracy", "mask_ratio")  # a term's own report
                    if transfer is not None and hasattr(transfer.loss, key)), None)
    history = History()
    bar = progress_bar(total=total_steps, desc=desc, disable=not progress, unit="batch")
    for epoch in range(num_epochs):
        start = time.perf_counter()
        for m in modules:
            m.train()
        sums = defaultdict(float)
        for x_s, y_s in source_loader:
            x_s, y_s, n = x_s.to(device), y_s.to(device), len(x_s)
            x = x_s  # with a term, the target batch joins it (target labels are never read)
            if target_batches is not None:
                x = torch.cat([x_s, next(target_batches)[0].to(device)])
            with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
                f = model.features(x)
                logits = model.head(f)
                cls_loss = F.cross_entropy(logits[:n], y_s)
            term = torch.zeros((), device=device)
            if transfer is not None:  # statistics in float32, also under mixed precision
                f, logits = f.float(), logits.float()
                term = transfer({"f_s": f[:n], "f_t": f[n:], "logits_s": logits[:n],
                                 "logits_t": logits[n:]})
            loss = cls_loss.float() + trade_off * term
            if not torch.isfinite(loss):
                bar.close()
                raise FloatingPointError(f"the loss became {loss.item()} in epoch {epoch + 1}; "
                                         f"try a smaller lr (now {lr:g}) or trade_off")
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            scheduler.step()
            sums["cls_loss"] += cls_loss.item() * n
            sums["transfer_loss"] += term.item() * n
            sums["train_acc"] += (logits[:n].argmax(1) == y_s).sum().item()
            if monitor:
                sums[monitor] += getattr(transfer.loss, monitor) * n
            sums["seen"] += n
            bar.update()
        seen = sums.pop("seen")
        row = {"epoch": epoch + 1} | {key: value / seen for key, value in sums.items()}
        row["seconds"] = time.perf_counter() - start
        history.epochs.append(row)
        bar.set_postfix({k: f"{v:.3f}" for k, v in row.items() if k not in ("epoch", "seconds")})
    bar.close()
    model.eval()
    return history


@torch.no_grad()  # not inference_mode: the outputs may go on into autograd code
def extract_features(model: nn.Module, loader, device: torch.device | str | None = None):
    """``(features (N, F), logits (N, K), targets (N,))`` of ``model`` over ``loader``, on
    the CPU, in eval mode (the targets are for reporting only)."""
    device = get_device(device if device is None else str(device))
    model.to(device).eval()
    feats, logits, targets = [], [], []
    for x, y in loader:
        f = model.features(x.to(device))
        feats.append(f.float().cpu())
        logits.append(model.head(f).float().cpu())
        targets.append(y)
    return torch.cat(feats), torch.cat(logits), torch.cat(targets)
