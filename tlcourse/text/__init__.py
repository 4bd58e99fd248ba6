"""Text for transfer learning: the course's labelled sentences, a pretrained encoder and its
tokenizer loaded offline, pooling, and cached sentence embeddings (``transformers`` is
imported only when an encoder loads)."""

from tlcourse.text.data import DOMAINS, LABELS, Sentences, load_sentences
from tlcourse.text.embed import embed
from tlcourse.text.encoder import MINILM, encoder_path, load_encoder, mean_pool, tokenize

__all__ = ["DOMAINS", "LABELS", "MINILM", "Sentences", "embed", "encoder_path", "load_encoder",
           "load_sentences", "mean_pool", "tokenize"]
