"""Sentence embeddings from a frozen encoder, computed once and cached on disk.

The text counterpart of ``tlc.features.extract``: mean-pooled token vectors of a pretrained
encoder, keyed by the encoder's weights, the texts and the settings, so a second run (or a
second notebook) loads them in a fraction of a second.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from pathlib import Path

import torch

from tlcourse.env import get_device
from tlcourse.features import weights_identity
from tlcourse.io import cache_key, cached
from tlcourse.progress import progress_bar
from tlcourse.text.encoder import _as_text, mean_pool, tokenize

__all__ = ["embed"]

CACHE_KIND = "sentence_embeddings"


def _texts_identity(texts: Sequence[str]) -> str:
    digest = hashlib.sha256()
    for text in texts:
        digest.update(text.encode("utf-8") + b"\0")
    return digest.hexdigest()[:16]


def embed(texts: Sequence[str], tokenizer, model, *, max_length: int = 64,
          batch_size: int = 64, device: torch.device | str | None = None,
          normalize: bool = True, cache: bool = True, folder: str | Path | None = None,
          progress: bool = True, return_info: bool = False):
    """``(N, D)`` float32 sentence embeddings on the CPU: mean pooling over each text's
    tokens (padding left out), unit length if ``normalize``.

    Texts are encoded in batches of similar length (sorted by length, then put back in the
    given order), so little time goes into padding. The model runs in eval mode without
    gradients and is put back in the mode it had. With ``return_info``, returns
    ``(embeddings, {"hit": bool, "seconds": float})``: whether the cache had them, and how
    long the call took.
    """
    start = time.perf_counter()
    texts = [_as_text(t, i) for i, t in enumerate(texts)]
    if not texts:
        raise ValueError("no texts to embed")
    dev = get_device(None if device is None else str(device))

    def build() -> torch.Tensor:
        was_training = model.training
        model.to(dev).eval()
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = torch.empty(len(texts), model.config.hidden_size)
        try:
            with torch.inference_mode():
                for start in progress_bar(range(0, len(texts), batch_size),
                                          desc="embed sentences", disable=not progress,
                                          unit="batch"):
                    rows = order[start:start + batch_size]
                    batch = tokenize(tokenizer, [texts[i] for i in rows], max_length)
                    batch = {k: v.to(dev) for k, v in batch.items()}
                    hidden = model(**batch).last_hidden_state
                    out[rows] = mean_pool(hidden, batch["attention_mask"]).float().cpu()
        finally:
            model.train(was_training)
        return torch.nn.functional.normalize(out, dim=1) if normalize else out

    if not cache:
        value, hit = build(), False
    else:
        key = cache_key(kind=CACHE_KIND, weights=weights_identity(model),
                        texts=_texts_identity(texts), max_length=max_length, pooling="mean",
                        normalize=normalize)
        value, hit = cached(CACHE_KIND, key, build, folder)
    if return_info:
        return value, {"hit": hit, "seconds": time.perf_counter() - start}
    return value
