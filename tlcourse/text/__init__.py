"""Text for transfer learning: the course's labelled sentences, static word vectors, a
pretrained encoder and its tokenizer loaded offline, pooling, cached sentence embeddings, and
classifiers that train with ``tlc.train.fit`` (``transformers`` is imported only when an
encoder loads)."""

from tlcourse.text.data import DOMAINS, LABELS, Sentences, load_sentences, load_text
from tlcourse.text.embed import embed
from tlcourse.text.encoder import MINILM, encoder_path, load_encoder, mean_pool, tokenize
from tlcourse.text.models import BagOfEmbeddings, SentenceClassifier, TextCollate, text_loader
from tlcourse.text.vectors import WordVectors, load_word_vectors, words

__all__ = ["DOMAINS", "LABELS", "MINILM", "BagOfEmbeddings", "SentenceClassifier", "Sentences",
           "TextCollate", "WordVectors", "embed", "encoder_path", "load_encoder",
           "load_sentences", "load_text", "load_word_vectors", "mean_pool", "text_loader",
           "tokenize", "words"]
