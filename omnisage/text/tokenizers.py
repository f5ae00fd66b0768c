"""N-gram tokenizers of the unified entity encoder (paper §3.4): word unigrams, word bigrams, char trigrams.

Text is first put through the shared `normalize`, then split on whitespace, punctuation and symbols; each CJK
character is a word of its own. Char trigrams run over the separator-free segments joined by `#`, with `#` at
both ends, so `"Red-Sofa"` gives words `red, sofa`, bigram `red sofa` and trigrams of `#red#sofa#`.
A batch of texts is tokenized as one string (texts joined by a marker), so the Python cost is per batch, not
per text: this is what lets batch inference reach thousands of items per second.
"""

from __future__ import annotations

import functools
import itertools
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from omnisage.text.normalize import fold

BOUNDARY = "#"  # stands for whitespace (and any separator run) in char trigrams; itself a separator

# Scripts written without spaces between words: every character is a word. Hangul is spaced, so not here.
_CJK_RANGES = (
    (0x3040, 0x30FF),  # Hiragana, Katakana
    (0x3100, 0x312F),  # Bopomofo
    (0x31F0, 0x31FF),  # Katakana phonetic extensions
    (0x3400, 0x4DBF),  # CJK extension A
    (0x4E00, 0x9FFF),  # CJK unified ideographs
    (0xF900, 0xFAFF),  # CJK compatibility ideographs
    (0x20000, 0x2FA1F),  # CJK extensions B-F, compatibility supplement
    (0x30000, 0x3134F),  # CJK extension G
)


def _is_separator(char: str) -> bool:
    """Whitespace, punctuation, symbols, controls and lone surrogates separate words."""
    category = unicodedata.category(char)
    return category[0] in "PSZ" or category in ("Cc", "Cs")


def _char_class(ranges: list[tuple[int, int]]) -> str:
    return "".join(
        f"{re.escape(chr(a))}-{re.escape(chr(b))}" if a < b else re.escape(chr(a)) for a, b in ranges
    )


def _ranges(codepoints: list[int]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for cp in codepoints:
        if out and out[-1][1] == cp - 1:
            out[-1] = (out[-1][0], cp)
        else:
            out.append((cp, cp))
    return out


# The query encoder's inputs holding a query's hash-bag ids (`TextTokenizer.encode_batch`), in PyTorch and ONNX.
LEXICAL_IDS, LEXICAL_OFFSETS = "lexical_ids", "lexical_offsets"
MARKER = "\x00"  # joins the texts of a batch; a separator, so never inside a token
_CODE_BITS = 21  # every Unicode code point fits in 21 bits, so a trigram packs into one int64
_CODE_MASK = (1 << _CODE_BITS) - 1
_SPACED_MARKER = f" {MARKER} "  # spaces keep the marker a word of its own on the `str.split` path
# Lowercased ASCII: every character but [a-z0-9] and the marker is a separator (the Unicode rule, restricted).
_ASCII_SEPARATORS = str.maketrans({c: " " for c in map(chr, range(1, 128)) if not c.isalnum()})
_ASTRAL = re.compile("[\U00010000-\U0010ffff]")


@functools.cache
def _patterns(astral: bool) -> tuple[re.Pattern[str], re.Pattern[str], re.Pattern[str]]:
    """(word, segment, CJK) patterns built from the Unicode database (~0.3 s, once). Without `astral` they only
    hold Basic Multilingual Plane ranges: the regex engine then uses a bitmap instead of a slow range scan."""
    limit = 0x110000 if astral else 0x10000
    separators = _char_class(_ranges([cp for cp in range(limit) if _is_separator(chr(cp))]))
    cjk = _char_class([(a, min(b, limit - 1)) for a, b in _CJK_RANGES if a < limit])
    word = re.compile(f"\\x00|[{cjk}]|[^{separators}{cjk}]+")
    segment = re.compile(f"\\x00|[^{separators}]+")
    return word, segment, re.compile(f"[{cjk}]")


@dataclass(frozen=True)
class SplitBatch:
    """A batch of texts after normalization and splitting; MARKER is an entry of `words` and `segments`
    between two consecutive texts."""

    size: int  # number of texts
    words: list[str]
    segments: list[str]  # separator-free runs (CJK kept together) that char trigrams are cut from

    def trigrams(self) -> tuple[np.ndarray, np.ndarray]:
        """Packed char trigram keys (T,) int64 and the text each belongs to (T,) int64."""
        padded = f"{BOUNDARY}{BOUNDARY.join(self.segments)}{BOUNDARY}" if self.segments else ""
        codes = np.frombuffer(padded.encode("utf-32-le"), dtype=np.uint32).astype(np.int64)  # (C,)
        if codes.size < 3:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        owner = np.cumsum(codes == 0)[:-2]  # (C-2,) markers up to each trigram's start
        clean = (codes[:-2] != 0) & (codes[1:-1] != 0) & (codes[2:] != 0)  # (C-2,) touches no marker
        keys = (codes[:-2] << (2 * _CODE_BITS)) | (codes[1:-1] << _CODE_BITS) | codes[2:]  # (C-2,)
        return keys[clean], owner[clean]


def split_batch(texts: Sequence[str | None]) -> SplitBatch:
    """Normalize a batch of texts (None = empty) as one string and split it into words and segments.

    All-ASCII batches take a fast path (lowercase, map separators to spaces, `str.split`: ~4x faster than
    the regex), which gives the same words: on ASCII, `normalize` is lowercasing plus whitespace squeezing.
    """
    parts = [t or "" for t in texts]
    joined = _SPACED_MARKER.join(parts)
    if joined.count(MARKER) != max(len(parts) - 1, 0):  # a text holds the marker itself: blank it out
        joined = _SPACED_MARKER.join(t.replace(MARKER, " ") for t in parts)
    if joined.isascii():
        word_list = segments = joined.lower().translate(_ASCII_SEPARATORS).split()
    else:
        text = fold(joined)  # the marker is a starter with no (de)composition: per-text == whole-batch
        word_re, segment_re, cjk_re = _patterns(_ASTRAL.search(text) is not None)
        word_list = word_re.findall(text)
        segments = segment_re.findall(text) if cjk_re.search(text) else word_list
    return SplitBatch(len(parts), word_list, segments)


@dataclass(frozen=True)
class BatchTokens:
    """Every token of a batch of texts as strings, flat and in text order, with the index of the owning text."""

    unigrams: list[str]
    unigram_owner: np.ndarray  # (U,) int64
    bigrams: list[str]
    bigram_owner: np.ndarray  # (G,) int64
    trigram_keys: np.ndarray  # (T,) int64, three code points packed (see `trigram_of_key`)
    trigram_owner: np.ndarray  # (T,) int64


def analyze(texts: Sequence[str | None]) -> BatchTokens:
    """Normalize and cut a batch of texts into unigrams, bigrams and char trigrams (vocabulary building)."""
    split = split_batch(texts)
    is_marker = np.fromiter(map(MARKER.__eq__, split.words), dtype=bool, count=len(split.words))  # (W,)
    owner = np.cumsum(is_marker)  # (W,) a token's text = markers before it
    keep = ~is_marker
    pair_keep = keep[:-1] & keep[1:]  # (W-1,) no bigram across two texts
    pairs = list(map(" ".join, itertools.pairwise(split.words)))
    keys, key_owner = split.trigrams()
    return BatchTokens(
        unigrams=list(itertools.compress(split.words, keep.tolist())),
        unigram_owner=owner[keep],
        bigrams=list(itertools.compress(pairs, pair_keep.tolist())),
        bigram_owner=owner[:-1][pair_keep],
        trigram_keys=keys,
        trigram_owner=key_owner,
    )


def word_lists(texts: Sequence[str | None], batch: int = 4096) -> list[list[str]]:
    """Each text's words (the unigrams of `analyze`), split in batches: BM25 and term matching read text
    through the model's own normalization and tokenizer (no train/eval/serve skew)."""
    out: list[list[str]] = []
    for lo in range(0, len(texts), batch):
        chunk = texts[lo : lo + batch]
        words = split_batch(chunk).words
        start = 0
        for _ in range(len(chunk) - 1):  # `list.index` scans for the next marker in C, not word by word
            end = words.index(MARKER, start)
            out.append(words[start:end])
            start = end + 1
        out.append(words[start:])
    return out


def trigram_of_key(key: int) -> str:
    return chr(key >> (2 * _CODE_BITS)) + chr((key >> _CODE_BITS) & _CODE_MASK) + chr(key & _CODE_MASK)


def key_of_trigram(trigram: str) -> int:
    if len(trigram) != 3:
        raise ValueError(f"a trigram has 3 characters, got {trigram!r}")
    return (ord(trigram[0]) << (2 * _CODE_BITS)) | (ord(trigram[1]) << _CODE_BITS) | ord(trigram[2])


@dataclass(frozen=True)
class Tokens:
    """Every token of one text, by kind, in text order (repeats kept: pooling is a sum)."""

    unigrams: list[str]
    bigrams: list[str]
    trigrams: list[str]


def tokenize(text: str | None) -> Tokens:
    """Normalize one text and cut it into word unigrams, word bigrams and char trigrams (for inspection)."""
    batch = analyze([text])
    return Tokens(batch.unigrams, batch.bigrams, [trigram_of_key(int(k)) for k in batch.trigram_keys])


class IdSpace(Protocol):
    """What `TextTokenizer` reads of a vocabulary (`omnisage.text.vocab.Vocabulary`). A protocol, not an import:
    the vocabulary is built from this module's tokens, so it imports this module, not the other way round."""

    tokens: dict[str, list[str]]  # kind ("unigrams", "bigrams", "trigrams") -> tokens in id order
    unigram_ids: dict[str, int]
    bigram_start: int
    trigram_start: int

    def trigram_ids(self, keys: np.ndarray) -> np.ndarray: ...


class TextTokenizer:
    """Text -> ids in the vocabulary's one id space (unigrams, then bigrams, then trigrams); unknown tokens dropped.

    The id path never builds bigram strings: each word is looked up once in a word index (the unigrams first,
    so a word's index is its unigram id, then the other words of the bigram vocabulary), and a bigram is found
    by the pair of indices. It gives the same ids as looking `analyze`'s strings up in the vocabulary.
    """

    def __init__(self, vocab: IdSpace):
        self.vocab = vocab
        unigrams = vocab.tokens["unigrams"]
        pairs = [b.split(" ") for b in vocab.tokens["bigrams"]]
        others = sorted({w for pair in pairs for w in pair} - set(vocab.unigram_ids))
        self._word_index = {w: i for i, w in enumerate(itertools.chain(unigrams, others))}
        self._word_index[MARKER] = -2
        self._num_words = len(unigrams) + len(others)
        index = self._word_index
        keys = np.array([index[a] * self._num_words + index[b] for a, b in pairs], dtype=np.int64)  # (V2,)
        self._bigram_order = np.argsort(keys, kind="stable")
        self._bigram_sorted = keys[self._bigram_order]

    def encode(self, text: str | None) -> np.ndarray:
        """Token ids of one text, (n,) int64: its unigrams, bigrams and trigrams in that order."""
        ids, _ = self.encode_batch([text])
        return ids

    def encode_batch(self, texts: Sequence[str | None]) -> tuple[np.ndarray, np.ndarray]:
        """Flat ids (N,) int64 and offsets (B,) int64: text i owns ids[offsets[i]:offsets[i+1]] (the last, to N).

        `None` and texts without known tokens give empty bags. ASCII and other texts are split in two groups
        so that the ASCII fast path serves most of a Latin-script batch.
        """
        parts = [t or "" for t in texts]
        is_ascii = list(map(str.isascii, parts))
        if all(is_ascii) or not any(is_ascii):
            ids, owner = self._ids(split_batch(parts))
        else:
            ids, owner = [], []
            for keep in (is_ascii, [not a for a in is_ascii]):
                group_ids, group_owner = self._ids(split_batch(list(itertools.compress(parts, keep))))
                ids.append(group_ids)
                owner.append(np.flatnonzero(keep)[group_owner])  # group-local -> batch text index
            ids, owner = np.concatenate(ids), np.concatenate(owner)
        order = np.argsort(owner, kind="stable")  # a few sorted runs: a linear merge
        counts = np.bincount(owner, minlength=len(parts))  # (B,)
        offsets = np.zeros(len(parts), dtype=np.int64)
        np.cumsum(counts[:-1], out=offsets[1:])
        return ids[order], offsets

    def _ids(self, split: SplitBatch) -> tuple[np.ndarray, np.ndarray]:
        """Known token ids of a split batch and the text each belongs to (unigrams, bigrams, trigrams)."""
        vocab = self.vocab
        index = np.fromiter(
            map(self._word_index.get, split.words, itertools.repeat(-1)),
            dtype=np.int64,
            count=len(split.words),
        )  # (W,) word index, -1 unknown, -2 marker
        owner = np.cumsum(index == -2)  # (W,) a token's text = markers before it
        is_unigram = (index >= 0) & (index < vocab.bigram_start)  # (W,)
        left, right = index[:-1], index[1:]  # (W-1,)
        is_pair = (left >= 0) & (right >= 0)  # (W-1,) both known, no marker between
        bigram_ids = _search(
            self._bigram_sorted, self._bigram_order, left[is_pair] * self._num_words + right[is_pair]
        )
        keys, trigram_owner = split.trigrams()
        trigram_ids = vocab.trigram_ids(keys)
        ids = np.concatenate(
            [index[is_unigram], bigram_ids + vocab.bigram_start, trigram_ids + vocab.trigram_start]
        )
        owner = np.concatenate([owner[is_unigram], owner[:-1][is_pair], trigram_owner])
        known = np.concatenate([np.ones(int(is_unigram.sum()), bool), bigram_ids >= 0, trigram_ids >= 0])
        return ids[known], owner[known]


def _search(sorted_keys: np.ndarray, order: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Position in the original list of each key (via its sorted copy), -1 when absent."""
    if sorted_keys.size == 0:
        return np.full(keys.shape, -1, dtype=np.int64)
    at = np.searchsorted(sorted_keys, keys).clip(max=sorted_keys.size - 1)
    return np.where(sorted_keys[at] == keys, order[at], -1)
