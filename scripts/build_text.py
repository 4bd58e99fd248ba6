#!/usr/bin/env python3
"""Build the course's labelled sentences from the VADER gold-standard corpora.

The corpora (Hutto & Gilbert 2014, MIT licence) ship inside the *source distribution* of
``vadersentiment`` 3.3.2 on PyPI (``additional_resources/hutto_ICWSM_2014.tar.gz``), not in
its wheel. Writes ``text/vader.npz``, ``text/SHA256SUMS`` and ``text/README.md`` (documenting
all this) under ``--out``. No randomness: reruns are identical.

    pip download --no-deps --no-binary :all: vadersentiment==3.3.2 -d /tmp/vader
    python scripts/build_text.py --sdist /tmp/vader/vaderSentiment-3.3.2.tar.gz
"""

from __future__ import annotations

import argparse
import hashlib
import html
import io
import re
import tarfile
from pathlib import Path

import numpy as np
from _sums import write_sum  # scripts/_sums.py

SDIST_SHA256 = "5d7c06e027fc8b99238edb0d53d970cf97066ef97654009890b83703849632f9"
INNER = "vaderSentiment-3.3.2/additional_resources/hutto_ICWSM_2014.tar.gz"
#: domain name in the course -> file in the corpus (mean rating of 20 raters, -4 .. +4)
DOMAINS = {"tweets": "tweets_GroundTruth.txt",
           "movies": "movieReviewSnippets_GroundTruth.txt",
           "products": "amazonReviewSnippets_GroundTruth.txt",
           "editorials": "nytEditorialSnippets_GroundTruth.txt"}
SPACE = re.compile(r"\s+")


def clean(text: str) -> str:
    """HTML entities decoded (``&amp;`` -> ``&``, twice-escaped ``&amp;amp;`` too), whitespace
    runs collapsed, ends stripped."""
    for _ in range(3):
        text, before = html.unescape(text), text
        if text == before:
            break
    return SPACE.sub(" ", text).strip()


def read_corpus(sdist: Path) -> tuple[dict[str, list[tuple[str, float, str]]], dict[str, int]]:
    """``{domain: [(id, rating, text), ...]}`` in file order, cleaned, duplicates dropped;
    and ``{domain: number of lines dropped}``."""
    digest = hashlib.sha256(sdist.read_bytes()).hexdigest()
    if digest != SDIST_SHA256:
        raise SystemExit(f"{sdist}: sha256 {digest} is not vadersentiment 3.3.2's sdist "
                         f"({SDIST_SHA256})")
    with tarfile.open(sdist) as outer:
        inner_bytes = outer.extractfile(INNER).read()
    rows: dict[str, list[tuple[str, float, str]]] = {}
    dropped: dict[str, int] = {}
    with tarfile.open(fileobj=io.BytesIO(inner_bytes)) as inner:
        for domain, name in DOMAINS.items():
            raw = inner.extractfile(f"hutto_ICWSM_2014/{name}").read().decode("utf-8")
            seen, kept = set(), []
            for line in raw.splitlines():
                ident, rating, text = line.split("\t")
                text = clean(text)
                if text and text.lower() not in seen:      # same sentence twice: keep the first
                    seen.add(text.lower())
                    kept.append((ident, float(rating), text))
            rows[domain] = kept
            dropped[domain] = len(raw.splitlines()) - len(kept)
    return rows, dropped


def pack(rows: dict[str, list[tuple[str, float, str]]]) -> dict[str, np.ndarray]:
    """Arrays without pickled objects: the texts as one UTF-8 byte string plus offsets."""
    flat = [(d, *r) for d in DOMAINS for r in rows[d]]
    encoded = [t.encode("utf-8") for _, _, _, t in flat]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(b) for b in encoded])
    return {"text_utf8": np.frombuffer(b"".join(encoded), dtype=np.uint8),
            "text_offsets": offsets,
            "rating": np.array([r for _, _, r, _ in flat], dtype=np.float32),
            "domain": np.array([list(DOMAINS).index(d) for d, _, _, _ in flat], dtype=np.int64),
            "domains": np.array(list(DOMAINS)),
            "ids": np.array([i for _, i, _, _ in flat])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sdist", type=Path, required=True,
                        help="vaderSentiment-3.3.2.tar.gz (pip download --no-binary :all:)")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "data")
    args = parser.parse_args()
    rows, dropped = read_corpus(args.sdist)
    out = args.out / "text"
    out.mkdir(parents=True, exist_ok=True)
    target = out / "vader.npz"
    tmp = target.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, **pack(rows))
    tmp.replace(target)
    digest = write_sum(target)
    table = []
    for domain, kept in rows.items():
        ratings = np.array([r for _, r, _ in kept])
        table.append(f"| {domain} | `{DOMAINS[domain]}` | {len(kept):,} | "
                     f"{(ratings > 0.5).sum():,} | {(ratings < -0.5).sum():,} |")
    (out / "README.md").write_text(README.format(
        table="\n".join(table), digest=digest,
        dropped=", ".join(f"{d} {k}" for d, k in dropped.items()), n=sum(map(len, rows.values())),
        mb=target.stat().st_size / 1e6, sdist=SDIST_SHA256))
    print(f"{target}: {target.stat().st_size / 1e6:.1f} MB, sha256 {digest}")


README = """# Course data: labelled sentences (VADER gold standard)

Generated by `scripts/build_text.py` from the source distribution of `vadersentiment` 3.3.2
(PyPI; sha256 `{sdist}`); do not edit. Rebuild:

```bash
pip download --no-deps --no-binary :all: vadersentiment==3.3.2 -d /tmp/vader
python scripts/build_text.py --sdist /tmp/vader/vaderSentiment-3.3.2.tar.gz
```

- `vader.npz` (`np.load`; no pickle), {n:,} sentences, {mb:.1f} MB: `text_utf8` uint8, all
  texts as one UTF-8 byte string, and `text_offsets` int64 (n + 1): text i is
  `text_utf8[offsets[i]:offsets[i + 1]]`; `rating` float32, the mean of 20 human ratings from
  -4 (extremely negative) to +4 (extremely positive); `domain` int64, an index into `domains`
  str (4,); `ids` str, the corpus's own sentence ids. In corpus order, domain by domain.
  `tlcourse.text.load_sentences(domain, split)` reads it.
- `SHA256SUMS`, for `sha256sum -c`:
```
{digest}  vader.npz
```

## Domains

Four corpora of one task (how positive is this sentence?), rated the same way:

| domain | corpus file | sentences | rating > +0.5 | rating < -0.5 |
|---|---|---|---|---|
{table}

The lessons label a sentence positive above +0.5 and negative below -0.5, and leave out the
ones in between (neither clearly positive nor clearly negative); the last two columns are
those counts. Tweets lean positive, editorials negative: a domain shift in the labels as well
as in the words.

## Cleaning

Each line of the corpus files is `id<TAB>mean rating<TAB>text` (UTF-8). HTML entities are
decoded (`&amp;` to `&`, and a few twice-escaped ones such as `&amp;amp;`), whitespace runs
collapse to one space, and ends are stripped. A sentence that repeats an earlier one of its
domain (ignoring case) is left out: {dropped}. Nothing
else is changed: spelling, emoticons, URL placeholders (`http://url_removed`) and casing are
the raters'.

## Source and licence

C.J. Hutto and E. Gilbert (2014), *VADER: A Parsimonious Rule-based Model for Sentiment
Analysis of Social Media Text*, ICWSM-14: the gold-standard sentences of the paper, each
rated by 20 independent human raters (`hutto_ICWSM_2014/_README_.txt` in the archive). The
tweets, movie-review snippets, Amazon product-review snippets and New York Times editorial
snippets (their origins are described in the paper) are distributed with `vadersentiment` under
the MIT licence (Copyright (c) 2016 C.J. Hutto; `LICENSE.txt` of the source distribution).
"""


if __name__ == "__main__":
    main()
