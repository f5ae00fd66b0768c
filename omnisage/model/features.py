"""Enriched pin/product rows -> tensors for the unified entity encoder (paper §3.2–3.4).

Two steps, so that training can tokenize its catalog once and cut batches cheaply:
`EntityFeaturizer.features(rows)` tokenizes every text field and packs the continuous vector into
`EntityFeatures` (numpy, ragged: row -> elements -> token ids); `EntityFeatures.batch(rows, exclude_queries)`
gathers an `EntityBatch` of torch tensors, leaving out a training pair's own query (leave-one-out).
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import torch

from omnisage.config import ModelConfig, TextField
from omnisage.errors import DataError
from omnisage.schema import ENRICHED_ENTITIES
from omnisage.text.lookup import concat_ranges
from omnisage.text.normalize import normalize
from omnisage.text.tokenizers import TextTokenizer
from omnisage.text.vocab import Vocabulary

TEXT_FIELDS: tuple[str, ...] = typing.get_args(TextField)  # the text columns the encoder can read
# Each entry of a list field is tokenized on its own: no bigram or trigram spans two board titles.
LIST_FIELDS = frozenset({"board_titles", "engaged_queries"})
LEAVE_ONE_OUT_FIELD = "engaged_queries"
# Texts tokenized as one string: bounds the memory of a big table and keeps its numpy arrays in cache (8k: +10%
# featurization over 64k on bench_entity_encoder).
_ELEMENTS_PER_CHUNK = 8_192

Entities = pa.Table | Sequence[Mapping[str, object]]


def continuous_widths(config: ModelConfig) -> list[int]:
    """Widths of the continuous blocks [legacy pin | legacy product | image]; a switched-off block is absent."""
    return [config.legacy_dim, config.legacy_dim] + [config.image_dim] * config.use_image_features


def continuous_dim(config: ModelConfig) -> int:
    return sum(continuous_widths(config))


def size_fields(config: ModelConfig) -> tuple[str, ...]:
    """The list fields whose sizes the encoder reads (`model.field_sizes`), in model.text_fields order."""
    return tuple(f for f in config.text_fields if f in LIST_FIELDS) if config.field_sizes else ()


@dataclass
class EntityBatch:
    """A batch for `EntityEncoder`. Bag `f * B + b` holds field f of entity b (field-major)."""

    token_ids: torch.Tensor  # (N,) int64 vocabulary ids of all bags, concatenated
    offsets: torch.Tensor  # (F*B,) int64 start of each bag in token_ids
    continuous: torch.Tensor  # (B, C) float32
    num_fields: int
    text_tokens: dict[str, torch.Tensor] | None = None  # (B, T) each: the entity text tower's input
    sizes: torch.Tensor | None = None  # (B, S) float32 log(1 + entries) of each sized list field

    def __len__(self) -> int:
        return self.continuous.shape[0]

    def to(self, device: torch.device | str) -> EntityBatch:
        tokens = {k: v.to(device) for k, v in self.text_tokens.items()} if self.text_tokens else None
        return EntityBatch(
            self.token_ids.to(device),
            self.offsets.to(device),
            self.continuous.to(device),
            self.num_fields,
            tokens,
            self.sizes.to(device) if self.sizes is not None else None,
        )


@dataclass
class RaggedField:
    """One text field of R rows: row r owns elements [row_offsets[r], row_offsets[r+1]), element e owns
    token_ids[token_offsets[e]:token_offsets[e+1]]. A scalar field has one element per row (maybe empty)."""

    token_ids: np.ndarray  # (T,) int32: half of int64's memory (a catalog's ids are its largest array)
    token_offsets: np.ndarray  # (E+1,) int64
    row_offsets: np.ndarray  # (R+1,) int64
    texts: pa.LargeStringArray | None = None  # element texts for leave-one-out (Arrow: no object each)
    _normalized: dict[int, str] = dataclasses.field(default_factory=dict)  # element -> normalize(text), memo

    def normalized(self, element: int) -> str:
        """The element's text after `normalize` (computed on first use: most are never compared)."""
        key = self._normalized.get(element)
        if key is None:
            text = self.texts[element].as_py() if self.texts is not None else None
            key = self._normalized[element] = normalize(text or "")
        return key


@dataclass
class EntityFeatures:
    """Tokenized text fields and continuous features of R entities (numpy; slice with `batch`)."""

    fields: dict[str, RaggedField]  # in the configured field order
    continuous: np.ndarray  # (R, C) float32
    texts: np.ndarray | None = None  # (R,) object: each entity's own text for the text tower
    tokenize: Callable[[list[str]], dict[str, torch.Tensor]] | None = None  # the text tower's tokenizer
    sized: tuple[str, ...] = ()  # fields of `fields` whose sizes the batch carries (`size_fields`)

    def __len__(self) -> int:
        return self.continuous.shape[0]

    def batch(
        self,
        rows: np.ndarray | Sequence[int] | None = None,
        exclude_queries: Sequence[str | None] | None = None,
    ) -> EntityBatch:
        """The EntityBatch of `rows` (default: all). `exclude_queries[i]`, when given, is removed from row i's
        engaged queries (compared after normalization): a training pair's own query must not leak into its
        positive."""
        rows = np.arange(len(self)) if rows is None else np.asarray(rows, dtype=np.int64)
        exclude: dict[str, list[frozenset[str] | None]] = {}
        if exclude_queries is not None:
            if len(exclude_queries) != rows.size:
                raise ValueError(f"query exclusions: {len(exclude_queries)} entries for {rows.size} rows")
            exclude[LEAVE_ONE_OUT_FIELD] = [frozenset({normalize(q)}) if q else None for q in exclude_queries]
        ids: list[np.ndarray] = []
        lengths: list[np.ndarray] = []
        sizes: list[np.ndarray] = []
        for name, field in self.fields.items():
            field_ids, field_lengths, entries = _gather(field, rows, exclude.get(name))
            ids.append(field_ids)
            lengths.append(field_lengths)
            if name in self.sized:
                sizes.append(np.log1p(entries).astype(np.float32))  # after leave-one-out, as served
        flat_lengths = np.concatenate([np.zeros(0, np.int64), *lengths])  # (F*B,)
        offsets = np.zeros(flat_lengths.size, dtype=np.int64)
        np.cumsum(flat_lengths[:-1], out=offsets[1:])
        return EntityBatch(
            # The int64 empty head makes the whole concatenation int64 (fields keep int32): one copy, not two.
            token_ids=torch.from_numpy(np.concatenate([np.zeros(0, np.int64), *ids])),
            offsets=torch.from_numpy(offsets),
            continuous=torch.from_numpy(np.ascontiguousarray(self.continuous[rows])),
            num_fields=len(self.fields),
            text_tokens=self.tokenize(self.texts[rows].tolist())
            if self.texts is not None and self.tokenize is not None
            else None,
            sizes=torch.from_numpy(np.stack(sizes, axis=1)) if sizes else None,  # (B, S)
        )


class EntityFeaturizer:
    """Enriched entity rows (`schema.ENRICHED_ENTITIES` columns, as an Arrow table or dicts) -> features."""

    def __init__(
        self,
        tokenizer: TextTokenizer,
        config: ModelConfig,
        tokenize_text: Callable[[list[str]], dict[str, torch.Tensor]] | None = None,
    ):
        """tokenize_text: the text tower's tokenizer (`model.entity_text_tower`); None = no text tower."""
        self.tokenizer, self.config, self.tokenize_text = tokenizer, config, tokenize_text

    @property
    def continuous_dim(self) -> int:
        return continuous_dim(self.config)

    def __call__(self, entities: Entities, exclude_query: Sequence[str | None] | None = None) -> EntityBatch:
        """Featurize and batch in one go; `exclude_query[i]` is left out of row i's engaged queries."""
        return self.features(entities).batch(exclude_queries=exclude_query)

    def features(self, entities: Entities) -> EntityFeatures:
        table = as_table(entities)
        fields = {name: self._field(table, name) for name in self.config.text_fields}
        texts = None
        if self.tokenize_text is not None:
            texts = np.array(item_texts(table, self.config.entity_text_fields), dtype=object)  # (R,)
        return EntityFeatures(
            fields, self._continuous(table), texts, self.tokenize_text, size_fields(self.config)
        )

    def _field(self, table: pa.Table, name: str) -> RaggedField:
        """Tokenize one field: a list field has one element per list entry, a scalar field one per row."""
        n = table.num_rows
        column = (
            table.column(name).combine_chunks() if name in table.column_names else pa.nulls(n, pa.string())
        )
        if pa.types.is_list(column.type) or pa.types.is_large_list(column.type):
            counts = pc.fill_null(pc.list_value_length(column), 0).to_numpy().astype(np.int64)  # (R,)
            column = pc.list_flatten(column)
        else:
            counts = np.ones(n, dtype=np.int64)
        try:
            column = column.cast(pa.large_string())  # 64-bit offsets: a column may pass 2 GB
        except pa.ArrowException as exc:
            raise DataError(f"expected text ({exc})", column=name) from None
        ids, offsets = [], [np.zeros(1, np.int64)]
        for start in range(0, len(column), _ELEMENTS_PER_CHUNK):
            chunk_ids, chunk_offsets = self.tokenizer.encode_batch(
                column.slice(start, _ELEMENTS_PER_CHUNK).to_pylist()
            )
            base = sum(a.size for a in ids)
            ids.append(chunk_ids.astype(np.int32))
            offsets.append(np.append(chunk_offsets[1:], chunk_ids.size) + base)
        return RaggedField(
            token_ids=np.concatenate([np.zeros(0, np.int32), *ids]),
            token_offsets=np.concatenate(offsets),
            row_offsets=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
            texts=column if name == LEAVE_ONE_OUT_FIELD else None,
        )

    def _continuous(self, table: pa.Table) -> np.ndarray:
        config = self.config
        legacy, present = vector_column(table, "legacy_vector", config.legacy_dim)  # (R, L), (R,)
        kinds = _entity_types(table, present)  # (R,)
        blocks = [
            np.where((present & (kinds == "pin"))[:, None], legacy, 0.0),
            np.where((present & (kinds == "product"))[:, None], legacy, 0.0),
        ]
        if config.use_image_features:
            blocks.append(vector_column(table, "image_vector", config.image_dim)[0])
        return np.concatenate(blocks, axis=1).astype(np.float32)  # (R, C)


class RowFeatures:
    """`EntityFeatures.batch` over a catalog that is featurized only for the rows a batch asks for.

    Training reads a few hundred catalog rows a step, so it featurizes those instead of the whole catalog up front:
    memory stays that of the Arrow table (at 1M pins the tokenized catalog and its continuous block held several
    GB more), at the cost of tokenizing each step's rows. A row's features depend on that row alone, so a batch
    equals the one of the whole catalog's `EntityFeatures`."""

    def __init__(self, featurizer: EntityFeaturizer, entities: Entities):
        self.featurizer, self.entities = featurizer, as_table(entities)

    def __len__(self) -> int:
        return self.entities.num_rows

    def batch(
        self, rows: np.ndarray | Sequence[int], exclude_queries: Sequence[str | None] | None = None
    ) -> EntityBatch:
        unique, inverse = np.unique(np.asarray(rows, dtype=np.int64), return_inverse=True)
        part = self.featurizer.features(self.entities.take(pa.array(unique)))
        return part.batch(inverse.reshape(-1), exclude_queries)


def item_texts(rows: pa.Table, fields: Sequence[str]) -> list[str]:
    """One text per row: the non-empty fields joined by ' . ' (list fields item by item)."""
    columns = [rows.column(f).to_pylist() for f in fields if f in rows.column_names]
    out = []
    for values in zip(*columns):
        parts: list[str] = []
        for v in values:
            if isinstance(v, list):
                parts.extend(x for x in v if x)
            elif v:
                parts.append(v)
        out.append(" . ".join(parts))
    return out if columns else [""] * rows.num_rows


def entity_texts(entities: Entities, fields: Sequence[str] = TEXT_FIELDS) -> Iterator[str]:
    """Every text of the given fields (each list entry on its own): what the vocabulary is built from."""
    table = as_table(entities)
    for name in fields:
        if name not in table.column_names:
            continue
        column = table.column(name).combine_chunks()
        if pa.types.is_list(column.type) or pa.types.is_large_list(column.type):
            column = pc.list_flatten(column)
        yield from (t for t in column.cast(pa.string()).to_pylist() if t)


def build_vocabulary(entities: Entities, config: ModelConfig, progress: bool = False) -> Vocabulary:
    """The n-gram vocabularies of the configured text fields, with the configured caps and minimum count."""
    return Vocabulary.build(
        entity_texts(entities, config.text_fields),
        unigram_cap=config.unigram_cap,
        bigram_cap=config.bigram_cap,
        trigram_cap=config.trigram_cap,
        min_count=config.vocab_min_count,
        progress=progress,
    )


def as_table(entities: Entities) -> pa.Table:
    """An Arrow table with the enriched-entity column types; dicts may omit columns (taken as null)."""
    if isinstance(entities, pa.Table):
        return entities
    rows = list(entities)
    columns = {}
    for field in ENRICHED_ENTITIES:
        if any(field.name in r for r in rows):
            values = [r.get(field.name) for r in rows]
            try:
                columns[field.name] = pa.array(values, type=field.type)
            except (pa.ArrowException, TypeError, ValueError) as exc:
                raise DataError(f"cannot read as {field.type}: {exc}", column=field.name) from None
    return pa.table(columns) if columns else pa.table({"entity_type": pa.nulls(len(rows), pa.string())})


def vector_column(table: pa.Table, column: str, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """(R, dim) float32 vectors (zeros where null) and the (R,) mask of rows that have one."""
    n = table.num_rows
    if column not in table.column_names:
        return np.zeros((n, dim), np.float32), np.zeros(n, bool)
    try:
        values = table.column(column).combine_chunks().cast(pa.list_(pa.float32()))
    except (pa.ArrowException, TypeError) as exc:
        raise DataError(f"expected a list of floats ({exc})", column=column) from None
    present = values.is_valid().to_numpy(zero_copy_only=False)  # (R,)
    lengths = pc.fill_null(pc.list_value_length(values), dim).to_numpy()  # (R,)
    bad = np.flatnonzero(lengths != dim)
    if bad.size:
        raise DataError(
            f"vector has {lengths[bad[0]]} dims, expected {dim}", row=int(bad[0]) + 1, column=column
        )
    out = np.zeros((n, dim), np.float32)
    flat = pc.list_flatten(values).to_numpy(zero_copy_only=False).astype(np.float32)  # (present*dim,)
    if flat.size:
        if not np.isfinite(flat).all():
            row = int(np.flatnonzero(present)[np.flatnonzero(~np.isfinite(flat))[0] // dim])
            raise DataError("vector holds NaN or infinity", row=row + 1, column=column)
        out[present] = flat.reshape(-1, dim)
    return out, present


def _entity_types(table: pa.Table, needed: np.ndarray) -> np.ndarray:
    """entity_type of every row as a numpy string array; it must be pin or product where `needed`."""
    if "entity_type" not in table.column_names:
        if needed.any():
            raise DataError("missing: needed to place legacy vectors", column="entity_type")
        return np.full(table.num_rows, "", dtype=object)
    kinds = np.array(table.column("entity_type").to_pylist(), dtype=object)
    bad = np.flatnonzero(needed & ~np.isin(kinds, ["pin", "product"]))
    if bad.size:
        raise DataError(
            f"expected pin or product, got {kinds[bad[0]]!r}", row=int(bad[0]) + 1, column="entity_type"
        )
    return kinds


def _gather(
    field: RaggedField, rows: np.ndarray, exclude: Sequence[frozenset[str] | None] | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Token ids of `rows` of one field, the token count per row and the element count per row (B,) each.
    `exclude[i]`: normalized element texts row i leaves out."""
    first = field.row_offsets[rows]  # (B,)
    count = field.row_offsets[rows + 1] - first  # (B,)
    elements = concat_ranges(first, count)  # (E_b,)
    owner = np.repeat(np.arange(rows.size), count)  # (E_b,)
    if exclude is not None and field.texts is not None:
        # Positions in `elements`, not element ids: the same entity may sit in several rows of a batch
        # (a positive of two pairs, or also a negative) and only the excluding row loses the element.
        row_start = np.cumsum(count) - count  # (B,) first position of each row in `elements`
        dropped = [
            row_start[i] + j
            for i, keys in enumerate(exclude)
            if keys
            for j in range(count[i])
            if field.normalized(first[i] + j) in keys
        ]
        if dropped:
            keep = np.ones(elements.size, dtype=bool)
            keep[dropped] = False
            elements, owner = elements[keep], owner[keep]
    token_first = field.token_offsets[elements]  # (E_b,)
    token_count = field.token_offsets[elements + 1] - token_first  # (E_b,)
    ids = field.token_ids[concat_ranges(token_first, token_count)]
    per_row = np.bincount(owner, weights=token_count, minlength=rows.size).astype(np.int64)  # (B,)
    return ids, per_row, np.bincount(owner, minlength=rows.size)
