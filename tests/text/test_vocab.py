"""Vocabulary: frequency order with deterministic ties, caps, min count, one id space, save/load round trip."""

from __future__ import annotations

from omnisage.text.tokenizers import TextTokenizer
from omnisage.text.vocab import Vocabulary

TEXTS = ["red sofa", "red sofa", "red chair", "blue sofa", None, "green"]


def test_frequency_order_and_ties():
    vocab = Vocabulary.build(TEXTS, min_count=1)
    # red 3, sofa 3 (tie -> code point order), then blue/chair/green once each
    assert vocab.tokens["unigrams"] == ["red", "sofa", "blue", "chair", "green"]
    assert vocab.counts["unigrams"] == [3, 3, 1, 1, 1]
    assert vocab.tokens["bigrams"] == ["red sofa", "blue sofa", "red chair"]
    # seven trigrams are seen 3 times; '#' sorts before letters
    assert vocab.tokens["trigrams"][:7] == ["#re", "#so", "ed#", "fa#", "ofa", "red", "sof"]
    assert vocab.counts["trigrams"][:8] == [3] * 7 + [2]


def test_caps_and_min_count():
    vocab = Vocabulary.build(TEXTS, unigram_cap=2, bigram_cap=1, trigram_cap=4, min_count=2)
    assert vocab.tokens["unigrams"] == ["red", "sofa"]
    assert vocab.tokens["bigrams"] == ["red sofa"]
    assert len(vocab.tokens["trigrams"]) == 4
    assert all(n >= 2 for n in vocab.counts["trigrams"])
    assert len(vocab) == 2 + 1 + 4
    assert Vocabulary.build(TEXTS, min_count=4).sizes == {"unigrams": 0, "bigrams": 0, "trigrams": 0}


def test_one_id_space():
    vocab = Vocabulary.build(TEXTS, min_count=1)
    assert vocab.bigram_start == 5 and vocab.trigram_start == 8
    assert vocab.token(0) == "red" and vocab.token(5) == "red sofa" and vocab.token(8) == "#re"
    ids = TextTokenizer(vocab).encode("green")
    assert sorted(vocab.token(int(i)) for i in ids) == sorted(["green", "#gr", "gre", "ree", "een", "en#"])


def test_save_load_round_trip(tmp_path):
    vocab = Vocabulary.build([*TEXTS, "北京烤鸭", "नमस्ते"], min_count=1)
    vocab.save(tmp_path / "vocab")
    again = Vocabulary.load(tmp_path / "vocab")
    assert again.tokens == vocab.tokens and again.counts == vocab.counts
    text = "red sofa 北京 नमस्ते blue"
    assert TextTokenizer(again).encode(text).tolist() == TextTokenizer(vocab).encode(text).tolist()


def test_chunked_counting_matches(monkeypatch):
    import omnisage.text.vocab as vocab_module

    texts = [f"item {i % 7} color {i % 3} sofa" for i in range(100)]
    whole = Vocabulary.build(texts, min_count=1)
    monkeypatch.setattr(vocab_module, "_CHUNK", 7)
    monkeypatch.setattr(vocab_module, "_COMPACT_AT", 50)
    chunked = Vocabulary.build(texts, min_count=1)
    assert chunked.tokens == whole.tokens and chunked.counts == whole.counts
