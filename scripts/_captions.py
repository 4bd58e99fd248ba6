"""Captions for the Open Clip Art drawings, from the metadata of their SVG files.

Each SVG of the Debian package ``openclipart-svg`` carries a Dublin Core record: a title
(``dc:title`` of the ``cc:Work``) and keywords (``dc:subject``). Both are noisy: titles that
name a whole set ("Lemon SVG theme", "card", "gramastar"), tool and hash stamps, author names,
and keywords that repeat the package folder (``animals/birds/x.svg``: "animal", "bird"). A
caption keeps the informative part: the title's words, unless the title names a set, then the
keywords that are neither set tags nor the file's own folder names.
"""

from __future__ import annotations

import html
import re
from collections import Counter
from pathlib import Path

TITLE_MAX = 8  # a title shared by more files than this names a set, not a drawing
#: Tags of sets, tools and authors, not of what a drawing shows (read off the keyword counts).
STOP = frozenset("""
hash icon icons theme themes geometry magick action actions application applications lemon
mapsym filesystem filesystems unsorted special gradients mimetypes mime types webpage appicon
architetto francesco rollandin and the of svg inkscape clipart mimeicon symbol symbols sign signs
shape shapes led simple united nations member by
""".split())

_WORK = re.compile(r"<cc:Work\b.*?</cc:Work>", re.S)
_AGENTS = re.compile(r"<dc:(creator|publisher|rights|contributor)\b.*?</dc:\1>", re.S)


def metadata(svg: str) -> tuple[str, list[str]]:
    """``(title, keywords)`` of the drawing itself (not its author's or publisher's title)."""
    work = _AGENTS.sub("", m.group(0)) if (m := _WORK.search(svg)) else ""
    title = re.search(r"<dc:title>(.*?)</dc:title>", work, re.S)
    subject = re.search(r"<dc:subject>(.*?)</dc:subject>", work, re.S)
    keywords = re.findall(r"<rdf:li>(.*?)</rdf:li>", subject.group(1), re.S) if subject else []
    clean = [html.unescape(k).strip() for k in keywords]
    return html.unescape(title.group(1)).strip() if title else "", [k for k in clean if k]


def words(text: str) -> list[str]:
    """Lower-case words of letters: underscores, dashes and camelCase split; stamps dropped."""
    text = re.sub(r"(?i)clip ?art by [^-]+ - ", "", text)  # "Clipart by Nicu Buculei - x"
    text = re.sub(r"(?i)HASH\(0x[0-9a-f]+\)|0x[0-9a-f]+", " ", text)
    text = re.sub(r"([a-z])([A-Z])", r"\1 \2", re.sub(r"[_\-]+", " ", text))
    return [w for w in re.sub(r"[^A-Za-z ]+", " ", text).lower().split() if len(w) > 1]


def singular(word: str) -> str:
    if word.endswith("ies"):
        return word[:-3] + "y"
    return word[:-1] if word.endswith("s") and not word.endswith("ss") else word


def captions(source: Path, paths: list[str]) -> dict[str, str]:
    """``{path: caption}`` for the SVGs at ``paths`` (relative to ``source``); "" where
    nothing informative is left. A caption is the title's words, then ", " and the remaining
    keywords: "bored dog", "laptop, imac"."""
    meta = {p: metadata((source / p).read_text(encoding="utf-8", errors="replace")) for p in paths}
    title_count = Counter(t.lower() for t, _ in meta.values())
    out = {}
    for path, (title, keywords) in meta.items():
        folders = {singular(w) for part in path.split("/")[:-1] for w in words(part)}

        def keep(w: str) -> bool:
            return w not in STOP and singular(w) not in folders  # noqa: B023

        named_set = title_count[title.lower()] > TITLE_MAX
        head = [] if named_set else [w for w in words(title) if keep(w)]
        tail = []
        for w in (w for k in keywords for w in words(k)):
            if keep(w) and w not in head and w not in tail:
                tail.append(w)
        text = ", ".join(([" ".join(head)] if head else []) + tail)
        out[path] = text if re.search(r"[a-z]{3}", text) else ""
    return out
