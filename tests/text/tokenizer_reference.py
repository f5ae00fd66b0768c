"""The n-gram tokenizer's definition, one text and one character at a time with the Unicode database and dict
lookups: the oracle that the batched numpy path (tokenizers, featurizer) is tested against."""

from __future__ import annotations

import itertools
import unicodedata

from omnisage.text import tokenizers
from omnisage.text.normalize import normalize
from omnisage.text.vocab import Vocabulary


def reference_tokens(text: str | None) -> tuple[list[str], list[str]]:
    """(words, char trigrams) of one text. Separators: categories P*, S*, Z*, Cc, Cs; a CJK character is a
    word of its own (even a CJK separator), and trigrams run over `#` + the separator-free segments joined by
    `#` + `#`."""
    words, segments, word, segment = [], [], "", ""
    for char in normalize(text or "") + " ":
        category = unicodedata.category(char)
        separator = category[0] in "PSZ" or category in ("Cc", "Cs")
        cjk = any(a <= ord(char) <= b for a, b in tokenizers._CJK_RANGES)
        if separator or cjk:
            words += [word] if word else []
            words += [char] if cjk else []
            word = ""
        else:
            word += char
        if separator:
            segments += [segment] if segment else []
            segment = ""
        else:
            segment += char
    padded = f"#{'#'.join(segments)}#" if segments else ""
    return words, [padded[i : i + 3] for i in range(len(padded) - 2)]


def reference_ids(vocab: Vocabulary, text: str | None) -> list[int]:
    """The known ids of one text: its unigrams, bigrams, then trigrams, each looked up as a string."""
    words, trigrams = reference_tokens(text)
    bigrams = [f"{a} {b}" for a, b in itertools.pairwise(words)]
    trigram_ids = {t: i for i, t in enumerate(vocab.tokens["trigrams"])}
    ids = [vocab.unigram_ids[w] for w in words if w in vocab.unigram_ids]
    ids += [vocab.bigram_start + vocab.bigram_ids[b] for b in bigrams if b in vocab.bigram_ids]
    return ids + [vocab.trigram_start + trigram_ids[t] for t in trigrams if t in trigram_ids]
