"""Tokenizers against hand-written examples (punctuation, CJK, other scripts, trigram boundaries), and the batch
path (texts joined by a marker, split with numpy, words looked up by code points) against the character-by-
character reference (tokenizer_reference.py)."""

from __future__ import annotations

import itertools
import random

import numpy as np
import pytest

from omnisage.text.tokenizers import MARKER, TextTokenizer, analyze, tokenize, trigram_of_key, word_lists
from omnisage.text.vocab import Vocabulary

from .tokenizer_reference import reference_ids, reference_tokens


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
    # trigrams run over "#北京烤鸭#recipe#"
    assert tokens.trigrams[:5] == ["#北京", "北京烤", "京烤鸭", "烤鸭#", "鸭#r"]
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


def test_tokens_never_straddle_texts_of_a_batch():
    batch = analyze(["ab", "", None, "c d", "!!"])
    assert [trigram_of_key(int(k)) for k in batch.trigram_keys] == ["#ab", "ab#", "#c#", "c#d", "#d#"]
    assert batch.trigram_owner.tolist() == [0, 0, 3, 3, 3]
    assert batch.unigrams == ["ab", "c", "d"] and batch.unigram_owner.tolist() == [0, 3, 3]
    assert batch.bigrams == ["c d"] and batch.bigram_owner.tolist() == [3]
    assert analyze([]).unigrams == [] and TextTokenizer(_vocab()).encode_batch([])[1].size == 0


def test_marker_inside_a_text_is_a_separator():
    assert tokenize(f"red{MARKER}sofa").unigrams == ["red", "sofa"]
    assert analyze([f"a{MARKER}b", "c"]).unigram_owner.tolist() == [0, 0, 1]


_ALPHABETS = [
    "abc xyz ABC 012 .,-!?'\t\n",
    "éèñüßØœ Ｆｕｌｌ ﬁ",
    "北京烤鸭すしカレー・゠",
    "нжд ΣΑΒ नमस्ते ไทย 빨간",
    "🍕🎉 𝐀𝐁 𠀀𠀁 \u00ad\u200d",
]


@pytest.mark.parametrize("seed", range(5))
def test_batch_split_equals_reference(seed):
    rng = random.Random(seed)
    texts = []
    for _ in range(40):
        pool = "".join(rng.sample(_ALPHABETS, rng.randint(1, 2)))
        texts.append("".join(rng.choice(pool) for _ in range(rng.randint(0, 30))))
    texts += ["plain ascii only", "ÉTÉ été", None]
    batch = analyze(texts)
    for i, text in enumerate(texts):
        words, trigrams = reference_tokens(text)
        assert [w for w, o in zip(batch.unigrams, batch.unigram_owner) if o == i] == words, text
        expected_bigrams = [f"{a} {b}" for a, b in itertools.pairwise(words)]
        assert [w for w, o in zip(batch.bigrams, batch.bigram_owner) if o == i] == expected_bigrams, text
        got = [trigram_of_key(int(k)) for k, o in zip(batch.trigram_keys, batch.trigram_owner) if o == i]
        assert got == trigrams, text


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


@pytest.mark.parametrize("unigram_cap", [2, 1000])
def test_fast_ids_equal_string_lookup(unigram_cap):
    rng = random.Random(unigram_cap)
    pool = "abcde éñ北京 "
    corpus = ["".join(rng.choice(pool) for _ in range(rng.randint(0, 25))) for _ in range(300)]
    # a small unigram cap leaves bigrams whose words are not unigrams: they must still be found
    vocab = Vocabulary.build(corpus, unigram_cap=unigram_cap, trigram_cap=50, min_count=2)
    tokenizer = TextTokenizer(vocab)
    texts = [*corpus[:100], None, "", "zzz"]
    for text in texts:  # one text: words looked up in a dict
        assert tokenizer.encode(text).tolist() == reference_ids(vocab, text), text
    ids, offsets = tokenizer.encode_batch(texts)  # hundreds of words: by code points (lookup.WordIndex)
    bounds = [*offsets.tolist(), ids.size]
    for i, text in enumerate(texts):
        assert ids[bounds[i] : bounds[i + 1]].tolist() == reference_ids(vocab, text), text


def test_a_few_ascii_texts_equal_the_batch_path_and_the_reference():
    rng = random.Random(3)
    pool = "abcAB 019 .,-!?'\t\x00#_"
    corpus = ["".join(rng.choice(pool) for _ in range(rng.randint(0, 30))) for _ in range(300)]
    vocab = Vocabulary.build(corpus, unigram_cap=20, trigram_cap=80, min_count=2)
    tokenizer = TextTokenizer(vocab)
    texts = [*corpus[:60], None, "", "A", "ab", "a b", "Red-Sofa  BLUE!"]
    ids, offsets = tokenizer.encode_batch(texts)  # many texts: the numpy path
    bounds = [*offsets.tolist(), ids.size]
    for i, text in enumerate(texts):
        one = tokenizer.encode(text).tolist()  # one ASCII text: plain Python
        assert one == reference_ids(vocab, text) == ids[bounds[i] : bounds[i + 1]].tolist(), text
    few_ids, few_offsets = tokenizer.encode_batch(texts[:5])  # a few: plain Python, text by text
    np.testing.assert_array_equal(few_offsets, offsets[:5])
    np.testing.assert_array_equal(few_ids, ids[: bounds[5]])


def test_word_lists_are_analyze_unigrams_per_text():
    texts = ["Red-Sofa  blue", None, "", "chocolate cake 東京タワー", "x\x00y", "élan Vital!", "a"]
    batch = analyze(texts)
    expected: list[list[str]] = [[] for _ in texts]
    for word, owner in zip(batch.unigrams, batch.unigram_owner.tolist()):
        expected[owner].append(word)
    assert word_lists(texts, batch=3) == expected  # batches of 3 split the texts 3 + 3 + 1
    assert word_lists([]) == []
