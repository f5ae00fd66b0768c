"""Vocabularies of the n-gram tokenizers: built from the data by frequency, capped, one shared id space.

Ids run over unigrams, then bigrams, then char trigrams. Ties in frequency break by the token's code points,
so the same texts always give the same vocabulary. Saved as one `token<TAB>count` file per kind.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from omnisage.atomic import make_folder, write_text
from omnisage.errors import OmniSageError
from omnisage.progress import tqdm
from omnisage.text.tokenizers import analyze, key_of_trigram, trigram_of_key

KINDS = ("unigrams", "bigrams", "trigrams")
FILES = (*(f"{kind}.tsv" for kind in KINDS), "vocab.json")  # what `save` writes
_CHUNK = 20_000  # texts per counting step
_COMPACT_AT = 20_000_000  # buffered trigram keys before they are merged into counts
_ASCII_BITS = (
    (127 << 42) | (127 << 21) | 127
)  # a packed trigram of three ASCII characters has no other bit set


def _dense(keys: np.ndarray) -> np.ndarray:
    """Packed all-ASCII trigram keys -> index into a 2^21 table (7 bits per character)."""
    return ((keys >> 42) << 14) | (((keys >> 21) & 127) << 7) | (keys & 127)


class Vocabulary:
    """Three frequency-ranked token lists (most frequent first) sharing one id space."""

    def __init__(self, tokens: dict[str, list[str]], counts: dict[str, list[int]] | None = None):
        self.tokens = {kind: list(tokens[kind]) for kind in KINDS}
        self.counts = {kind: list((counts or {}).get(kind) or [0] * len(self.tokens[kind])) for kind in KINDS}
        self.unigram_ids = {t: i for i, t in enumerate(self.tokens["unigrams"])}
        self.bigram_ids = {t: i for i, t in enumerate(self.tokens["bigrams"])}
        self.bigram_start = len(self.tokens["unigrams"])
        self.trigram_start = self.bigram_start + len(self.tokens["bigrams"])
        keys = np.array([_trigram_key(t) for t in self.tokens["trigrams"]], dtype=np.int64)  # (V3,)
        self._trigram_order = np.argsort(keys, kind="stable")
        self._trigram_sorted = keys[self._trigram_order]
        self._ascii_table: np.ndarray | None = None  # built on first lookup

    def __len__(self) -> int:
        return self.trigram_start + len(self.tokens["trigrams"])

    @property
    def sizes(self) -> dict[str, int]:
        return {kind: len(self.tokens[kind]) for kind in KINDS}

    def trigram_ids(self, keys: np.ndarray) -> np.ndarray:
        """Trigram-local ids of packed trigram keys (`tokenizers.key_of_trigram`), -1 when out of vocabulary.

        All-ASCII trigrams (most of them in Latin-script text) are read from a dense 128³ table; others are
        found by binary search.
        """
        if self._trigram_sorted.size == 0:
            return np.full(keys.shape, -1, dtype=np.int64)
        if self._ascii_table is None:
            self._ascii_table = np.full(1 << 21, -1, dtype=np.int32)
            ascii_keys = (self._trigram_sorted & ~_ASCII_BITS) == 0
            self._ascii_table[_dense(self._trigram_sorted[ascii_keys])] = self._trigram_order[ascii_keys]
        is_ascii = (keys & ~_ASCII_BITS) == 0
        if is_ascii.all():  # most texts: one table read, no masks (a query's fixed cost)
            return self._ascii_table[_dense(keys)].astype(np.int64)
        ids = np.full(keys.shape, -1, dtype=np.int64)
        ids[is_ascii] = self._ascii_table[_dense(keys[is_ascii])]
        rest = keys[~is_ascii]
        at = np.searchsorted(self._trigram_sorted, rest).clip(max=self._trigram_sorted.size - 1)
        ids[~is_ascii] = np.where(self._trigram_sorted[at] == rest, self._trigram_order[at], -1)
        return ids

    def token(self, token_id: int) -> str:
        """The token behind an id (for inspection and tests)."""
        for kind, start in zip(KINDS, (0, self.bigram_start, self.trigram_start)):
            if start <= token_id < start + len(self.tokens[kind]):
                return self.tokens[kind][token_id - start]
        raise IndexError(f"token id {token_id} outside the vocabulary (size {len(self)})")

    @classmethod
    def build(
        cls,
        texts: Iterable[str | None],
        *,
        unigram_cap: int = 200_000,
        bigram_cap: int = 1_000_000,
        trigram_cap: int = 64_000,
        min_count: int = 1,
        progress: bool = False,
    ) -> Vocabulary:
        """Count every token of `texts` and keep, per kind, the `cap` most frequent seen `min_count`+ times."""
        word_counts: Counter[str] = Counter()
        bigram_counts: Counter[str] = Counter()
        trigrams = _TrigramCounter()
        chunk: list[str] = []
        for text in tqdm(texts, desc="vocabulary", unit=" texts", disable=not progress, mininterval=1.0):
            if text:
                chunk.append(text)
            if len(chunk) == _CHUNK:
                _count(chunk, word_counts, bigram_counts, trigrams)
                chunk = []
        _count(chunk, word_counts, bigram_counts, trigrams)
        uni, uni_n = _top(word_counts, unigram_cap, min_count)
        bi, bi_n = _top(bigram_counts, bigram_cap, min_count)
        tri, tri_n = trigrams.top(trigram_cap, min_count)
        return cls(
            {"unigrams": uni, "bigrams": bi, "trigrams": tri},
            {"unigrams": uni_n, "bigrams": bi_n, "trigrams": tri_n},
        )

    def save(self, directory: str | Path) -> None:
        """One `<kind>.tsv` per kind (line = id order) plus `vocab.json` with the sizes; each file atomic."""
        directory = Path(directory)
        make_folder(directory)
        for kind in KINDS:
            lines = (f"{t}\t{n}\n" for t, n in zip(self.tokens[kind], self.counts[kind]))
            write_text(directory / f"{kind}.tsv", "".join(lines))
        write_text(directory / "vocab.json", json.dumps({"sizes": self.sizes}, indent=2) + "\n")

    @classmethod
    def load(cls, directory: str | Path) -> Vocabulary:
        directory = Path(directory)
        try:
            files = {name: (directory / name).read_bytes() for name in FILES}
        except OSError as exc:
            raise OmniSageError(f"{directory}: not a readable vocabulary ({exc})") from None
        return cls.parse(files, str(directory))

    @classmethod
    def parse(cls, files: dict[str, bytes], where: str) -> Vocabulary:
        """The vocabulary from the bytes of its `FILES` (e.g. ones checked against a manifest first)."""
        tokens: dict[str, list[str]] = {}
        counts: dict[str, list[int]] = {}
        try:
            sizes = json.loads(files["vocab.json"].decode("utf-8"))["sizes"]
            for kind in KINDS:
                text = files[f"{kind}.tsv"].decode("utf-8")
                rows = [line.split("\t") for line in text.split("\n") if line]
                tokens[kind] = [t for t, _ in rows]
                counts[kind] = [int(n) for _, n in rows]
        except (KeyError, ValueError) as exc:
            raise OmniSageError(f"{where}: not a readable vocabulary ({exc})") from None
        if {k: len(v) for k, v in tokens.items()} != sizes:
            raise OmniSageError(f"{where}: vocabulary files do not match vocab.json sizes {sizes}")
        return cls(tokens, counts)


def _trigram_key(trigram: str) -> int:
    try:
        return key_of_trigram(trigram)
    except ValueError as exc:
        raise OmniSageError(f"trigram vocabulary: {exc}") from None


class _TrigramCounter:
    """Counts packed trigram keys with numpy: buffered, merged by `np.unique` when the buffer grows."""

    def __init__(self) -> None:
        self.keys = np.zeros(0, np.int64)
        self.counts = np.zeros(0, np.int64)
        self.buffer: list[np.ndarray] = []
        self.buffered = 0

    def add(self, keys: np.ndarray) -> None:
        self.buffer.append(keys)
        self.buffered += keys.size
        if self.buffered >= _COMPACT_AT:
            self._compact()

    def _compact(self) -> None:
        fresh = np.concatenate([*self.buffer, np.zeros(0, np.int64)])
        keys = np.concatenate([self.keys, fresh])
        counts = np.concatenate([self.counts, np.ones(fresh.size, np.int64)])
        self.keys, inverse = np.unique(keys, return_inverse=True)
        self.counts = np.bincount(inverse, weights=counts, minlength=self.keys.size).astype(np.int64)
        self.buffer, self.buffered = [], 0

    def top(self, cap: int, min_count: int) -> tuple[list[str], list[int]]:
        self._compact()
        keep = self.counts >= min_count
        keys, counts = self.keys[keep], self.counts[keep]
        order = np.lexsort((keys, -counts))[:cap]  # by count descending, then by code points
        return [trigram_of_key(int(k)) for k in keys[order]], counts[order].tolist()


def _count(
    chunk: list[str], word_counts: Counter[str], bigram_counts: Counter[str], trigrams: _TrigramCounter
):
    tokens = analyze(chunk)
    word_counts.update(tokens.unigrams)
    bigram_counts.update(tokens.bigrams)
    trigrams.add(tokens.trigram_keys)


def _top(counts: Counter[str], cap: int, min_count: int) -> tuple[list[str], list[int]]:
    kept = sorted(((-n, t) for t, n in counts.items() if n >= min_count))[:cap]
    return [t for _, t in kept], [-n for n, _ in kept]
