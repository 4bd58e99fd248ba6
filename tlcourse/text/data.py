"""The course's labelled sentences: the VADER gold-standard corpora, four domains of one task.

Every sentence was rated by 20 people from -4 (extremely negative) to +4 (extremely
positive); ``data/text/vader.npz`` keeps the mean rating (built by ``scripts/build_text.py``,
see ``data/README.md``). A lesson turns ratings into labels: positive above ``+neutral``,
negative below ``-neutral``, and the sentences in between (neither clearly positive nor
clearly negative) are left out.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from tlcourse.data.arrays import stratified_split
from tlcourse.data.registry import TEST_FRACTION, _verified_npz

__all__ = ["DOMAINS", "LABELS", "Sentences", "load_sentences"]

#: the corpora, in the order the data file stores them
DOMAINS = ("tweets", "movies", "products", "editorials")
LABELS = ("negative", "positive")


@dataclass(frozen=True)
class Sentences:
    """Sentences of one domain with their mean rating and label (0 negative, 1 positive).

    ``sentences[i]`` is ``(text, label)``, so it can feed a DataLoader with a collate
    function that tokenizes.
    """

    texts: list[str]
    ratings: np.ndarray
    labels: np.ndarray
    domain: str
    split: str
    classes: tuple[str, ...] = LABELS

    def __len__(self) -> int:
        return len(self.texts)

    def __getitem__(self, index: int) -> tuple[str, int]:
        return self.texts[index], int(self.labels[index])

    def __repr__(self) -> str:
        counts = ", ".join(f"{(self.labels == k).sum()} {c}" for k, c in enumerate(self.classes))
        return f"Sentences({self.domain}/{self.split}: {len(self)} sentences, {counts})"


def _all_sentences() -> tuple[list[str], np.ndarray, np.ndarray]:
    arrays = _verified_npz("text/vader.npz", rebuild="python scripts/build_text.py --sdist ... "
                           "(see data/README.md)")
    blob, offsets = arrays["text_utf8"].tobytes(), arrays["text_offsets"]
    texts = [blob[a:b].decode("utf-8") for a, b in itertools.pairwise(offsets.tolist())]
    return texts, arrays["rating"], arrays["domain"]


def load_sentences(domain: str, split: str = "all", neutral: float = 0.5) -> Sentences:
    """The labelled sentences of one domain (``DOMAINS``) and split (train, test or all).

    The split is the course's fixed one (a quarter for testing, stratified by label, the
    same on every machine), made after the neutral sentences are left out.

    Example:
        >>> load_sentences("tweets", "test")
        Sentences(tweets/test: 826 sentences, 258 negative, 568 positive)
    """
    if domain not in DOMAINS:
        raise ValueError(f"unknown text domain {domain!r}; choose one of {', '.join(DOMAINS)}")
    if split not in ("train", "test", "all"):
        raise ValueError(f"unknown split {split!r}; choose 'train', 'test' or 'all'")
    if not 0 <= neutral < 4:
        raise ValueError(f"neutral={neutral} must be in [0, 4): ratings run from -4 to +4")
    texts, ratings, domains = _all_sentences()
    keep = np.flatnonzero((domains == DOMAINS.index(domain)) & (np.abs(ratings) > neutral))
    labels = (ratings[keep] > 0).astype(np.int64)
    if split != "all":
        train, test = stratified_split(labels, [1 - TEST_FRACTION, TEST_FRACTION], seed=0)
        part = np.sort(train if split == "train" else test)
        keep, labels = keep[part], labels[part]
    return Sentences([texts[i] for i in keep], ratings[keep], labels, domain, split)
