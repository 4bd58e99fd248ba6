"""Text classifiers that train with :func:`tlcourse.train.fit`, and the loaders that feed them.

A batch is a dict of tensors (``input_ids``, ``attention_mask``, ``labels``), padded to its
own longest text (dynamic padding); ``fit`` passes everything but ``labels`` to the model as
keywords. Two models take those batches:

- :class:`SentenceClassifier`: a pretrained transformer encoder, mean pooling over its token
  vectors, and a new linear head (the sentence-transformers recipe, Reimers & Gurevych 2019,
  https://arxiv.org/abs/1908.10084, with a head to fine-tune as in BERT, Devlin et al. 2019).
- :class:`BagOfEmbeddings`: no transfer at all: token embeddings learned from scratch and
  averaged (fastText's classifier, Joulin et al. 2017, https://arxiv.org/abs/1607.01759).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from tlcourse.text.encoder import mean_pool, tokenize

__all__ = ["BagOfEmbeddings", "SentenceClassifier", "TextCollate", "text_loader"]


class SentenceClassifier(nn.Module):
    """``encoder`` (a Hugging Face model returning ``last_hidden_state``), mean pooling, and a
    linear head: logits ``(B, num_classes)``. ``encoder`` and ``head`` are its two parts, so
    :func:`tlcourse.models.param_groups` gives the encoder a smaller learning rate.

    With ``normalize`` the pooled vector is scaled to unit length first, exactly the
    embeddings :func:`tlcourse.text.embed` caches, so a probe trained on those can become the
    head (:meth:`head_from_probe`) and fine-tuning starts where the probe ended.
    """

    def __init__(self, encoder: nn.Module, num_classes: int, dropout: float = 0.1,
                 normalize: bool = False):
        super().__init__()
        self.encoder = encoder
        self.normalize = normalize
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(encoder.config.hidden_size, num_classes)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                **inputs) -> torch.Tensor:
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask,
                              **inputs).last_hidden_state
        pooled = mean_pool(hidden, attention_mask)
        if self.normalize:
            pooled = nn.functional.normalize(pooled, dim=1)
        return self.head(self.dropout(pooled))

    @torch.no_grad()
    def head_from_probe(self, coef, intercept) -> SentenceClassifier:
        """Set the head to a fitted logistic regression's weights (scikit-learn's ``coef_``
        and ``intercept_``). A binary one has one row: it becomes two logits ``-z/2, +z/2``,
        whose softmax is the regression's sigmoid, so the predictions are the probe's."""
        coef = torch.as_tensor(np.asarray(coef), dtype=self.head.weight.dtype)
        intercept = torch.as_tensor(np.asarray(intercept), dtype=self.head.bias.dtype)
        if coef.shape[0] == 1 and self.head.out_features == 2:
            coef, intercept = torch.cat([-coef, coef]) / 2, torch.cat([-intercept, intercept]) / 2
        if coef.shape != self.head.weight.shape or intercept.shape != self.head.bias.shape:
            raise ValueError(f"a probe with weights {tuple(coef.shape)} does not fit a head of "
                             f"{tuple(self.head.weight.shape)}")
        self.head.weight.copy_(coef)
        self.head.bias.copy_(intercept)
        return self


class BagOfEmbeddings(nn.Module):
    """Token embeddings trained from scratch, averaged over each text, then a linear layer."""

    def __init__(self, vocab_size: int, num_classes: int, dim: int = 64):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, dim)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                **_) -> torch.Tensor:
        return self.head(mean_pool(self.embedding(input_ids), attention_mask))


class TextCollate:
    """``[(text, label), ...]`` -> a dict batch: token ids and attention mask padded to the
    batch's longest text (at most ``max_length`` tokens), and ``labels``."""

    def __init__(self, tokenizer, max_length: int = 64):
        self.tokenizer, self.max_length = tokenizer, max_length

    def __call__(self, items: Sequence[tuple[str, int]]) -> dict[str, torch.Tensor]:
        texts, labels = zip(*items, strict=True)
        batch = tokenize(self.tokenizer, list(texts), self.max_length)
        batch["labels"] = torch.tensor(labels, dtype=torch.long)
        return batch


def text_loader(sentences, tokenizer, *, batch_size: int = 16, shuffle: bool = False,
                max_length: int = 64, seed: int = 0) -> DataLoader:
    """A DataLoader of dict batches over ``(text, label)`` items (e.g. :class:`Sentences`);
    shuffled from its own generator, so a run repeats exactly."""
    generator = torch.Generator().manual_seed(seed) if shuffle else None
    return DataLoader(sentences, batch_size=batch_size, shuffle=shuffle, generator=generator,
                      collate_fn=TextCollate(tokenizer, max_length))
