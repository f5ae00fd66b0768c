"""The enriched entity table (paper §3.2–3.3): one row per pin and product with every text field and
the continuous features, written atomically as Parquet with a coverage report. `omnisage enrich` runs it.

Log-derived fields (board titles, engaged queries) use only rows strictly before `as_of`; later rows are
ignored and counted in the report, as are engagements on entities missing from the catalog.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from omnisage.atomic import make_folder, write_text
from omnisage.config import EnrichConfig, SparkConfig
from omnisage.data.io import write_table
from omnisage.data.validate import World, load_world
from omnisage.errors import OmniSageError
from omnisage.features.board_titles import board_titles
from omnisage.features.captions import ImageCaptioner, PrecomputedCaptions, blank_to_null
from omnisage.features.engaged_queries import (
    EngagedQueryState,
    Window,
    engaged_queries,
    to_us,
    top_from_state,
    update_state,
)
from omnisage.features.engines import Engine, open_engine
from omnisage.schema import BOARD_SAVES, BOARDS, ENGAGEMENTS, ENRICHED_ENTITIES, TableSpec

TEXT_FIELDS = ("title", "description", "caption", "brand", "color")
LIST_FIELDS = ("board_titles", "engaged_queries")
VECTOR_FIELDS = ("legacy_vector", "image_vector")
OUTPUT = "enriched_entities.parquet"


def parse_as_of(text: str) -> datetime:
    """An ISO 8601 date or timestamp; without a zone it is UTC."""
    try:
        ts = datetime.fromisoformat(text.strip())
    except ValueError:
        raise OmniSageError(
            f"--as-of: expected an ISO 8601 date or timestamp (e.g. 2024-07-01), got {text!r}"
        ) from None
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def _key(entity_type: pa.Array | pa.ChunkedArray, entity_id: pa.Array | pa.ChunkedArray) -> pa.Array:
    joined = pc.binary_join_element_wise(entity_type, entity_id, "\x1f")
    return joined.combine_chunks() if isinstance(joined, pa.ChunkedArray) else joined


def _lists(keys: pa.Array, long_keys: pa.Array, values: pa.Array) -> pa.ListArray:
    """Per key, the values of its rows in `long_keys` (grouped, in order); an empty list for absent keys."""
    n_runs = 0
    if len(long_keys):
        runs = pc.run_end_encode(long_keys)
        run_ends = runs.run_ends.to_numpy().astype(np.int32)
        uniq, n_runs = runs.values, len(runs.values)
    else:
        run_ends, uniq = np.zeros(0, np.int32), pa.array([], pa.string())
    offsets = np.concatenate([[0], run_ends, run_ends[-1:] if n_runs else [0]]).astype(
        np.int32
    )  # + one empty
    lists = pa.ListArray.from_arrays(pa.array(offsets), values)
    index = pc.fill_null(pc.index_in(keys, value_set=uniq), n_runs)
    return lists.take(index)


def _vectors(keys: pa.Array, table: pa.Table | None) -> pa.Array:
    """Each entity's vector as list<float32>, null where the table has none."""
    if table is None or table.num_rows == 0:
        return pa.nulls(len(keys), pa.list_(pa.float32()))
    vectors = table.column("vector").combine_chunks().cast(pa.list_(pa.float32()))
    return vectors.take(
        pc.index_in(keys, value_set=_key(table.column("entity_type"), table.column("entity_id")))
    )


def _catalog(world: World) -> pa.Table:
    """Pins then products, with the item columns of the output (brand/color null for pins)."""
    parts = []
    for entity_type, name, id_col in (("pin", "pins", "pin_id"), ("product", "products", "product_id")):
        table = world.get(name)
        if table is None:
            continue
        n = table.num_rows
        cols: dict[str, Any] = {
            "entity_type": pa.array([entity_type] * n, pa.string()),
            "entity_id": table.column(id_col),
        }
        for c in ("lang", "title", "description", "caption", "brand", "color", "image_ref"):
            cols[c] = table.column(c) if c in table.column_names else pa.nulls(n, pa.string())
        parts.append(pa.table(cols))
    if not parts:
        raise OmniSageError(f"{world.directory}: no pins or products to enrich")
    return pa.concat_tables(parts).combine_chunks()


def _table(world: World, spec: TableSpec) -> pa.Table:
    """The world's table, or an empty one of the contract's columns (a missing log table is no log)."""
    table = world.get(spec.name)
    return table if table is not None else pa.table({c.name: pa.array([], c.type) for c in spec.columns})


def _log_report(engagements: pa.Table, as_of_us: int, config: EnrichConfig) -> dict[str, int]:
    window = Window.of(as_of_us, config.window_days)
    ts = engagements.column("ts").cast(pa.int64()).to_numpy()
    items = np.asarray(pc.is_in(engagements.column("entity_type"), pa.array(["pin", "product"])))
    future = ts >= as_of_us
    bucket = np.floor_divide(ts, window.bucket_days * 86_400_000_000)
    in_window = items & ~future & (bucket >= window.first_bucket)
    return {
        "engagements": len(ts),
        "engagements_in_window": int(in_window.sum()),
        "engagements_before_window": int((items & ~future & ~in_window).sum()),
        "engagements_after_as_of_ignored": int(future.sum()),
        "query_engagements_ignored": int((~items).sum()),
    }


def _engaged(
    engine: Engine, engagements: pa.Table, as_of: datetime, config: EnrichConfig, state_path: Path | None
) -> tuple[pa.Table, EngagedQueryState | None, str]:
    if state_path is None:
        return engaged_queries(engine, engagements, as_of, config), None, "full recompute"
    if state_path.exists():
        state, mode = EngagedQueryState.load(state_path), "incremental update"
        state.check_compatible(config, state_path)
    else:
        state, mode = EngagedQueryState.empty(config), "state built from the whole window"
    state = update_state(engine, state, engagements, as_of, config)
    return top_from_state(engine, state, config), state, mode


def enrich(
    world: World,
    as_of: datetime,
    config: EnrichConfig,
    engine: Engine,
    *,
    state_path: str | Path | None = None,
    caption_cache: str | Path | None = None,
) -> tuple[pa.Table, pa.Table, dict[str, Any], EngagedQueryState | None]:
    """Build the enriched entity table: (table, engaged queries in long form, report, updated state or None)."""
    as_of_us = to_us(as_of)
    catalog = _catalog(world)
    keys = _key(catalog.column("entity_type"), catalog.column("entity_id"))
    engagements, boards, saves = (_table(world, spec) for spec in (ENGAGEMENTS, BOARDS, BOARD_SAVES))
    report = _input_report(engine, engagements, saves, as_of, config)

    # Board titles: pins only (products are not saved to boards in the data contracts).
    titles, dropped = board_titles(engine, boards, saves, as_of_us, config.top_board_titles)
    report["inputs"]["boards_dropped_noisy_title"] = dropped
    title_keys = _key(pa.array(["pin"] * titles.num_rows, pa.string()), titles.column("pin_id"))
    board_lists = _lists(keys, title_keys, titles.column("title").combine_chunks())

    top, state, mode = _engaged(engine, engagements, as_of, config, Path(state_path) if state_path else None)
    report["engaged_queries"] = mode
    top_keys = _key(top.column("entity_type"), top.column("entity_id"))
    known = pc.is_in(top_keys, value_set=keys)
    report["inputs"]["engaged_entities_unknown_ignored"] = len(
        pc.unique(pc.filter(top_keys, pc.invert(known)))
    )
    query_lists = _lists(keys, top_keys, top.column("query_text").combine_chunks())
    score_lists = _lists(keys, top_keys, top.column("score").combine_chunks().cast(pa.float32()))

    captions = PrecomputedCaptions().captions(catalog, world.directory)
    if config.caption_model:
        captions, report["captions"] = _model_captions(
            catalog, captions, world.directory, config, caption_cache
        )
    enriched = {
        "board_titles": board_lists,
        "engaged_queries": query_lists,
        "engaged_query_scores": score_lists,
    }
    table = _enriched_table(world, catalog, keys, captions, enriched)
    report["entities"] = {
        t: int(pc.sum(pc.equal(table.column("entity_type"), t)).as_py() or 0) for t in ("pin", "product")
    }
    report["coverage"] = coverage(table)
    return table, top, report, state


def _input_report(
    engine: Engine, engagements: pa.Table, saves: pa.Table, as_of: datetime, config: EnrichConfig
) -> dict[str, Any]:
    """The report's head: when, which engine, and what the input logs hold (and what of them is ignored)."""
    as_of_us = to_us(as_of)
    report: dict[str, Any] = {
        "as_of": as_of.isoformat(),
        "engine": engine.name,
        "inputs": _log_report(engagements, as_of_us, config),
    }
    report["inputs"]["board_saves"] = saves.num_rows
    report["inputs"]["board_saves_after_as_of_ignored"] = int(
        pc.sum(pc.greater_equal(saves.column("ts").cast(pa.int64()), as_of_us)).as_py() or 0
    )
    return report


def _enriched_table(
    world: World, catalog: pa.Table, keys: pa.Array, captions: pa.Array, enriched: dict[str, pa.Array]
) -> pa.Table:
    """One row per catalog entity: its own text, caption, the enriched lists and its vectors."""
    columns = {
        "entity_type": catalog.column("entity_type"),
        "entity_id": catalog.column("entity_id"),
        "lang": catalog.column("lang"),
        **{c: blank_to_null(catalog.column(c)) for c in ("title", "description")},
        "caption": captions,
        **{c: blank_to_null(catalog.column(c)) for c in ("brand", "color")},
        **enriched,
        "legacy_vector": _vectors(keys, world.get("legacy_embeddings")),
        "image_vector": _vectors(keys, world.get("image_embeddings")),
    }
    return pa.Table.from_pydict(columns, schema=ENRICHED_ENTITIES)


def _model_captions(
    catalog: pa.Table, captions: pa.Array, root: Path, config: EnrichConfig, cache: str | Path | None
) -> tuple[pa.Array, dict[str, int]]:
    """Fill the captions an item lacks from its image, with the local captioning model."""
    captioner = ImageCaptioner(
        config.caption_model,
        config.caption_cache or cache or root / "caption_cache.sqlite",
        batch_size=config.caption_batch_size,
        max_new_tokens=config.caption_max_tokens,
    )
    missing = pc.is_null(captions)
    generated = captioner.captions(catalog.filter(missing), root)
    index = np.cumsum(np.asarray(missing)) - 1  # row -> its position among the missing rows
    filled = (
        pc.if_else(missing, generated.take(pa.array(np.maximum(index, 0))), captions)
        if len(generated)
        else captions
    )
    captioner.cache.close()
    return filled, captioner.stats


def coverage(table: pa.Table) -> dict[str, dict[str, float]]:
    """Share of entities with each field (text non-blank, list non-empty, vector present), per type and overall."""
    out: dict[str, dict[str, float]] = {}
    for kind in ("pin", "product", "all"):
        rows = table if kind == "all" else table.filter(pc.equal(table.column("entity_type"), kind))
        n = rows.num_rows
        if n == 0:
            continue
        has = {c: pc.is_valid(rows.column(c)) for c in (*TEXT_FIELDS, *VECTOR_FIELDS)}
        has.update({c: pc.greater(pc.list_value_length(rows.column(c)), 0) for c in LIST_FIELDS})
        has["title_or_description"] = pc.or_(has["title"], has["description"])
        out[kind] = {c: round(pc.sum(m).as_py() / n, 4) for c, m in has.items()}
    return out


def _write_json(value: dict[str, Any], path: Path) -> None:
    write_text(path, json.dumps(value, indent=2))


def run_enrich(
    data: str | Path,
    as_of: datetime,
    out: str | Path,
    config: EnrichConfig,
    *,
    state_path: str | Path | None = None,
    spark: Any | None = None,
    spark_config: SparkConfig | None = None,
) -> dict[str, Any]:
    """`omnisage enrich`: read and validate DIR, enrich, write OUT/enriched_entities.parquet + coverage.json.
    With engine spark: `spark` reuses a running SparkSession, else one is started as `spark_config` says."""
    world = load_world(data)
    out = Path(out)
    make_folder(out)
    engine = open_engine(config.engine, config, spark=spark, spark_config=spark_config)
    try:
        table, top, report, state = enrich(
            world, as_of, config, engine, state_path=state_path, caption_cache=out / "caption_cache.sqlite"
        )
    finally:
        engine.close()
    write_table(table, out / OUTPUT)
    write_table(top, out / "engaged_queries.parquet")
    report["config"] = dataclasses.asdict(config)
    _write_json(report, out / "coverage.json")
    if (
        state is not None
    ):  # last: a crash before this line leaves the old state, and a rerun redoes the update
        state.save(state_path)
    return report


def format_report(report: dict[str, Any]) -> str:
    """The coverage report as a small text table."""
    kinds = list(report["coverage"])
    fields = list(next(iter(report["coverage"].values()), {}))
    lines = [f"as of {report['as_of']} ({report['engine']}; engaged queries: {report['engaged_queries']})"]
    lines.append(f"  {'field':<22}" + "".join(f"{k:>10}" for k in kinds))
    lines.append(
        f"  {'entities':<22}"
        + "".join(f"{report['entities'].get(k, sum(report['entities'].values())):>10,}" for k in kinds)
    )
    for f in fields:
        lines.append(f"  {f:<22}" + "".join(f"{report['coverage'][k][f]:>10.1%}" for k in kinds))
    lines.extend(f"  {k}: {v:,}" for k, v in report["inputs"].items())
    if "captions" in report:
        lines.append("  captions: " + ", ".join(f"{k} {v:,}" for k, v in report["captions"].items()))
    return "\n".join(lines)
