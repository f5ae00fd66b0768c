"""Text normalization shared by every stage (synthesis, features, training, serving): no train/serve skew.

NFKC folds compatibility forms (full-width letters, ligatures), casefold lowercases across scripts,
and runs of whitespace collapse to one space.
"""

from __future__ import annotations

import re
import unicodedata

_SPACES = re.compile(r"\s+")


def normalize(text: str) -> str:
    """Canonical form of a query or item text: NFKC, casefolded, single-spaced, trimmed."""
    return _SPACES.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()
