"""Text models and loaders for tlc.train.fit: the bag of embeddings, the sentence classifier on
the pretrained encoder, dict batches with dynamic padding; and notebook 06's self-checks."""

import numpy as np
import pytest
import torch

import tlcourse as tlc
from tlcourse.exercises import ex06
from tlcourse.text import (
    MINILM,
    BagOfEmbeddings,
    SentenceClassifier,
    TextCollate,
    embed,
    load_encoder,
    load_sentences,
    mean_pool,
    text_loader,
)


@pytest.fixture(scope="module")
def encoder():
    return load_encoder(MINILM)


def test_collate_pads_to_the_longest_text_and_keeps_the_labels(encoder):
    tokenizer, _ = encoder
    batch = TextCollate(tokenizer, max_length=8)([("a fine day", 1), ("no", 0),
                                                  ("word " * 20, 1)])
    assert set(batch) == {"input_ids", "attention_mask", "token_type_ids", "labels"}
    assert batch["input_ids"].shape == (3, 8)             # cut to max_length
    assert batch["attention_mask"].sum(1).tolist() == [5, 3, 8]
    assert batch["labels"].tolist() == [1, 0, 1]


def test_text_loader_shuffles_the_same_way_from_its_seed(encoder):
    tokenizer, _ = encoder
    sentences = load_sentences("products", "test")
    first = [b["labels"].tolist() for b in text_loader(sentences, tokenizer, batch_size=64,
                                                       shuffle=True, seed=3)]
    again = [b["labels"].tolist() for b in text_loader(sentences, tokenizer, batch_size=64,
                                                       shuffle=True, seed=3)]
    plain = [b["labels"].tolist() for b in text_loader(sentences, tokenizer, batch_size=64)]
    assert first == again and first != plain
    assert [y for batch in plain for y in batch] == sentences.labels.tolist()  # in order


def test_bag_of_embeddings_is_the_masked_mean_then_a_linear_layer():
    torch.manual_seed(0)
    model = BagOfEmbeddings(vocab_size=10, num_classes=2, dim=4)
    ids = torch.tensor([[1, 2, 3], [4, 0, 0]])
    mask = torch.tensor([[1, 1, 1], [1, 0, 0]])
    expected = torch.stack([model.embedding.weight[[1, 2, 3]].mean(0), model.embedding.weight[4]])
    torch.testing.assert_close(model(ids, mask), model.head(expected))


def test_the_sentence_classifier_pools_the_encoder_like_embed(encoder):
    tokenizer, model = encoder
    clf = SentenceClassifier(model, num_classes=2).eval()
    texts = ["what a lovely surprise", "the worst service ever, never again"]
    batch = TextCollate(tokenizer)([(t, 0) for t in texts])
    batch.pop("labels")
    with torch.no_grad():
        pooled = mean_pool(model(**batch).last_hidden_state, batch["attention_mask"])
        logits = clf(**batch)
    torch.testing.assert_close(logits, clf.head(pooled))
    unit = embed(texts, tokenizer, model, cache=False, progress=False)
    torch.testing.assert_close(unit, torch.nn.functional.normalize(pooled, dim=1))
    # the two parts, for a smaller encoder learning rate
    groups = tlc.models.param_groups(clf, head_lr=1e-3, backbone_lr_mult=0.05)
    sizes = {g["name"]: sum(p.numel() for p in g["params"]) for g in groups}
    assert sizes == {"head": 384 * 2 + 2, "backbone": 22_713_216}


def test_fit_trains_the_bag_of_embeddings_on_text_batches(encoder):
    tokenizer, _ = encoder
    sentences = load_sentences("products", "train")
    keep = np.concatenate([np.flatnonzero(sentences.labels == k)[:64] for k in (0, 1)])
    train = sentences.subset(keep)
    loader = text_loader(train, tokenizer, batch_size=16, shuffle=True, seed=0)
    model = BagOfEmbeddings(tokenizer.vocab_size, 2, dim=16)
    before = tlc.train.evaluate(model, text_loader(train, tokenizer, batch_size=64))
    tlc.train.fit(model, loader, num_epochs=30, lr=1e-2, seed=0, progress=False)
    after = tlc.train.evaluate(model, text_loader(train, tokenizer, batch_size=64))
    assert after["loss"] < 0.5 * before["loss"] and after["acc"] >= 0.9


def test_subset_keeps_texts_labels_and_ratings_together():
    sentences = load_sentences("tweets", "test")
    part = sentences.subset([5, 0, 2])
    assert part.texts == [sentences.texts[i] for i in (5, 0, 2)]
    assert part.labels.tolist() == sentences.labels[[5, 0, 2]].tolist()
    assert part.ratings.tolist() == sentences.ratings[[5, 0, 2]].tolist()
    with pytest.raises(IndexError, match="positions in 0"):
        sentences.subset([len(sentences)])


def test_the_mean_pool_exercise_accepts_the_answer_and_explains_mistakes(capsys):
    assert ex06.check_mean_pool(mean_pool, strict=True)
    assert not ex06.check_mean_pool(lambda h, m: h.mean(1))
    assert "padding included" in capsys.readouterr().out
    assert not ex06.check_mean_pool(lambda h, m: ...)
    with pytest.raises(AssertionError):
        ex06.check_mean_pool(lambda h, m: h.sum(1), strict=True)


def test_the_worst_pair_exercise_reads_the_matrix(capsys):
    matrix = np.array([[0.9, 0.6, 0.8], [0.7, 0.85, 0.75], [0.8, 0.5, 0.9]])
    names = ["a", "b", "c"]
    assert ex06.check_worst_pair(("c", "b"), matrix, names, strict=True)
    assert not ex06.check_worst_pair(("a", "b"), matrix, names)
    assert not ex06.check_worst_pair(("a", "a"), matrix, names)
    assert not ex06.check_worst_pair(None, matrix, names)
    assert "same domain twice" in capsys.readouterr().out


def test_the_tfidf_exercise_compares_with_the_lessons_accuracy(capsys):
    texts = ["good", "great", "bad", "awful"] * 5
    labels = np.array([1, 1, 0, 0] * 5)
    assert ex06.check_tfidf_baseline(lambda a, b, c: labels, texts, labels, texts, labels,
                                     expected_acc=1.0, strict=True)
    assert not ex06.check_tfidf_baseline(lambda a, b, c: 1 - labels, texts, labels, texts,
                                         labels, expected_acc=1.0)
    assert not ex06.check_tfidf_baseline(lambda a, b, c: labels[:3], texts, labels, texts,
                                         labels, expected_acc=1.0)


def test_a_probe_becomes_the_head_with_the_same_predictions(encoder):
    from sklearn.linear_model import LogisticRegression

    tokenizer, model = encoder
    sentences = load_sentences("products", "test").subset(range(0, 120, 3))
    z = embed(sentences.texts, tokenizer, model, cache=False, progress=False)
    probe = LogisticRegression(C=10, max_iter=2000).fit(z.numpy(), sentences.labels)
    clf = SentenceClassifier(model, 2, normalize=True).head_from_probe(probe.coef_,
                                                                      probe.intercept_)
    logits = tlc.train.predict(clf, text_loader(sentences, tokenizer, batch_size=16))[0]
    probs = torch.softmax(logits, 1)[:, 1].numpy()
    np.testing.assert_allclose(probs, probe.predict_proba(z.numpy())[:, 1], atol=1e-4)
    with pytest.raises(ValueError, match="does not fit a head"):
        clf.head_from_probe(np.zeros((3, 384)), np.zeros(3))
