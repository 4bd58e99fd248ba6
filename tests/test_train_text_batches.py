"""``fit``, ``evaluate`` and ``predict`` on batches that are dicts of tensors (tokenized text)."""

from types import SimpleNamespace

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader

import tlcourse as tlc
from tlcourse.text import mean_pool

VOCAB, PAD = 20, 0


class BagOfTokens(nn.Module):
    """Mean of token embeddings (padding masked out), then a linear layer."""

    def __init__(self, hf_output=False):
        super().__init__()
        torch.manual_seed(0)
        self.embed, self.head, self.hf_output = nn.Embedding(VOCAB, 8), nn.Linear(8, 2), hf_output

    def forward(self, input_ids, attention_mask):
        pooled = mean_pool(self.embed(input_ids), attention_mask)
        logits = self.head(pooled)
        return SimpleNamespace(logits=logits) if self.hf_output else logits


class Packed(nn.Module):
    """The same model fed one tensor: ids and mask stacked, as an (inputs, targets) batch."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return self.inner(x[:, 0], x[:, 1])


def sentences(n=96, seed=0):
    """Token 3 anywhere in a sentence means class 1; lengths 2-9, so batches need padding."""
    g = torch.Generator().manual_seed(seed)
    items = []
    for i in range(n):
        ids = torch.randint(4, VOCAB, (int(torch.randint(2, 10, (1,), generator=g)),),
                            generator=g)
        if i % 2:
            ids[torch.randint(0, len(ids), (1,), generator=g)] = 3
        items.append((ids, i % 2))
    return items


def collate_dict(items):
    length = max(len(ids) for ids, _ in items)
    ids = torch.full((len(items), length), PAD)
    mask = torch.zeros(len(items), length, dtype=torch.long)
    for row, (t, _) in enumerate(items):
        ids[row, :len(t)], mask[row, :len(t)] = t, 1
    return {"input_ids": ids, "attention_mask": mask,
            "labels": torch.tensor([label for _, label in items])}


def collate_packed(items):
    batch = collate_dict(items)
    return torch.stack([batch["input_ids"], batch["attention_mask"]], 1), batch["labels"]


def loaders(collate, seed=0):
    train = DataLoader(sentences(), batch_size=16, shuffle=True, collate_fn=collate,
                       generator=torch.Generator().manual_seed(seed))
    test = DataLoader(sentences(64, seed=1), batch_size=32, collate_fn=collate)
    return train, test


def test_dict_batches_train_exactly_like_the_same_model_on_tensor_batches():
    common = dict(num_epochs=3, lr=0.05, seed=0, device="cpu", progress=False)
    as_dict = BagOfTokens()
    h_dict = tlc.train.fit(as_dict, *loaders(collate_dict), **common)
    as_tensor = Packed(BagOfTokens())
    h_tensor = tlc.train.fit(as_tensor, *loaders(collate_packed), **common)
    assert h_dict["train_loss"] == h_tensor["train_loss"]
    assert h_dict["val_acc"] == h_tensor["val_acc"]
    for a, b in zip(as_dict.parameters(), as_tensor.inner.parameters(), strict=True):
        assert torch.equal(a, b)


@pytest.mark.outcomes
def test_a_text_model_learns_from_dict_batches_and_predicts_them():
    model = BagOfTokens(hf_output=True)        # an output object with .logits, as in transformers
    train, test = loaders(collate_dict)
    before = tlc.train.evaluate(model, test, device="cpu")["acc"]
    tlc.train.fit(model, train, test, num_epochs=30, lr=0.05, seed=0, device="cpu",
                  progress=False)
    after = tlc.train.evaluate(model, test, device="cpu")
    assert after["acc"] >= 0.9 and after["acc"] >= before + 0.3
    logits, targets = tlc.train.predict(model, test, device="cpu")
    assert logits.shape == (64, 2) and targets.tolist() == [i % 2 for i in range(64)]


def test_a_dict_batch_without_labels_is_refused_with_its_keys():
    def no_labels(items):
        batch = collate_dict(items)
        del batch["labels"]
        return batch
    loader = DataLoader(sentences(8), batch_size=4, collate_fn=no_labels)
    with pytest.raises(KeyError, match=r"under 'labels'.*input_ids, attention_mask"):
        tlc.train.fit(BagOfTokens(), loader, num_epochs=1, device="cpu", progress=False)
