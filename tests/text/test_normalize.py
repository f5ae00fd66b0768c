"""The one normalization every stage shares, against hand-written cases: compatibility forms fold, case folds,
whitespace squeezes."""

from __future__ import annotations

from omnisage.text.normalize import normalize


def test_visible_text_is_normalized() -> None:
    assert normalize("  ＲＥＤ\tStraße  ﬁne ") == "red strasse fine"
    assert normalize("robe de mariée 赤いソファ") == "robe de mariée 赤いソファ"
