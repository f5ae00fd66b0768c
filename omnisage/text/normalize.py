"""Text normalization shared by every stage (synthesis, features, training, serving): no train/serve skew.

NFKC folds compatibility forms (full-width letters, ligatures), casefold lowercases across scripts,
and runs of whitespace collapse to one space.
"""

from __future__ import annotations

import re
import unicodedata

_SPACES = re.compile(r"\s+")


def fold(text: str) -> str:
    """The character-level half of `normalize` (NFKC, then casefold), for tokenizers that split on whitespace
    anyway and so can skip the whitespace pass."""
    return unicodedata.normalize("NFKC", text).casefold()


def normalize(text: str) -> str:
    """Canonical form of a query or item text: NFKC, casefolded, single-spaced, trimmed."""
    return _SPACES.sub(" ", fold(text)).strip()
