"""Tokenizers against hand-written examples: punctuation, CJK, other scripts, trigram boundaries, batch == single."""

from __future__ import annotations

import numpy as np

from omnisage.text.tokenizers import TextTokenizer, tokenize, trigram_keys, trigram_of_key, trigram_text
from omnisage.text.vocab import Vocabulary


def test_words_bigrams_trigrams_by_hand():
    tokens = tokenize("  Red-Sofa,\tBED ")
    assert tokens.unigrams == ["red", "sofa", "bed"]
    assert tokens.bigrams == ["red sofa", "sofa bed"]
    # separator runs become one '#', '#' at both ends: "#red#sofa#bed#"
    assert tokens.trigrams == [
        "#re",
        "red",
        "ed#",
        "d#s",
        "#so",
        "sof",
        "ofa",
        "fa#",
        "a#b",
        "#be",
        "bed",
        "ed#",
    ]


def test_punctuation_and_symbols_split_words():
    assert tokenize("don't: 50% off!!! (c++) #tag e-mail").unigrams == [
        "don", "t", "50", "off", "c", "tag", "e", "mail",
    ]  # fmt: skip
    assert tokenize("!!! ... ---").unigrams == []
    assert tokenize("!!! ... ---").trigrams == []


def test_cjk_characters_are_words_but_trigrams_keep_runs():
    tokens = tokenize("北京烤鸭 recipe")
    assert tokens.unigrams == ["北", "京", "烤", "鸭", "recipe"]
    assert tokens.bigrams == ["北 京", "京 烤", "烤 鸭", "鸭 recipe"]
    assert trigram_text("北京烤鸭 recipe") == "#北京烤鸭#recipe#"
    assert tokens.trigrams[:4] == ["#北京", "北京烤", "京烤鸭", "烤鸭#"]
    assert tokenize("すしカレー").unigrams == ["す", "し", "カ", "レ", "ー"]


def test_spaced_scripts_keep_whole_words():
    # Devanagari vowel signs are combining marks, not separators; Hangul is written with spaces.
    assert tokenize("नमस्ते दुनिया").unigrams == ["नमस्ते", "दुनिया"]
    assert tokenize("빨간 소파").unigrams == ["빨간", "소파"]


def test_normalization_is_shared():
    # NFKC folds full-width forms; casefold maps ß to ss.
    assert tokenize("ＲＥＤ Straße").unigrams == ["red", "strasse"]


def test_short_texts():
    assert tokenize("a").trigrams == ["#a#"]
    assert tokenize("").trigrams == []
    assert tokenize("ab").trigrams == ["#ab", "ab#"]


def test_trigram_keys_never_straddle_texts():
    keys, owner = trigram_keys(["#ab#", "", "#c#", "#d"])
    assert [trigram_of_key(int(k)) for k in keys] == ["#ab", "ab#", "#c#"]
    assert owner.tolist() == [0, 0, 2]


def _vocab() -> Vocabulary:
    return Vocabulary.build(["red sofa", "red sofa bed", "blue sofa", "北京烤鸭"], min_count=1)


def test_encode_drops_unknown_tokens_and_keeps_repeats():
    vocab = _vocab()
    tokenizer = TextTokenizer(vocab)
    ids = tokenizer.encode("red sofa zebra sofa")
    tokens = [vocab.token(int(i)) for i in ids]
    assert tokens[:4] == ["red", "sofa", "sofa", "red sofa"]  # unigrams, then known bigrams
    assert "zebra" not in tokens and "sofa zebra" not in tokens
    assert tokens[4:] == [
        t for t in tokenize("red sofa zebra sofa").trigrams if t in vocab.tokens["trigrams"]
    ]
    assert tokenizer.encode(None).size == 0
    assert tokenizer.encode("zzz qqq").size == 0


def test_batch_equals_one_by_one():
    tokenizer = TextTokenizer(_vocab())
    texts = ["red sofa", None, "", "blue sofa bed", "北京", "!!!", "sofa"]
    ids, offsets = tokenizer.encode_batch(texts)
    assert offsets.shape == (len(texts),)
    bounds = [*offsets.tolist(), ids.size]
    for i, text in enumerate(texts):
        np.testing.assert_array_equal(ids[bounds[i] : bounds[i + 1]], tokenizer.encode(text))
