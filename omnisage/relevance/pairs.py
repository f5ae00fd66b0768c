"""The relevance model's pairs: human labels joined to their items' text, and the unlabelled pairs the teacher
labels (silver).

Gold pairs are the `relevance_labels` rows with the teacher text of their item. Silver pairs are what the first
stage retrieves for queries: each query's top `silver_candidates` by the query embedding, minus every pair a human
labelled and every query held out for evaluation, sampled down to `silver_share` times the gold count. For the
synthetic world the queries are every language's, so relevance reaches the languages raters never covered.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from omnisage.data.io import find_table, read_table
from omnisage.data.scale import RelevanceScale, scale_of
from omnisage.data.validate import read_manifest
from omnisage.errors import DataError
from omnisage.relevance.itemtext import item_texts
from omnisage.schema import RELEVANCE_LABELS

KEY = ("query_text", "entity_type", "entity_id")


def read_labels(path: str | Path, *, scale: RelevanceScale | None = None) -> tuple[pa.Table, RelevanceScale]:
    """A `relevance_labels` table and its scale: from a world folder (scale from its world.json) or a file
    (then `scale` must be given, or a world.json must sit beside it)."""
    path = Path(path)
    folder = path if path.is_dir() else path.parent
    table_path = find_table(path, "relevance_labels") if path.is_dir() else path
    if table_path is None or not table_path.exists():
        raise DataError(
            "no relevance_labels table (expected relevance_labels.parquet or .csv)", path=str(path)
        )
    declared = scale_of(read_manifest(folder), path=str(folder / "world.json"))
    scale = scale or declared
    if scale is None:
        raise DataError(
            'the labels\' scale is not declared: add "relevance_scale" to world.json', path=str(folder)
        )
    labels = read_table(table_path, RELEVANCE_LABELS)
    scale.check(labels.column("label").to_numpy(), path=str(table_path))
    return labels, scale


def entity_keys(table: pa.Table) -> pa.Array:
    """One "type\\x1fid" string per row: the join key of (entity_type, entity_id)."""
    return pc.binary_join_element_wise(table.column("entity_type"), table.column("entity_id"), "\x1f")


def with_item_text(pairs: pa.Table, entities: pa.Table, *, what: str = "labels") -> pa.Table:
    """`pairs` (with entity_type, entity_id) plus an `item_text` column from the enriched entity table.

    Every pair's item must be in `entities` (enrich covers every pin and product of a world): a pair whose item
    is missing means the labels and the enriched table come from different worlds, which is an error."""
    rows = pc.index_in(entity_keys(pairs), value_set=entity_keys(entities))
    missing = pc.index(pc.is_null(rows), True).as_py()
    if missing >= 0:
        raise DataError(
            f"{what} row {missing + 1} names {pairs.column('entity_type')[missing]} "
            f"'{pairs.column('entity_id')[missing]}', which the enriched table does not have "
            "(labels and enriched table from different worlds?)"
        )
    texts = item_texts(entities.take(rows))
    return pairs.append_column("item_text", pa.array(texts, pa.string()))


def gold_pairs(labels: pa.Table, entities: pa.Table) -> pa.Table:
    """Human-labelled pairs with their item text: query_text, entity_type, entity_id, label, lang, item_text."""
    return with_item_text(labels.select([*KEY, "label", "lang"]), entities)


def drop_queries(pairs: pa.Table, queries: pa.Array | list[str]) -> pa.Table:
    """The pairs whose query is not in `queries` (e.g. the queries held out for evaluation)."""
    if len(queries) == 0:
        return pairs
    inside = pc.is_in(pairs.column("query_text"), value_set=pa.array(list(queries), pa.string()))
    return pairs.filter(pc.invert(inside))


def sample_silver(candidates: pa.Table, n: int, seed: int) -> pa.Table:
    """At most `n` candidate pairs, drawn uniformly (seeded), kept in their original order."""
    if candidates.num_rows <= n:
        return candidates
    rng = np.random.default_rng(seed)
    keep = np.sort(rng.choice(candidates.num_rows, size=n, replace=False))
    return candidates.take(pa.array(keep, pa.int64()))
