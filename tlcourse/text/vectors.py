"""Static word vectors: one fixed vector per word, learned once from a large corpus (GloVe).

``data/glove/glove100.npz`` holds the 100-dimensional GloVe 6B vectors of the 40,000 most
frequent words (Pennington et al. 2014, https://nlp.stanford.edu/projects/glove/; built by
``scripts/build_glove.py``, see ``data/glove/README.md``). GloVe's words are lower case;
:func:`words` splits a text the same way before a lookup.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence

import numpy as np

from tlcourse.data.arrays import strings_from_utf8
from tlcourse.data.registry import _verified_npz

__all__ = ["WordVectors", "load_word_vectors", "words"]

_WORD = re.compile(r"[a-z0-9]+|[^\sa-z0-9]")


def words(text: str) -> list[str]:
    """Lower-cased words and punctuation marks, in order (``"Don't!"`` -> ``don ' t !``)."""
    if not isinstance(text, str):
        raise TypeError(f"words() takes a string, not a {type(text).__name__}")
    return _WORD.findall(text.lower())


class WordVectors:
    """A table of word vectors: ``wv["cat"]`` is a vector, ``"cat" in wv`` says if it has one.

    Similarities are cosines. Words the table lacks are refused with a clear error by the
    lookups and skipped (and counted) by :meth:`average`.
    """

    def __init__(self, vocabulary: Sequence[str], vectors: np.ndarray):
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or len(vocabulary) != len(vectors):
            raise ValueError(f"{len(vocabulary)} words but vectors of shape {vectors.shape}")
        self.vocabulary = list(vocabulary)
        self.vectors = vectors
        self.index = {w: i for i, w in enumerate(self.vocabulary)}
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        self.unit = vectors / np.maximum(norms, 1e-12)

    @property
    def dim(self) -> int:
        return self.vectors.shape[1]

    def __len__(self) -> int:
        return len(self.vocabulary)

    def __contains__(self, word: str) -> bool:
        return word in self.index

    def __repr__(self) -> str:
        return f"WordVectors({len(self):,} words, {self.dim} dimensions)"

    def _row(self, word: str) -> int:
        if word not in self.index:
            hint = " (the words are lower case)" if word.lower() in self.index else ""
            raise KeyError(f"{word!r} is not among the {len(self):,} words{hint}")
        return self.index[word]

    def __getitem__(self, word: str) -> np.ndarray:
        return self.vectors[self._row(word)]

    def similarity(self, a: str, b: str) -> float:
        """The cosine between two words' vectors."""
        return float(self.unit[self._row(a)] @ self.unit[self._row(b)])

    def nearest(self, query: str | np.ndarray, k: int = 8,
                exclude: Sequence[str] = ()) -> list[tuple[str, float]]:
        """The ``k`` words whose vectors have the largest cosine with ``query`` (a word, left
        out of its own answer, or a vector), as ``(word, cosine)``."""
        if isinstance(query, str):
            exclude = (*exclude, query)
            query = self[query]
        query = np.asarray(query, dtype=np.float32)
        scores = self.unit @ (query / max(float(np.linalg.norm(query)), 1e-12))
        skip = {self.index[w] for w in exclude if w in self.index}
        top = np.argsort(-scores)[:k + len(skip)]
        return [(self.vocabulary[i], float(scores[i])) for i in top if i not in skip][:k]

    def analogy(self, a: str, b: str, c: str, k: int = 5) -> list[tuple[str, float]]:
        """``a`` is to ``b`` as ``c`` is to ...? The words nearest ``b - a + c`` (Mikolov et al.
        2013's test), the three question words left out: ``analogy("man", "king", "woman")``."""
        return self.nearest(self[b] - self[a] + self[c], k, exclude=(a, b, c))

    def average(self, texts: Sequence[str]) -> tuple[np.ndarray, float]:
        """``(N, dim)`` float32: each text's mean word vector (zeros for a text with no known
        word), and the fraction of word tokens found in the table."""
        if isinstance(texts, str):
            raise TypeError("average takes a list of texts; for one text pass [text]")
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        found = total = 0
        for i, text in enumerate(texts):
            rows = [self.index[w] for w in words(text) if w in self.index]
            total += len(words(text))
            found += len(rows)
            if rows:
                out[i] = self.vectors[rows].mean(0)
        return out, found / max(total, 1)


@functools.lru_cache(maxsize=1)
def load_word_vectors() -> WordVectors:
    """The course's GloVe vectors (40,000 words, 100 dimensions), checked against their sum."""
    arrays = _verified_npz("glove/glove100.npz", rebuild="python scripts/build_glove.py "
                           "--tarball ... (see data/glove/README.md)")
    vocabulary = strings_from_utf8(arrays["words_utf8"], arrays["words_offsets"])
    return WordVectors(vocabulary, arrays["vectors"])
