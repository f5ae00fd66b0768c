"""The synthetic Pinterest world (`omnisage synth`): every input table of the data contracts plus ground truth
under `truth/`, deterministic per seed, written in bounded-memory chunks, with a coverage summary.
"""

from __future__ import annotations

import collections
import datetime as dt
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from omnisage.atomic import write_text
from omnisage.config import SynthConfig, config_to_dict
from omnisage.data.io import AtomicParquetWriter, write_table
from omnisage.data.scale import FIVE_LEVELS, MANIFEST_KEY
from omnisage.errors import OmniSageError
from omnisage.progress import tqdm
from omnisage.schema import (
    BOARD_SAVES,
    ENGAGEMENTS,
    IMAGE_EMBEDDINGS,
    LEGACY_EMBEDDINGS,
    PINS,
    PRODUCTS,
    QUERIES,
    TIMESTAMP,
)
from omnisage.synth.latent import (
    DAY_US,
    HISTORY_DAYS,
    Boards,
    Items,
    Taxonomy,
    build_taxonomy,
    leaf_weights,
    sample_boards,
    sample_items,
    sample_users,
    stream,
)
from omnisage.synth.logs import (
    ACTIONS,
    ENTITY_TYPES,
    PIN,
    PRODUCT,
    SAVE,
    BoardPicker,
    EngagementModel,
    board_saves,
    first_saves,
    search_board_saves,
)
from omnisage.synth.queries import QueryLatents, query_popularity, query_truth, unique_queries
from omnisage.synth.relevance_labels import judge_world
from omnisage.synth.tables import (
    ENTITY_TRUTH,
    ITEM_CHUNK,
    boards_table,
    item_chunks,
    table_schema,
    taxonomy_table,
)
from omnisage.synth.text import Writer
from omnisage.synth.vectors import VectorModel

MIN_QUERIES = 1000  # small worlds still need queries for (nearly) every leaf
LOG_END = dt.datetime(2024, 7, 1, tzinfo=dt.UTC)  # the logs end at 00:00 UTC of this day
LOG_DAYS = 730  # the logs cover the two years before LOG_END
# The other tables scale with the number of pins.
PRODUCTS_PER_PIN = 0.3
QUERIES_PER_PIN = 0.2
BOARDS_PER_PIN = 0.2
ENGAGEMENTS_PER_PIN = 10.0  # log rows (pin, product and related-query engagements)
NO_TEXT_SHARE = 0.30  # pins with neither title nor description
UNSAVED_SHARE = 0.07  # pins nobody saves to a board
CHUNK_ROWS = 1_000_000  # log rows generated and written per chunk (bounds memory)


@dataclass(frozen=True)
class LatentWorld:
    tax: Taxonomy
    pins: Items
    products: Items
    boards: Boards
    n_users: int
    queries: QueryLatents
    query_texts: list[str]
    query_weight: np.ndarray  # (Q,) Zipf popularity
    saved: np.ndarray  # (P,) False: a pin nobody saves to a board (UNSAVED_SHARE of them)
    start_us: int  # the logs cover [start_us, end_us)
    end_us: int


def _check(cfg: SynthConfig) -> None:
    if cfg.pins < 20:
        raise OmniSageError(f"synth.pins (--scale) must be at least 20, got {cfg.pins}")
    if min(cfg.legacy_dim, cfg.image_dim) < 2:
        raise OmniSageError("synth needs legacy_dim and image_dim >= 2")


def sample_world(cfg: SynthConfig, tax: Taxonomy, writer: Writer) -> LatentWorld:
    """Draw the latent state of every entity; sizes scale with the number of pins."""
    seed = cfg.seed
    end_us = int(LOG_END.timestamp()) * 1_000_000
    start_us = end_us - LOG_DAYS * DAY_US
    item_args = {"origin_us": start_us - HISTORY_DAYS * DAY_US, "log_days": LOG_DAYS}
    leaf_rng = stream(seed, "taxonomy")
    pins = sample_items(
        stream(seed, "pins"), tax, cfg.pins, "pin", leaf_weights(tax, leaf_rng, "pin"), **item_args
    )
    n_products = max(1, round(cfg.pins * PRODUCTS_PER_PIN))
    product_p = leaf_weights(tax, leaf_rng, "product")
    products = sample_items(stream(seed, "products"), tax, n_products, "product", product_p, **item_args)
    n_boards = max(5, round(cfg.pins * BOARDS_PER_PIN))
    user_lang, interest_top, interest_user = sample_users(stream(seed, "users"), tax, max(2, n_boards // 4))
    boards = sample_boards(
        stream(seed, "boards"), tax, pins, n_boards, user_lang, interest_top, interest_user
    )
    n_queries = max(MIN_QUERIES, round(cfg.pins * QUERIES_PER_PIN))
    queries, texts = unique_queries(stream(seed, "queries"), tax, writer, [pins, products], n_queries)
    weight = query_popularity(stream(seed, "queries", 1), queries, tax.language_weights)
    saved = stream(seed, "saves", 2).random(len(pins)) >= UNSAVED_SHARE
    return LatentWorld(
        tax, pins, products, boards, len(user_lang), queries, texts, weight, saved, start_us, end_us
    )


def generate_world(
    cfg: SynthConfig, out: str | Path, *, progress: bool = False, chunk_rows: int = CHUNK_ROWS
) -> dict[str, Any]:
    """Write the world's tables, `truth/` and `world.json` into `out`; return the coverage summary.
    `chunk_rows`: log rows per chunk (tests pass a small one to cover several chunks)."""
    _check(cfg)
    out = Path(out)
    (out / "truth").mkdir(parents=True, exist_ok=True)
    tax = build_taxonomy()
    writer = Writer(tax, stream(cfg.seed, "text", 3))
    w = sample_world(cfg, tax, writer)
    stats = _write_items(cfg, w, writer, out, progress)
    boards = boards_table(cfg.seed, writer, w.boards)
    write_table(boards, out / "boards.parquet")
    stats |= _write_logs(cfg, w, out, progress, chunk_rows)
    stats |= _write_board_saves(cfg, w, boards, stats.pop("pin_saves"), out)
    langs = np.array(tax.languages)
    queries = {
        "query_text": w.query_texts,
        "lang": langs[w.queries.lang].tolist(),
        "volume": stats.pop("volume"),
    }
    write_table(pa.table(queries, schema=table_schema(QUERIES)), out / "queries.parquet")
    write_table(query_truth(tax, w.queries, w.query_texts), out / "truth" / "query_interests.parquet")
    write_table(taxonomy_table(tax), out / "truth" / "taxonomy.parquet")
    stats |= _write_relevance(cfg, w, out)
    summary = _summary(w, stats)
    iso = lambda us: dt.datetime.fromtimestamp(us / 1e6, tz=dt.UTC).isoformat()  # noqa: E731
    manifest = {
        "generator": "omnisage synth",
        "seed": cfg.seed,
        "scale": cfg.pins,
        "legacy_dim": cfg.legacy_dim,
        "image_dim": cfg.image_dim,
        "log_start": iso(w.start_us),
        "log_end": iso(w.end_us),
        "languages": list(tax.languages),
        "counts": summary["counts"],
        MANIFEST_KEY: FIVE_LEVELS.to_json(),
        "summary": summary,
        "config": config_to_dict(cfg),
    }
    _write_json(out / "world.json", manifest)  # written last: its presence marks a complete world
    return summary


def _write_items(
    cfg: SynthConfig, w: LatentWorld, writer: Writer, out: Path, progress: bool
) -> dict[str, Any]:
    vectors = VectorModel(stream(cfg.seed, "vectors"), w.tax, cfg.legacy_dim, cfg.image_dim)
    no_text = stream(cfg.seed, "pins", 1).random(len(w.pins)) < NO_TEXT_SHARE
    end_day = HISTORY_DAYS + LOG_DAYS
    stats: dict[str, Any] = {}
    with (
        AtomicParquetWriter(
            out / "legacy_embeddings.parquet", table_schema(LEGACY_EMBEDDINGS, cfg.legacy_dim)
        ) as legacy,
        AtomicParquetWriter(
            out / "image_embeddings.parquet", table_schema(IMAGE_EMBEDDINGS, cfg.image_dim)
        ) as image,
        AtomicParquetWriter(out / "truth" / "entity_interests.parquet", ENTITY_TRUTH) as truth,
    ):
        for items in (w.pins, w.products):
            name = "pins" if items.kind == "pin" else "products"
            has_text = on_topic = 0
            schema = table_schema(PINS if items.kind == "pin" else PRODUCTS)
            chunks = item_chunks(cfg.seed, w.tax, writer, vectors, items, no_text, end_day)
            total = -(-len(items) // ITEM_CHUNK)
            bar = tqdm(chunks, desc=f"synth: {name}", total=total, disable=not progress, file=sys.stderr)
            with AtomicParquetWriter(out / f"{name}.parquet", schema) as sink:
                for chunk in bar:
                    sink.write(chunk.items)
                    legacy.write(chunk.legacy)
                    image.write(chunk.image)
                    truth.write(chunk.truth)
                    has_text += sum(chunk.truth["has_text"].to_pylist())
                    on_topic += sum(chunk.truth["caption_on_topic"].to_pylist())
            stats[f"{name}_with_text"], stats[f"{name}_on_topic"] = has_text, on_topic
    return stats


def _write_relevance(cfg: SynthConfig, w: LatentWorld, out: Path) -> dict[str, pa.Table]:
    """Relevance labels, and their held-out evaluation truth under `truth/`. Drawn last and from their own
    stream, so every other table is what it would be without them."""
    rng = stream(cfg.seed, "relevance_labels")
    labels, held_out = judge_world(rng, w.tax, (w.pins, w.products), w.queries, w.query_texts, w.query_weight)
    write_table(labels, out / "relevance_labels.parquet")
    write_table(held_out, out / "truth" / "relevance_eval.parquet")
    return {"relevance_labels": labels, "relevance_eval": held_out}


def _write_board_saves(
    cfg: SynthConfig,
    w: LatentWorld,
    boards: pa.Table,
    pin_saves: tuple[np.ndarray, np.ndarray, np.ndarray],
    out: Path,
) -> dict[str, Any]:
    """Board saves: those made outside search, and one for every save of a pin from search."""
    picker = BoardPicker(w.tax, w.boards)
    organic = board_saves(stream(cfg.seed, "saves"), w.tax, w.pins, picker, w.saved, w.end_us)
    search = search_board_saves(stream(cfg.seed, "saves", 1), w.queries, w.pins, picker, *pin_saves)
    b, p, ts = first_saves(*(np.concatenate(c) for c in zip(organic, search)), len(w.pins))
    pin_ids = pa.array([f"p{i}" for i in range(len(w.pins))])
    saves = {
        "board_id": boards["board_id"].combine_chunks().take(b),
        "pin_id": pin_ids.take(p),
        "ts": pa.array(ts, TIMESTAMP),
    }
    write_table(pa.table(saves, schema=table_schema(BOARD_SAVES)), out / "board_saves.parquet")
    worded = np.isin(w.boards.title_kind, (0, 1))  # a title with words in it (not emoji-only or blank)
    return {
        "board_saves": len(b),
        "pins_in_boards": len(np.unique(p)),
        "pins_with_board_titles": len(np.unique(p[worded[b]])),
    }


def _write_logs(
    cfg: SynthConfig, w: LatentWorld, out: Path, progress: bool, chunk_rows: int
) -> dict[str, Any]:
    """Engagement logs, chunk by chunk in time order; returns what the summary and queries table need."""
    model = EngagementModel(
        w.tax,
        w.pins,
        w.products,
        w.queries,
        w.query_weight,
        log_start_us=w.start_us,
        log_days=LOG_DAYS,
        saved=w.saved,
    )
    n_pins, n_products = len(w.pins), len(w.products)
    ids = pa.array([f"p{i}" for i in range(n_pins)] + [f"pr{i}" for i in range(n_products)] + w.query_texts)
    offsets = np.array([0, n_pins, n_pins + n_products])  # by entity type code
    engaged = [np.zeros(n_pins, bool), np.zeros(n_products, bool)]
    volume = np.zeros(len(w.queries), np.int64)
    by_type, by_action = np.zeros(len(ENTITY_TYPES), np.int64), np.zeros(len(ACTIONS), np.int64)
    saves: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # (query, pin, ts_us) of pin saves
    total = round(cfg.pins * ENGAGEMENTS_PER_PIN)
    n_chunks = max(1, -(-total // chunk_rows))
    schema = table_schema(ENGAGEMENTS)
    with AtomicParquetWriter(out / "engagements.parquet", schema) as sink:
        bar = tqdm(
            range(n_chunks), desc="synth: engagements", unit="chunk", disable=not progress, file=sys.stderr
        )
        for c in bar:
            n = total // n_chunks + (c < total % n_chunks)
            log = model.chunk(stream(cfg.seed, "logs", c), c / n_chunks, (c + 1) / n_chunks, n)
            for code in (PIN, PRODUCT):
                engaged[code][log.entity[log.entity_type == code]] = True
            volume += np.bincount(log.query, minlength=len(volume))
            by_type += np.bincount(log.entity_type, minlength=len(by_type))
            by_action += np.bincount(log.action, minlength=len(by_action))
            sel = (log.entity_type == PIN) & (log.action == SAVE)
            saves.append((log.query[sel].astype(np.int64), log.entity[sel], log.ts_us[sel]))
            rows = {
                "query_text": ids.take(offsets[2] + log.query),
                "entity_type": pa.array(ENTITY_TYPES).take(log.entity_type),
                "entity_id": ids.take(offsets[log.entity_type] + log.entity),
                "action": pa.array(ACTIONS).take(log.action),
                "ts": pa.array(log.ts_us, TIMESTAMP),
            }
            sink.write(pa.table(rows, schema=schema))
    return {
        "pins_engaged": int(engaged[PIN].sum()),
        "products_engaged": int(engaged[PRODUCT].sum()),
        "volume": volume,
        "by_type": by_type,
        "by_action": by_action,
        "pin_saves": tuple(np.concatenate(c) for c in zip(*saves)),
    }


def _summary(w: LatentWorld, s: dict[str, Any]) -> dict[str, Any]:
    n_pins, n_products = len(w.pins), len(w.products)
    n_items = n_pins + n_products

    def share(x: float, n: int) -> float:
        return round(float(x) / max(n, 1), 4)

    def per_lang(lang: np.ndarray) -> dict[str, int]:
        return dict(zip(w.tax.languages, np.bincount(lang, minlength=len(w.tax.languages)).tolist()))

    return {
        "counts": {
            "pins": n_pins,
            "products": n_products,
            "queries": len(w.queries),
            "boards": len(w.boards),
            "board_saves": s["board_saves"],
            "engagements": int(s["by_type"].sum()),
            "relevance_labels": s["relevance_labels"].num_rows,
            "legacy_embeddings": n_items,
            "image_embeddings": n_items,
            "users": w.n_users,
        },
        "coverage": {
            "pins_with_text": share(s["pins_with_text"], n_pins),
            "products_with_text": share(s["products_with_text"], n_products),
            "items_with_text": share(s["pins_with_text"] + s["products_with_text"], n_items),
            "pins_in_boards": share(s["pins_in_boards"], n_pins),
            "pins_with_board_titles": share(s["pins_with_board_titles"], n_pins),
            "pins_with_engaged_queries": share(s["pins_engaged"], n_pins),
            "products_with_engaged_queries": share(s["products_engaged"], n_products),
            "items_with_engaged_queries": share(s["pins_engaged"] + s["products_engaged"], n_items),
            "captions_on_topic": share(s["pins_on_topic"] + s["products_on_topic"], n_items),
        },
        "languages": {
            "queries": per_lang(w.queries.lang),
            "pins": per_lang(w.pins.lang),
            "products": per_lang(w.products.lang),
        },
        "engagements": {
            "by_entity_type": dict(zip(ENTITY_TYPES, s["by_type"].tolist())),
            "by_action": dict(zip(ACTIONS, s["by_action"].tolist())),
        },
        "relevance": {
            "labels_by_level": _tally(s["relevance_labels"], "label", [f"{v:g}" for v in FIVE_LEVELS.levels]),
            "held_out_by_language": _tally(s["relevance_eval"], "lang", list(w.tax.languages)),
        },
    }


def _tally(table: pa.Table, column: str, keys: list[str]) -> dict[str, int]:
    values = collections.Counter(
        f"{v:g}" if isinstance(v, float) else v for v in table.column(column).to_pylist()
    )
    return {k: values[k] for k in keys}


def _write_json(path: Path, value: dict[str, Any]) -> None:
    write_text(path, json.dumps(value, indent=2, ensure_ascii=False) + "\n")


def format_summary(summary: dict[str, Any]) -> str:
    """The coverage summary `omnisage synth` prints."""
    lines = ["tables:"]
    lines += [f"  {name:<18} {n:>12,}" for name, n in summary["counts"].items()]
    lines.append("coverage:")
    lines += [f"  {name:<30} {v:6.1%}" for name, v in summary["coverage"].items()]
    for what, counts in summary["languages"].items():
        total = max(sum(counts.values()), 1)
        lines.append(
            f"{what} per language: " + ", ".join(f"{k} {v:,} ({v / total:.0%})" for k, v in counts.items())
        )
    for section in ("engagements", "relevance"):
        for what, counts in summary[section].items():
            what = what.replace("_", " ")
            lines.append(f"{section} {what}: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))
    return "\n".join(lines)
