"""N-gram tokenizers of the unified entity encoder (paper §3.4): word unigrams, word bigrams, char trigrams.

Text is first put through the shared `normalize`, then split on whitespace, punctuation and symbols; each CJK
character is a word of its own. Char trigrams run over the separator-free segments joined by `#`, with `#` at
both ends, so `"Red-Sofa"` gives words `red, sofa`, bigram `red sofa` and trigrams of `#red#sofa#`.
A batch of texts is normalized as one string (texts joined by a marker) and split with numpy over its code
points; the id path looks words up by their code points, never building them as strings
(`omnisage.text.lookup`), so the Python cost is per batch, not per text or per word. A query is the exception:
for a few ASCII texts the numpy passes' fixed cost dominates, and plain Python string methods are faster.
"""

from __future__ import annotations

import functools
import itertools
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from omnisage.text.lookup import KeyIndex, WordIndex
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


# The query encoder's inputs holding a query's hash-bag ids (`TextTokenizer.encode_batch`), in PyTorch and ONNX.
LEXICAL_IDS, LEXICAL_OFFSETS = "lexical_ids", "lexical_offsets"
MARKER = "\x00"  # joins the texts of a batch; a separator, so never inside a token
_CODE_BITS = 21  # every Unicode code point fits in 21 bits, so a trigram packs into one int64
_CODE_MASK = (1 << _CODE_BITS) - 1
_SEPARATOR, _CJK = 1, 2  # bits of a code point's class
_DICT_WORDS = 64  # up to this many words in a batch, words are looked up in a dict (same ids, less overhead)
_FEW_TEXTS = (
    8  # up to this many all-ASCII texts (a query, a micro-batch of them) go one by one in plain Python
)
# Lowercased ASCII: every character but [a-z0-9] is a separator (the Unicode rule, restricted to ASCII).
_ASCII_SEPARATORS = str.maketrans({c: " " for c in map(chr, range(128)) if not c.isalnum()})


@functools.cache
def _char_classes() -> np.ndarray:
    """(0x110000,) uint8 class bits of every code point, from the Unicode database (~0.5 s, once). A CJK
    character is a word of its own even where it is also a separator (the katakana middle dot): it is never
    inside a multi-character word, and it splits trigram segments when it is a separator."""
    every = "".join(map(chr, range(0x110000)))
    classes = np.fromiter(map(_is_separator, every), dtype=np.uint8, count=len(every)) * _SEPARATOR
    for a, b in _CJK_RANGES:
        classes[a : b + 1] |= _CJK
    return classes


@dataclass(frozen=True)
class SplitBatch:
    """A batch of texts after normalization, as code points with the position of every word; texts are joined
    by MARKER in `text`. Words are never materialized as strings on the id path (`TextTokenizer`)."""

    size: int  # number of texts
    text: str  # the normalized texts joined by MARKER
    codes: np.ndarray  # (C,) int64 code points of `text`
    separator: np.ndarray  # (C,) bool: breaks a trigram segment
    word_starts: np.ndarray  # (W,) int64 position in `codes` of each word's first character
    word_ends: np.ndarray  # (W,) int64 one past its last
    word_owner: np.ndarray  # (W,) int64 the text it belongs to

    @property
    def words(self) -> list[str]:
        """Every word of the batch, in text order."""
        text = self.text
        return [text[a:b] for a, b in zip(self.word_starts.tolist(), self.word_ends.tolist())]

    def trigrams(self) -> tuple[np.ndarray, np.ndarray]:
        """Packed char trigram keys (T,) int64 and the text each belongs to (T,) int64.

        Each text's trigrams are cut from `#seg1#seg2#...#`, its separator-free segments. The stream of all
        texts is built at once: a segment's first character emits `#` before itself, a marker emits `#` (the
        end of its text) then 0, and windows touching a 0 are dropped, so no trigram straddles two texts.
        """
        codes, inside = self.codes, ~self.separator  # (C,)
        first = inside & ~np.concatenate([[False], inside[:-1]])  # (C,) starts a segment
        marker = codes == 0
        emitted = np.cumsum(inside.astype(np.int64) + first + 2 * marker)  # (C,) stream length up to each
        length = int(emitted[-1]) + 1 if codes.size else 1  # the last text's closing '#' comes last
        stream = np.full(length, ord(BOUNDARY), np.int64)  # (S,)
        stream[emitted[inside] - 1] = codes[inside]
        stream[emitted[marker] - 1] = 0
        if stream.size < 3:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        owner = np.cumsum(stream == 0)[:-2]  # (S-2,) markers up to each trigram's start
        clean = (stream[:-2] != 0) & (stream[1:-1] != 0) & (stream[2:] != 0)  # (S-2,) touches no marker
        return _window_keys(stream)[clean], owner[clean]


def _window_keys(codes: np.ndarray) -> np.ndarray:
    """(C-2,) int64 packed key of every window of three consecutive code points (`key_of_trigram`)."""
    return (codes[:-2] << (2 * _CODE_BITS)) | (codes[1:-1] << _CODE_BITS) | codes[2:]


def split_batch(texts: Sequence[str | None]) -> SplitBatch:
    """Normalize a batch of texts (None = empty) as one string and find its words with numpy.

    A word is one CJK character or a maximal run of characters that are neither separators nor CJK. On
    ASCII, `normalize` is lowercasing (plus whitespace squeezing, which splitting makes moot).
    """
    parts = [t or "" for t in texts]
    joined = MARKER.join(parts)
    if joined.count(MARKER) != max(len(parts) - 1, 0):  # a text holds the marker itself: blank it out
        joined = MARKER.join(t.replace(MARKER, " ") for t in parts)
    # The marker is a starter with no (de)composition: folding the whole batch equals folding text by text.
    text = joined.lower() if joined.isascii() else fold(joined)
    codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32).astype(np.int64)
    classes = _char_classes()[codes]  # (C,)
    cjk = (classes & _CJK) != 0
    inside = classes == 0  # (C,) a character of a multi-character word
    padded = np.concatenate([[False], inside, [False]])  # (C+2,)
    starts = np.flatnonzero(cjk | (inside & ~padded[:-2]))  # (W,)
    ends = np.flatnonzero(cjk | (inside & ~padded[2:])) + 1  # (W,)
    owner = np.cumsum(codes == 0)[starts]  # (W,) markers before the word
    return SplitBatch(len(parts), text, codes, (classes & _SEPARATOR) != 0, starts, ends, owner)


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
    words, owner = split.words, split.word_owner  # (W,)
    pair_keep = owner[:-1] == owner[1:]  # (W-1,) no bigram across two texts
    pairs = list(map(" ".join, itertools.pairwise(words)))
    keys, key_owner = split.trigrams()
    return BatchTokens(
        unigrams=words,
        unigram_owner=owner,
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
        split = split_batch(texts[lo : lo + batch])
        words = split.words
        bounds = np.searchsorted(split.word_owner, np.arange(split.size + 1)).tolist()  # (B+1,) first word
        out.extend(words[a:b] for a, b in itertools.pairwise(bounds))
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

    Each word is looked up in a word index (the unigrams first, so a word's index is its unigram id, then the
    other words of the bigram vocabulary): by its code points in a batch (no strings built), in a dict for a few
    words. A bigram is found by the pair of indices. It gives the same ids as looking `analyze`'s strings up in
    the vocabulary.
    """

    def __init__(self, vocab: IdSpace):
        self.vocab = vocab
        unigrams = vocab.tokens["unigrams"]
        pairs = [b.split(" ") for b in vocab.tokens["bigrams"]]
        others = sorted({w for pair in pairs for w in pair} - set(vocab.unigram_ids))
        words = [*unigrams, *others]
        self._words = WordIndex(words)
        self._num_words = len(words)
        self._word_ids = index = {w: i for i, w in enumerate(words)}  # for small batches (below)
        keys = np.array([index[a] * self._num_words + index[b] for a, b in pairs], dtype=np.int64)  # (V2,)
        self._bigrams = KeyIndex(keys)

    def encode(self, text: str | None) -> np.ndarray:
        """Token ids of one text, (n,) int64: its unigrams, bigrams and trigrams in that order."""
        ids, _ = self.encode_batch([text])
        return ids

    def encode_batch(self, texts: Sequence[str | None]) -> tuple[np.ndarray, np.ndarray]:
        """Flat ids (N,) int64 and offsets (B,) int64: text i owns ids[offsets[i]:offsets[i+1]] (the last, to N).

        `None` and texts without known tokens give empty bags.
        """
        if len(texts) <= _FEW_TEXTS and all(t is None or t.isascii() for t in texts):
            return self._few_ascii(texts)
        ids, owner = self._ids(split_batch(texts))
        order = np.argsort(owner, kind="stable")  # three sorted runs: a linear merge
        counts = np.bincount(owner, minlength=len(texts))  # (B,)
        offsets = np.zeros(len(texts), dtype=np.int64)
        np.cumsum(counts[:-1], out=offsets[1:])
        return ids[order], offsets

    def _few_ascii(self, texts: Sequence[str | None]) -> tuple[np.ndarray, np.ndarray]:
        """`encode_batch` of a few ASCII texts without the numpy split, whose fixed cost is most of a query's time
        there (a query: ~15 µs instead of ~75). On ASCII, normalizing is lowercasing, the words are the runs of
        [a-z0-9] and the trigram segments are the words; the ids are the same (tested against the reference)."""
        vocab, word_ids, per_text = self.vocab, self._word_ids, []
        for text in texts:
            words = (text or "").lower().translate(_ASCII_SEPARATORS).split()
            if not words:
                per_text.append(np.zeros(0, np.int64))
                continue
            index = [word_ids.get(w, -1) for w in words]
            pairs = [a * self._num_words + b for a, b in itertools.pairwise(index) if a >= 0 and b >= 0]
            bigrams = self._bigrams.get(np.array(pairs, dtype=np.int64)) if pairs else np.zeros(0, np.int64)
            padded = f"{BOUNDARY}{BOUNDARY.join(words)}{BOUNDARY}".encode()
            trigrams = vocab.trigram_ids(_window_keys(np.frombuffer(padded, np.uint8).astype(np.int64)))
            unigrams = np.array([i for i in index if 0 <= i < vocab.bigram_start], dtype=np.int64)
            known = [
                unigrams,
                bigrams[bigrams >= 0] + vocab.bigram_start,
                trigrams[trigrams >= 0] + vocab.trigram_start,
            ]
            per_text.append(np.concatenate(known))
        sizes = np.array([a.size for a in per_text], dtype=np.int64)  # (B,)
        return np.concatenate([np.zeros(0, np.int64), *per_text]), np.cumsum(sizes) - sizes

    def _ids(self, split: SplitBatch) -> tuple[np.ndarray, np.ndarray]:
        """Known token ids of a split batch and the text each belongs to (unigrams, bigrams, trigrams)."""
        vocab = self.vocab
        if split.word_starts.size <= _DICT_WORDS:  # a query: a dict lookup per word beats the numpy passes
            words = split.words
            index = np.fromiter(map(self._word_ids.get, words, itertools.repeat(-1)), np.int64, len(words))
        else:
            index = self._words.get(split.codes, split.word_starts, split.word_ends)  # (W,) -1: unknown
        owner = split.word_owner  # (W,)
        is_unigram = (index >= 0) & (index < vocab.bigram_start)  # (W,)
        left, right = index[:-1], index[1:]  # (W-1,)
        is_pair = (left >= 0) & (right >= 0) & (owner[:-1] == owner[1:])  # (W-1,) both known, one text
        bigram_ids = self._bigrams.get(left[is_pair] * self._num_words + right[is_pair])
        keys, trigram_owner = split.trigrams()
        trigram_ids = vocab.trigram_ids(keys)
        ids = np.concatenate(
            [index[is_unigram], bigram_ids + vocab.bigram_start, trigram_ids + vocab.trigram_start]
        )
        owner = np.concatenate([owner[is_unigram], owner[:-1][is_pair], trigram_owner])
        known = np.concatenate([np.ones(int(is_unigram.sum()), bool), bigram_ids >= 0, trigram_ids >= 0])
        return ids[known], owner[known]
