"""The labelled sentences (data/text/vader.npz): the shipped corpus, exact counts, splits."""

import hashlib

import numpy as np
import pytest

import tlcourse as tlc
from tlcourse.text import DOMAINS, load_sentences


def test_each_domain_has_the_corpus_sentences_and_labels():
    # Counts from scripts/build_text.py's table (data/README.md): sentences rated beyond +-0.5
    expected = {"tweets": (1032, 2270), "movies": (5060, 4981), "products": (1216, 1719),
                "editorials": (1661, 1087)}
    for domain in DOMAINS:
        s = load_sentences(domain)
        assert np.bincount(s.labels).tolist() == list(expected[domain]), domain
        assert np.all(np.abs(s.ratings) > 0.5) and np.all((s.ratings > 0) == (s.labels == 1))
        assert all(t and t == t.strip() and "  " not in t for t in s.texts)
    first = load_sentences("tweets")
    assert first[0] == ("Somehow I was blessed with some really amazing friends in my life who "
                        "love me and send encouragement when I'm not feeling awesome. So lucky.", 1)
    assert first.ratings[0] == pytest.approx(2.726315789, abs=1e-6)


def test_html_entities_are_decoded_and_unicode_survives():
    texts = [t for d in DOMAINS for t in load_sentences(d).texts]
    assert not any("&amp;" in t or "&quot;" in t for t in texts)
    assert any("We were 17 deep last night & the love" in t for t in texts)
    assert any(not t.isascii() for t in load_sentences("movies").texts)   # UTF-8 kept


def test_splits_are_disjoint_stratified_and_the_same_every_time():
    for domain in DOMAINS:
        train, test, whole = (load_sentences(domain, s) for s in ("train", "test", "all"))
        assert sorted(train.texts + test.texts) == sorted(whole.texts)
        assert not set(train.texts) & set(test.texts)
        assert len(test) == pytest.approx(0.25 * len(whole), abs=2)
        assert test.labels.mean() == pytest.approx(whole.labels.mean(), abs=0.01)
    assert load_sentences("products", "test").texts == load_sentences("products", "test").texts


def test_a_wider_neutral_band_leaves_out_more_sentences():
    narrow, wide = load_sentences("editorials", neutral=0.0), load_sentences("editorials",
                                                                             neutral=1.5)
    assert len(wide) < len(load_sentences("editorials")) < len(narrow)
    assert np.all(np.abs(wide.ratings) > 1.5)


def test_bad_requests_say_what_is_valid():
    with pytest.raises(ValueError, match="tweets, movies, products, editorials"):
        load_sentences("reviews")
    with pytest.raises(ValueError, match="'train', 'test' or 'all'"):
        load_sentences("tweets", "val")
    with pytest.raises(ValueError, match=r"\[0, 4\)"):
        load_sentences("tweets", neutral=-1)


def test_a_corrupted_or_missing_text_file_is_refused(tmp_path, monkeypatch):
    (tmp_path / "text").mkdir()
    root = tlc.data.data_root()
    (tmp_path / "text" / "SHA256SUMS").write_text((root / "text/SHA256SUMS").read_text())
    monkeypatch.setenv("TLCOURSE_DATA", str(tmp_path))
    with pytest.raises(FileNotFoundError, match=r"build_text\.py"):
        load_sentences("tweets")
    (tmp_path / "text" / "vader.npz").write_bytes(b"truncated")
    with pytest.raises(OSError, match="does not match its checksum"):
        load_sentences("tweets")


def test_the_shipped_file_matches_its_checksum():
    root = tlc.data.data_root() / "text"
    digest, name = (root / "SHA256SUMS").read_text().split()
    assert hashlib.sha256((root / name).read_bytes()).hexdigest() == digest
