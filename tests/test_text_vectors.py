"""The shipped GloVe word vectors: the real table, lookups, analogies, sentence averages."""

import numpy as np
import pytest

from tlcourse.text import WordVectors, load_word_vectors, words

# the first values of "the" in glove.6B.100d.txt (Pennington et al. 2014)
THE = [-0.038194, -0.24487, 0.72812, -0.39961, 0.083172, 0.043953, -0.39141, 0.3344]


@pytest.fixture(scope="module")
def wv():
    return load_word_vectors()


def test_it_is_glove_6b_100d_in_frequency_order(wv):
    assert len(wv) == 40_000 and wv.dim == 100
    assert wv.vocabulary[:6] == ["the", ",", ".", "of", "to", "and"]
    np.testing.assert_allclose(wv["the"][:8], THE, atol=2e-3)  # stored as float16
    assert len(np.unique(wv.vectors, axis=0)) == len(wv)       # no two words share a vector


def test_neighbours_and_analogies_are_the_classic_ones(wv):
    assert wv.nearest("cat", 1)[0][0] == "dog"
    assert wv.nearest("movie", 1)[0][0] == "film"
    assert [w for w, _ in wv.nearest("terrible", 2)] == ["horrible", "awful"]
    assert wv.analogy("man", "king", "woman", 1)[0][0] == "queen"
    assert wv.analogy("france", "paris", "italy", 1)[0][0] == "rome"
    # the question words never answer their own question
    assert not {"man", "king", "woman"} & {w for w, _ in wv.analogy("man", "king", "woman", 10)}
    assert wv.similarity("good", "bad") > 0.7   # same contexts, opposite sentiment


def test_nearest_is_cosine_against_a_direct_computation(wv):
    query = wv["river"]
    cos = wv.vectors @ query / (np.linalg.norm(wv.vectors, axis=1) * np.linalg.norm(query))
    expected = [wv.vocabulary[i] for i in np.argsort(-cos)[1:6]]
    assert [w for w, _ in wv.nearest("river", 5)] == expected
    got = dict(wv.nearest(query, 3))
    assert got["river"] == pytest.approx(1.0, abs=1e-5)


def test_average_is_the_mean_of_the_known_words():
    table = WordVectors(["a", "b", "!"], np.array([[1.0, 0], [0, 1.0], [3.0, 3.0]]))
    out, coverage = table.average(["A b", "b zzz !", "zzz"])
    np.testing.assert_allclose(out, [[0.5, 0.5], [1.5, 2.0], [0.0, 0.0]])
    assert coverage == pytest.approx(4 / 6)


def test_words_lower_cases_and_splits_punctuation():
    assert words("Don't STOP, ok?!") == ["don", "'", "t", "stop", ",", "ok", "?", "!"]
    with pytest.raises(TypeError, match="string"):
        words(b"bytes")


def test_unknown_words_and_bad_tables_get_clear_errors(wv):
    with pytest.raises(KeyError, match="lower case"):
        wv["Cat"]
    with pytest.raises(KeyError, match="not among the 40,000 words"):
        wv["qwxzzyv"]
    with pytest.raises(TypeError, match="list of texts"):
        wv.average("one text")
    with pytest.raises(ValueError, match="2 words but vectors"):
        WordVectors(["a", "b"], np.zeros((3, 4)))


def test_a_corrupted_vector_file_is_refused(tmp_path, monkeypatch):
    import shutil

    from tlcourse.data import registry
    from tlcourse.text import vectors

    shutil.copytree(registry.data_root() / "glove", tmp_path / "glove")
    (tmp_path / "glove" / "glove100.npz").write_bytes(b"not the file")
    monkeypatch.setenv("TLCOURSE_DATA", str(tmp_path))
    vectors.load_word_vectors.cache_clear()
    try:
        with pytest.raises(OSError, match="does not match its checksum"):
            vectors.load_word_vectors()
    finally:
        vectors.load_word_vectors.cache_clear()
