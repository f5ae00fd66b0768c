"""N-gram tokenizers of the unified entity encoder (paper §3.4, SPEC §4): word unigrams, word bigrams, char trigrams.

Text is first put through the shared `normalize`, then split on whitespace, punctuation and symbols; each CJK
character is a word of its own. Char trigrams run over the separator-free segments joined by `#`, with `#` at
both ends, so `"Red-Sofa"` gives words `red, sofa`, bigram `red sofa` and trigrams of `#red#sofa#`.
"""

from __future__ import annotations

import functools
import itertools
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from omnisage.text.normalize import normalize

if TYPE_CHECKING:
    from omnisage.text.vocab import Vocabulary

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


@functools.cache
def _patterns() -> tuple[re.Pattern[str], re.Pattern[str]]:
    """(word pattern, segment pattern), built once from the Unicode database (~0.3 s)."""
    separators = _char_class(_ranges([cp for cp in range(0x110000) if _is_separator(chr(cp))]))
    cjk = _char_class(list(_CJK_RANGES))
    word = re.compile(f"[{cjk}]|[^{separators}{cjk}]+")
    segment = re.compile(f"[^{separators}]+")
    return word, segment


def words(normalized: str) -> list[str]:
    """Word unigrams of an already-normalized text, in order."""
    return _patterns()[0].findall(normalized)


def bigrams(word_list: list[str]) -> list[str]:
    """Adjacent word pairs joined by one space."""
    return [f"{a} {b}" for a, b in itertools.pairwise(word_list)]


def trigram_text(normalized: str) -> str:
    """The string char trigrams are cut from: separator runs become `#`, with `#` at both ends ('' if no words)."""
    segments = _patterns()[1].findall(normalized)
    return f"{BOUNDARY}{BOUNDARY.join(segments)}{BOUNDARY}" if segments else ""


def trigrams(normalized: str) -> list[str]:
    text = trigram_text(normalized)
    return [text[i : i + 3] for i in range(len(text) - 2)]


@dataclass(frozen=True)
class Tokens:
    """Every token of one text, by kind, in text order (repeats kept: pooling is a sum)."""

    unigrams: list[str]
    bigrams: list[str]
    trigrams: list[str]


def tokenize(text: str) -> Tokens:
    """Normalize `text` and cut it into word unigrams, word bigrams and char trigrams."""
    normalized = normalize(text)
    word_list = words(normalized)
    return Tokens(word_list, bigrams(word_list), trigrams(normalized))


_CODE_BITS = 21  # every Unicode code point fits in 21 bits, so a trigram packs into one int64
_CODE_MASK = (1 << _CODE_BITS) - 1


def trigram_keys(trigram_texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Every char trigram of every `trigram_text`, packed as int64 keys, and the index of the text it came from.

    Vectorized over the whole batch: the texts are concatenated as UTF-32 code points and trigrams that would
    straddle two texts are dropped.
    """
    lengths = np.fromiter(map(len, trigram_texts), dtype=np.int64, count=len(trigram_texts))  # (T,)
    codes = np.frombuffer("".join(trigram_texts).encode("utf-32-le"), dtype=np.uint32).astype(
        np.int64
    )  # (C,)
    if codes.size < 3:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    owner = np.repeat(np.arange(len(trigram_texts)), lengths)[:-2]  # (C-2,) text of each trigram start
    ends = np.cumsum(lengths)  # (T,)
    inside = np.arange(codes.size - 2) + 3 <= ends[owner]  # (C-2,) trigram ends within its own text
    keys = (codes[:-2] << (2 * _CODE_BITS)) | (codes[1:-1] << _CODE_BITS) | codes[2:]  # (C-2,)
    return keys[inside], owner[inside]


def trigram_of_key(key: int) -> str:
    return chr(key >> (2 * _CODE_BITS)) + chr((key >> _CODE_BITS) & _CODE_MASK) + chr(key & _CODE_MASK)


class TextTokenizer:
    """Text -> ids in the vocabulary's one id space (unigrams, then bigrams, then trigrams); unknown tokens dropped."""

    def __init__(self, vocab: Vocabulary):
        self.vocab = vocab

    def encode(self, text: str | None) -> np.ndarray:
        """Token ids of one text, (n,) int64: its unigrams, bigrams and trigrams in that order."""
        ids, _ = self.encode_batch([text])
        return ids

    def encode_batch(self, texts: Sequence[str | None]) -> tuple[np.ndarray, np.ndarray]:
        """Flat ids (N,) int64 and offsets (B,) int64: text i owns ids[offsets[i]:offsets[i+1]] (the last, to N).

        `None` and texts without words give empty bags.
        """
        vocab = self.vocab
        normalized = [normalize(t) if t else "" for t in texts]
        word_lists = [words(t) for t in normalized]
        bigram_lists = [bigrams(w) for w in word_lists]
        unigram_ids, unigram_owner = _lookup(vocab.unigram_ids, word_lists)
        bigram_ids, bigram_owner = _lookup(vocab.bigram_ids, bigram_lists)
        keys, trigram_owner = trigram_keys([trigram_text(t) for t in normalized])
        trigram_ids = vocab.trigram_ids(keys)
        ids = np.concatenate(
            [unigram_ids, bigram_ids + vocab.bigram_start, trigram_ids + vocab.trigram_start]
        )
        owner = np.concatenate([unigram_owner, bigram_owner, trigram_owner])
        known = np.concatenate([unigram_ids, bigram_ids, trigram_ids]) >= 0
        ids, owner = ids[known], owner[known]
        order = np.argsort(owner, kind="stable")  # three sorted runs: a linear merge
        counts = np.bincount(owner, minlength=len(texts))  # (B,)
        offsets = np.zeros(len(texts), dtype=np.int64)
        np.cumsum(counts[:-1], out=offsets[1:])
        return ids[order], offsets


def _lookup(table: dict[str, int], token_lists: list[list[str]]) -> tuple[np.ndarray, np.ndarray]:
    """Ids (-1 when unknown) of every token of every list, and the index of the list each came from."""
    flat = list(itertools.chain.from_iterable(token_lists))
    ids = np.fromiter(map(table.get, flat, itertools.repeat(-1)), dtype=np.int64, count=len(flat))
    lengths = np.fromiter(map(len, token_lists), dtype=np.int64, count=len(token_lists))
    return ids, np.repeat(np.arange(len(token_lists)), lengths)
