"""Text normalization shared by every stage (synthesis, features, training, serving): no train/serve skew.

Invisible characters (Unicode's default-ignorable code points: zero-width space, BOM, soft hyphen, variation
selectors, bidi marks, ...) are removed, NFKC folds compatibility forms (full-width letters, ligatures), casefold
lowercases across scripts, and runs of whitespace collapse to one space.
"""

from __future__ import annotations

import re
import unicodedata

_SPACES = re.compile(r"\s+")

# Default_Ignorable_Code_Point (Unicode 15, DerivedCoreProperties.txt): rendered as nothing, so a text that holds
# them reads the same as one without, and must embed the same. Removed before NFKC so that a mark separated from
# its base letter by one still composes with it.
_IGNORABLE = re.compile(
    "[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e\u2060-\u206f"
    "\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff0-\ufff8\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0000-\U000e0fff]"
)


def strip_invisible(text: str) -> str:
    """`text` without its default-ignorable code points."""
    return _IGNORABLE.sub("", text)


def fold(text: str) -> str:
    """The character-level half of `normalize` (invisible characters out, NFKC, then casefold), for tokenizers
    that split on whitespace anyway and so can skip the whitespace pass."""
    return unicodedata.normalize("NFKC", strip_invisible(text)).casefold()


def normalize(text: str) -> str:
    """Canonical form of a query or item text: invisible characters out, NFKC, casefolded, single-spaced,
    trimmed."""
    return _SPACES.sub(" ", fold(text)).strip()
