"""The teacher's text of an item: every text field of the enriched entity table, marked and budgeted.

One function builds it, for training the teacher and for labelling with it. Fields in a fixed order, each under
its own marker ("title: ... | caption: ... | queries: a; b"), each cut to a budget of words so that one long field
(a description, twenty engaged queries) cannot crowd the others out of the encoder's window. List fields (engaged
queries, board titles) are best first in the enriched table, so the cut keeps the strongest.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pyarrow as pa

# (column of the enriched table, marker, word budget), in the order the teacher reads them.
FIELDS: tuple[tuple[str, str, int], ...] = (
    ("title", "title", 24),
    ("brand", "brand", 6),
    ("color", "color", 4),
    ("description", "description", 40),
    ("caption", "caption", 24),
    ("link", "link", 12),
    ("engaged_queries", "queries", 32),
    ("board_titles", "boards", 20),
)
SEPARATOR = " | "
LIST_SEPARATOR = "; "


def _field_text(value: Any, budget: int) -> str:
    """The field's text within `budget` words; list fields keep whole entries, best first, while they fit."""
    if value is None:
        return ""
    if isinstance(value, str):
        return " ".join(value.split()[:budget])
    parts, used = [], 0
    for entry in value:
        words = str(entry).split() if entry is not None else []
        if not words:
            continue
        if used + len(words) > budget:
            if not parts:  # a first entry longer than the budget is cut rather than dropped
                parts.append(" ".join(words[:budget]))
            break
        parts.append(" ".join(words))
        used += len(words)
    return LIST_SEPARATOR.join(parts)


def item_text(row: Mapping[str, Any]) -> str:
    """One item's teacher text from a row of the enriched table (missing or empty fields are left out)."""
    parts = []
    for column, marker, budget in FIELDS:
        text = _field_text(row.get(column), budget)
        if text:
            parts.append(f"{marker}: {text}")
    return SEPARATOR.join(parts)


def item_texts(entities: pa.Table | Iterable[Mapping[str, Any]]) -> list[str]:
    """The teacher text of every row of an enriched entity table (or of dict rows), in order."""
    if isinstance(entities, pa.Table):
        present = [c for c, _, _ in FIELDS if c in entities.column_names]
        entities = entities.select(present).to_pylist()
    return [item_text(row) for row in entities]
