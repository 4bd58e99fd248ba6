"""Self-supervised pretraining (notebook 04): SimCLR and, as a baseline, rotation prediction.

SimCLR (Chen et al. 2020, https://arxiv.org/abs/2002.05709) makes two random views of an
image agree and tells them apart from the rest of the batch; rotation prediction (Gidaris et
al. 2018, https://arxiv.org/abs/1803.07728) guesses how far an image was turned. Views are
made per batch on the CPU or GPU; :func:`pretrained_encoder` caches the result."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, RandomSampler, TensorDataset

from tlcourse import io
from tlcourse.accel import amp_dtype
from tlcourse.callbacks import LivePlot
from tlcourse.env import get_device, seed_everything
from tlcourse.models import feature_extractor, load_backbone
from tlcourse.progress import progress_bar
from tlcourse.train import fit

__all__ = ["DEFAULTS", "ENCODERS", "Pretrained", "SimCLRAugment", "finetune", "image_tensor",
           "nt_xent", "pretrain_rotation", "pretrain_simclr", "pretrained_encoder",
           "projection_head", "rotate_batch", "small_cnn"]

#: Per profile: encoder, resolution (pool images are kept at ``pool_size`` for the crops),
#: pretraining budget, and the labelled set that goes with the profile's unlabelled pool.
#: The full budget, 10 epochs over STL-10's 105,000 images, is what fits a Colab T4 in 20
#: minutes with the rest of notebook 04 (benchmarks/estimate_t4.py: about 7 min for SimCLR);
#: the nearest published setting trains 40 epochs (sthalles/SimCLR: ResNet-18, 96 px, 70.3%).
DEFAULTS = {"offline": dict(encoder="small_cnn", image_size=32, pool_size=64, num_epochs=20,
                            batch_size=128, lr=2e-3, temperature=0.2, labelled="clipart"),
            "full": dict(encoder="resnet18", image_size=96, pool_size=96, num_epochs=10,
                         batch_size=256, lr=1e-3, temperature=0.5, labelled="stl10")}


def image_tensor(dataset, size: int | None = None, uint8: bool = False) -> torch.Tensor:
    """The images of an :class:`~tlcourse.data.ArrayDataset` (``.images``) or a torchvision
    set like STL-10 (``.data``) as one ``(N, 3, size, size)`` tensor: floats in [0, 1], or
    uint8 (4x smaller, for a large pool). Grey becomes RGB; resized with anti-aliasing."""
    data = getattr(dataset, "images", getattr(dataset, "data", None))
    if data is None:
        raise TypeError(f"{type(dataset).__name__} holds no image array (.images or .data)")
    x = torch.as_tensor(data)
    x = x[:, None] if x.ndim == 3 else x
    x = x.permute(0, 3, 1, 2) if x.shape[-1] in (1, 3) and x.shape[1] not in (1, 3) else x
    out = []
    for chunk in x.split(2048):  # in chunks, so a 100k-image pool fits in memory
        chunk = chunk.float().div(255).expand(-1, 3, -1, -1)
        if size is not None and chunk.shape[-1] != size:
            chunk = F.interpolate(chunk, size=(size, size), mode="bilinear", antialias=True)
        out.append(chunk.clamp(0, 1).mul(255).round().byte() if uint8 else chunk.clamp(0, 1))
    return torch.cat(out)


_GREY, _LOG43 = torch.tensor([[0.299, 0.587, 0.114]]), math.log(4 / 3)
_YIQ = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
_YIQ_INV = torch.linalg.inv(_YIQ)


class SimCLRAugment(nn.Module):
    """SimCLR's random view of every image of a batch: crop, flip, colour jitter, grey.

    ``(N, 3, H, W)`` in [0, 1] (or uint8) -> ``(N, 3, size, size)`` floats, all at once: crops
    of ``scale`` of the area (aspect 3:4 to 4:3; sampled at twice ``size``, then averaged
    down), colour jitter with probability ``jitter_p``, grey with ``gray_p``. A seeded
    ``generator`` repeats the views; in eval mode images pass unchanged.

    >>> SimCLRAugment(16)(torch.rand(4, 3, 32, 32)).shape
    torch.Size([4, 3, 16, 16])
    """

    def __init__(self, size: int, scale: tuple[float, float] = (0.2, 1.0), jitter: float = 0.4,
                 hue: float = 0.1, jitter_p: float = 0.8, gray_p: float = 0.2) -> None:
        super().__init__()
        self.size, self.scale, self.jitter, self.hue = size, scale, jitter, hue
        self.jitter_p, self.gray_p = jitter_p, gray_p

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        if not self.training:
            return x
        n, dev = len(x), x.device
        x = x.float() / 255 if x.dtype == torch.uint8 else x

        def uniform(low: float, high: float) -> torch.Tensor:  # n numbers, from ``generator``
            return torch.rand(n, device=dev, generator=generator) * (high - low) + low

        # Random resized crop + horizontal flip: one affine map per image.
        area, log_r = uniform(*self.scale), uniform(-_LOG43, _LOG43)
        w, h = (area * log_r.exp()).sqrt().clamp(max=1), (area / log_r.exp()).sqrt().clamp(max=1)
        cx, cy = uniform(-1, 1) * (1 - w), uniform(-1, 1) * (1 - h)
        flip = torch.where(uniform(0, 1) < 0.5, -1.0, 1.0)
        theta = torch.zeros(n, 2, 3, device=dev)
        theta[:, 0, 0], theta[:, 0, 2], theta[:, 1, 1], theta[:, 1, 2] = w * flip, cx, h, cy
        grid = F.affine_grid(theta, [n, 3, 2 * self.size, 2 * self.size], align_corners=False)
        x = F.avg_pool2d(F.grid_sample(x, grid, align_corners=False), 2)
        # Colour jitter (brightness, contrast, saturation, hue) and greyscale composed into
        # one 3x3 colour matrix per image; the hue turns YIQ's chroma plane.
        j, on = self.jitter, (uniform(0, 1) < self.jitter_p).float()
        b, c, s = (1 + on * uniform(-j, j) for _ in range(3))
        angle = on * uniform(-self.hue, self.hue) * 2 * math.pi
        rot = torch.zeros(n, 3, 3, device=dev)
        rot[:, 0, 0], rot[:, 1, 1], rot[:, 2, 2] = 1, angle.cos(), angle.cos()
        rot[:, 1, 2], rot[:, 2, 1] = -angle.sin(), angle.sin()
        grey = _GREY.to(dev).expand(3, 3)  # each row the luma weights
        sat = s.view(n, 1, 1) * torch.eye(3, device=dev) + (1 - s).view(n, 1, 1) * grey
        m = (c * b).view(n, 1, 1) * _YIQ_INV.to(dev) @ rot @ _YIQ.to(dev) @ sat
        to_grey = uniform(0, 1) < self.gray_p
        m = torch.where(to_grey.view(n, 1, 1), grey @ m, m)
        # Contrast blends towards the mean grey level; the matrices keep grey as grey.
        mean_grey = torch.einsum("c,nchw->n", _GREY.to(dev)[0], x) / x[0, 0].numel()
        out = torch.einsum("nij,njhw->nihw", m, x) + ((1 - c) * b * mean_grey).view(n, 1, 1, 1)
        return out.clamp(0, 1).contiguous(memory_format=torch.channels_last)


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.5,
            cross_only: bool = False) -> torch.Tensor:
    """SimCLR's NT-Xent loss for two views ``z1[i]``, ``z2[i]`` of the same ``N`` images.

    Each of the ``2N`` embeddings (L2-normalised) must pick its partner out of the other
    ``2N - 1`` by cosine similarity / ``temperature``: the mean cross-entropy of that choice.
    ``cross_only``: candidates come from the other view only, which is CLIP's symmetric loss
    for an image view and a text view (:func:`tlcourse.crossmodal.clip_loss`, notebook 11).
    Shape: ``z1, z2: (N, D)`` -> scalar."""
    if z1.shape != z2.shape or z1.ndim != 2:
        raise ValueError(f"z1 and z2 must both be (N, D), got {z1.shape} and {z2.shape}")
    n = len(z1)
    z = F.normalize(torch.cat([z1, z2]).float(), dim=1)
    sim = (z @ z.T / temperature).fill_diagonal_(float("-inf"))  # never pick yourself
    if cross_only:  # nor anything of your own view
        view = torch.arange(2 * n, device=z.device) // n
        sim = sim.masked_fill(view[:, None] == view[None, :], float("-inf"))
    partner = torch.cat([torch.arange(n, 2 * n), torch.arange(n)]).to(z.device)
    return F.cross_entropy(sim, partner)


def small_cnn(width: int = 16) -> nn.Module:
    """A 4-block CNN encoder for small images: ``(N, 3, H, W)`` -> ``(N, 8 * width)``
    (``model.feature_dim``): conv 3x3 - batch norm - ReLU blocks, max-pooling between them."""
    channels = [width, 2 * width, 4 * width, 8 * width]
    layers: list[nn.Module] = []
    for c_in, c in zip([3, *channels], channels, strict=False):
        layers += [nn.MaxPool2d(2)] if c_in != 3 else []
        layers += [nn.Conv2d(c_in, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU()]
    model = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
    model.feature_dim = channels[-1]
    return model


def resnet18() -> nn.Module:
    """ResNet-18 with random weights and no head: ``(N, 3, H, W)`` -> ``(N, 512)``."""
    model = feature_extractor(load_backbone("resnet18", pretrained=False))
    model.feature_dim = 512
    return model


ENCODERS: dict[str, Callable[[], nn.Module]] = {"small_cnn": small_cnn, "resnet18": resnet18}


def projection_head(in_dim: int, hidden_dim: int = 256, out_dim: int = 64) -> nn.Module:
    """SimCLR's projection head g(h): Linear - BN - ReLU - Linear; the loss sees its output."""
    return nn.Sequential(nn.Linear(in_dim, hidden_dim, bias=False), nn.BatchNorm1d(hidden_dim),
                         nn.ReLU(), nn.Linear(hidden_dim, out_dim))


def rotate_batch(x: torch.Tensor, generator: torch.Generator | None = None):
    """Turn each image by a random 0, 90, 180 or 270 degrees: ``(rotated, labels 0-3)``."""
    k = torch.randint(4, (len(x),), device=x.device, generator=generator)
    turned = torch.stack([torch.rot90(x, quarter, dims=(2, 3)) for quarter in range(4)])
    return turned[k, torch.arange(len(x), device=x.device)], k


def _pretrain(encoder: nn.Module, head: nn.Module, images, step: Callable, desc: str, *,
              num_epochs: int = 30, batch_size: int = 128, lr: float = 2e-3, device=None,
              seed: int = 0, progress: bool = True, live_plot: bool = False) -> list[float]:
    """The loop both methods share: seeded batches, AdamW, one-cycle schedule, AMP on CUDA.
    ``live_plot``: the loss curve, redrawn after every epoch in a notebook."""
    device = get_device(None if device is None else str(device))
    model = nn.ModuleDict({"encoder": encoder, "head": head}).to(device)
    model.to(memory_format=torch.channels_last)  # faster convolutions on CPUs and GPUs
    steps = len(images) // batch_size
    if steps < 1:
        raise ValueError(f"batch_size={batch_size} is larger than the {len(images)} images")
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, pct_start=0.1,
                                                    total_steps=num_epochs * steps)
    order_rng = torch.Generator().manual_seed(seed)
    aug_rng = torch.Generator(device=device).manual_seed(seed)
    dtype, losses = amp_dtype(device), []
    plot = LivePlot(title=desc) if live_plot else None
    model.train()
    with progress_bar(total=num_epochs * steps, desc=desc, disable=not progress,
                      unit="batch") as bar:
        for _ in range(num_epochs):
            order, total = torch.randperm(len(images), generator=order_rng), 0.0
            for i in range(steps):
                x = images[order[i * batch_size:(i + 1) * batch_size]].to(device)
                with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
                    loss = step(model, x, aug_rng)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                scheduler.step()
                total += loss.item()
                bar.update()
            losses.append(total / steps)
            bar.set_postfix(loss=f"{losses[-1]:.3f}")
            if plot is not None:
                plot.on_epoch_end(len(losses) - 1, model, {"train_loss": losses[-1]})
    if plot is not None:
        plot.draw()
    encoder.eval()
    return losses


def pretrain_simclr(encoder: nn.Module, images: torch.Tensor, *, image_size: int,
                    temperature: float = 0.2, **loop) -> list[float]:
    """Pretrain ``encoder`` in place with SimCLR on unlabelled ``images``; per-epoch losses.
    Two views per batch -> encoder -> projection head (dropped after) -> :func:`nt_xent`.
    ``loop``: num_epochs (30), batch_size (128), lr (2e-3), device, seed (0), progress,
    live_plot (False)."""
    seed_everything(loop.get("seed", 0))
    augment, head = SimCLRAugment(image_size), projection_head(encoder.feature_dim)

    def step(model, x, rng):
        z = model["head"](model["encoder"](torch.cat([augment(x, rng), augment(x, rng)])))
        return nt_xent(*z.chunk(2), temperature=temperature)

    return _pretrain(encoder, head, images, step, "SimCLR", **loop)


def pretrain_rotation(encoder: nn.Module, images: torch.Tensor, *, image_size: int,
                      **loop) -> list[float]:
    """Pretrain ``encoder`` in place to predict each image's rotation; per-epoch losses.
    A light crop and flip, then one random quarter turn per image (Gidaris et al. use all four;
    one costs half of SimCLR's two views). ``loop``: as for :func:`pretrain_simclr`."""
    seed_everything(loop.get("seed", 0))
    augment = SimCLRAugment(image_size, scale=(0.5, 1.0), jitter_p=0.0, gray_p=0.0)
    head = nn.Linear(encoder.feature_dim, 4)

    def step(model, x, rng):
        views, turns = rotate_batch(augment(x, rng), rng)
        return F.cross_entropy(model["head"](model["encoder"](views)), turns)

    return _pretrain(encoder, head, images, step, "rotation", **loop)


@dataclass
class Pretrained:
    """The encoder (eval mode), seconds its pretraining took, whether it came from the cache."""

    encoder: nn.Module
    seconds: float
    cache_hit: bool
    losses: list[float]
    key: str


def pretrained_encoder(method: str, images, *, data: str, encoder: str = "small_cnn",
                       image_size: int, num_epochs: int, batch_size: int = 128, lr: float = 2e-3,
                       temperature: float = 0.2, seed: int = 0, device=None, folder=None,
                       progress: bool = True, live_plot: bool = False) -> Pretrained:
    """An encoder pretrained with ``method`` ("simclr" or "rotation"), cached by its settings.

    The checkpoint (weights, losses, seconds taken) is saved atomically with a checksum as
    ``<folder or course cache>/ssl/<key>.pt``; the same settings load it instead of training.
    ``images`` may be a function (called only on a miss); ``data`` names them in the key.
    ``progress`` and ``live_plot`` (the loss curve while it trains) change nothing cached."""
    pretrain = {"simclr": pretrain_simclr, "rotation": pretrain_rotation}
    if method not in pretrain or encoder not in ENCODERS:
        raise ValueError(f"unknown method {method!r} or encoder {encoder!r}: use one of "
                         f"{sorted(pretrain)} and one of {sorted(ENCODERS)}")
    extra = {"temperature": temperature} if method == "simclr" else {}
    key = io.cache_key(method=method, data=data, encoder=encoder, image_size=image_size,
                       num_epochs=num_epochs, batch_size=batch_size, lr=lr, seed=seed,
                       version=1, **extra)

    def build() -> dict:
        seed_everything(seed)
        model, start = ENCODERS[encoder](), time.perf_counter()
        losses = pretrain[method](model, images() if callable(images) else images,
                                  image_size=image_size, num_epochs=num_epochs,
                                  batch_size=batch_size, lr=lr, device=device, seed=seed,
                                  progress=progress, live_plot=live_plot, **extra)
        return {"state_dict": {k: v.cpu() for k, v in model.state_dict().items()},
                "losses": losses, "seconds": time.perf_counter() - start}

    value, hit = io.cached("ssl", key, build, folder)
    model = ENCODERS[encoder]()
    model.load_state_dict(value["state_dict"])
    return Pretrained(model.eval(), float(value["seconds"]), hit, list(value["losses"]), key)


def finetune(encoder: nn.Module, images: torch.Tensor, targets: torch.Tensor, *,
             num_classes: int, image_size: int, steps: int = 100, batch_size: int = 32,
             lr: float = 1e-3, encoder_lr_mult: float = 1.0, device=None,
             seed: int = 0) -> nn.Module:
    """Train ``encoder`` + a new head (batch norm, linear) on a few labelled ``images``: from a
    random init, training from scratch; from a pretrained one, fine-tuning (``encoder_lr_mult``
    < 1: gently). ``steps`` batches of random crops of ``images`` (may be larger than
    ``image_size``) by :func:`tlcourse.train.fit`. Returns ``augment -> encoder -> head``."""
    augment = SimCLRAugment(image_size, scale=(0.5, 1.0), jitter_p=0.5, gray_p=0.0)
    head = nn.Sequential(nn.BatchNorm1d(encoder.feature_dim),
                         nn.Linear(encoder.feature_dim, num_classes))
    model = nn.Sequential(augment, encoder, head)
    groups = [{"params": head.parameters(), "lr": lr},
              {"params": encoder.parameters(), "lr": lr * encoder_lr_mult}]
    sampler = RandomSampler(images, replacement=True, num_samples=steps * batch_size,
                            generator=torch.Generator().manual_seed(seed))
    loader = DataLoader(TensorDataset(images, targets), batch_size=batch_size, sampler=sampler)
    fit(model, loader, num_epochs=1, lr=lr, optimizer=torch.optim.AdamW(groups, lr=lr),
        device=device, seed=seed, progress=False)
    return model.eval()
