"""The one normalization every stage shares, against hand-written cases: invisible characters go, compatibility
forms fold, case folds, whitespace squeezes."""

from __future__ import annotations

import pytest

from omnisage.text.normalize import normalize
from omnisage.text.tokenizers import tokenize

INVISIBLE = {
    "zero-width space": "\u200b",
    "byte order mark": "\ufeff",
    "soft hyphen": "\u00ad",
    "variation selector 16": "\ufe0f",
    "variation selector 1": "\ufe00",
    "zero-width joiner": "\u200d",
    "word joiner": "\u2060",
    "left-to-right mark": "\u200e",
    "mongolian variation selector": "\u180b",
    "tag character": "\U000e0041",
    "hangul filler": "\u3164",
}


@pytest.mark.parametrize("char", INVISIBLE.values(), ids=INVISIBLE.keys())
def test_invisible_characters_are_removed(char: str) -> None:
    """Rendered as nothing, so a text with them reads as the one without and must normalize to it."""
    assert normalize(f"{char}Blue so{char}fa{char}") == "blue sofa"
    assert normalize(char) == ""  # alone it is an empty query, not a query of one invisible token
    assert normalize(f" {char} ") == ""
    assert tokenize(f"red so{char}fa").unigrams == ["red", "sofa"]


def test_a_mark_split_from_its_letter_by_an_invisible_character_still_composes() -> None:
    assert normalize("cafe\u00ad\u0301") == normalize("café") == "café"


def test_visible_text_is_unchanged() -> None:
    assert normalize("  ＲＥＤ\tStraße  ﬁne ") == "red strasse fine"
    assert normalize("robe de mariée 赤いソファ") == "robe de mariée 赤いソファ"
