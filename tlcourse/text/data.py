"""The course's labelled sentences: the VADER gold-standard corpora, four domains of one task.

Every sentence was rated by 20 people from -4 (extremely negative) to +4 (extremely
positive); ``data/text/vader.npz`` keeps the mean rating (built by ``scripts/build_text.py``,
see ``data/README.md``). A lesson turns ratings into labels: positive above ``+neutral``,
negative below ``-neutral``, and the sentences in between (neither clearly positive nor
clearly negative) are left out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tlcourse.data.arrays import stratified_split, strings_from_utf8
from tlcourse.data.registry import TEST_FRACTION, _verified_npz

__all__ = ["DOMAINS", "LABELS", "SST2_URL", "TEXT_DATASETS", "Sentences", "load_sentences",
           "load_text"]

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

    def subset(self, indices, name: str | None = None) -> Sentences:
        """The sentences at ``indices`` (e.g. from
        :func:`tlcourse.data.arrays.per_class_subset`), in that order."""
        indices = np.asarray(indices, dtype=np.int64)
        if indices.ndim != 1 or (len(indices) and not 0 <= indices.min() <= indices.max()
                                 < len(self)):
            raise IndexError(f"indices must be a 1-d list of positions in 0..{len(self) - 1}")
        return Sentences([self.texts[i] for i in indices.tolist()], self.ratings[indices],
                         self.labels[indices], self.domain, name or f"{self.split} subset")

    def __repr__(self) -> str:
        counts = ", ".join(f"{(self.labels == k).sum()} {c}" for k, c in enumerate(self.classes))
        return f"Sentences({self.domain}/{self.split}: {len(self)} sentences, {counts})"


def _all_sentences() -> tuple[list[str], np.ndarray, np.ndarray]:
    arrays = _verified_npz("text/vader.npz", rebuild="python scripts/build_text.py --sdist ... "
                           "(see data/README.md)")
    texts = strings_from_utf8(arrays["text_utf8"], arrays["text_offsets"])
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


#: SST-2 (Socher et al. 2013) as GLUE distributes it; the MD5 is the one torchtext checks.
SST2_URL = "https://dl.fbaipublicfiles.com/glue/data/SST-2.zip"
SST2_MD5 = "9f81648d4199384278b86e315dac217c"
#: GLUE's test split has no labels: the lessons test on its dev split (872 sentences), as
#: papers report SST-2 accuracy
_SST2_FILES = {"train": "SST-2/train.tsv", "test": "SST-2/dev.tsv"}


def _sst2(split: str, url: str = SST2_URL, md5: str | None = SST2_MD5) -> Sentences:
    import csv
    import io
    import zipfile

    from tlcourse.data.download import cache_dir, download

    if split not in _SST2_FILES:
        raise ValueError(f"SST-2 has splits 'train' and 'test' (GLUE's dev set), not {split!r}")
    archive = download(url, cache_dir() / "sst2" / "SST-2.zip", md5=md5, name="SST-2")
    with zipfile.ZipFile(archive) as zf:
        raw = zf.read(_SST2_FILES[split]).decode("utf-8")
    rows = list(csv.reader(io.StringIO(raw), delimiter="\t", quoting=csv.QUOTE_NONE))
    if not rows or rows[0][:2] != ["sentence", "label"]:
        raise ValueError(f"{archive}: {_SST2_FILES[split]} does not start with the header "
                         "'sentence<TAB>label' of GLUE's SST-2; delete the file to download it "
                         "again")
    texts = [r[0].strip() for r in rows[1:]]
    labels = np.array([int(r[1]) for r in rows[1:]], dtype=np.int64)
    ratings = np.where(labels == 1, 1.0, -1.0).astype(np.float32)  # SST-2 keeps no rating
    return Sentences(texts, ratings, labels, "sst2", split)


#: every name :func:`load_text` knows
TEXT_DATASETS = (*DOMAINS, "sst2")


def load_text(name: str, split: str = "train") -> Sentences:
    """A lesson's labelled sentences by name: a VADER domain (``DOMAINS``, shipped) or
    ``"sst2"`` (the Stanford Sentiment Treebank's binary task from GLUE, downloaded once into
    the cache; its ``"test"`` split is GLUE's dev set)."""
    if name == "sst2":
        return _sst2(split)
    if name in DOMAINS:
        return load_sentences(name, split)
    raise ValueError(f"unknown text dataset {name!r}; choose one of {', '.join(TEXT_DATASETS)}")
