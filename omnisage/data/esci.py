"""Amazon Shopping Queries (ESCI) Parquet files into the data contracts, via `omnisage.data.judgments`.

Examples: query, query_id, product_id, product_locale, esci_label, small_version, split (example_id used for
order when present). Products: product_id, product_locale, product_title, product_description,
product_bullet_point, product_brand, product_color. An ASIN is listed once per locale with that locale's
text, so a product's id here is `LOCALE:ASIN`. Locales map to languages: us→en, es→es, jp→ja.

Labels: E (exact) is an engagement (a long click) with relevance 3; S (substitute) 2, C (complement) 1.5 and
I (irrelevant) 1 are kept as relevance labels only. Rows are stamped `TS_ORIGIN + example_id minutes`.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from omnisage.data.judgments import JUDGMENTS, Rejections, RelevanceSet, products_table, timestamps
from omnisage.data.scale import ESCI
from omnisage.errors import DataError
from omnisage.text.normalize import normalize

EXAMPLE_COLUMNS = (
    "query",
    "query_id",
    "product_id",
    "product_locale",
    "esci_label",
    "small_version",
    "split",
)
PRODUCT_COLUMNS = (
    "product_id",
    "product_locale",
    "product_title",
    "product_description",
    "product_bullet_point",
    "product_brand",
    "product_color",
)
LANG_OF_LOCALE = {"us": "en", "es": "es", "jp": "ja"}
RELEVANCE_OF_LABEL = {"E": 3.0, "S": 2.0, "C": 1.5, "I": 1.0}
ENGAGED_LABELS = ("E",)
_TAG = re.compile(r"<[^>]+>")


def _read(path: Path, columns: tuple[str, ...], optional: tuple[str, ...] = ()) -> pa.Table:
    where = str(path)
    if not path.exists():
        raise DataError("file not found", path=where)
    try:
        names = pq.read_schema(path).names if path.is_file() else pq.ParquetDataset(path).schema.names
        missing = [c for c in columns if c not in names]
        if missing:
            raise DataError(
                f"missing required column (the file has: {', '.join(names)})", path=where, column=missing[0]
            )
        return pq.read_table(path, columns=[*columns, *(c for c in optional if c in names)])
    except (pa.ArrowException, OSError) as exc:
        raise DataError(f"not a readable Parquet file ({exc})", path=where) from None


def _as_text(table: pa.Table, name: str) -> pa.Array:
    """A column as strings (ESCI ids may be integers); a value that is not valid UTF-8 becomes the `_BAD` marker."""
    col = table.column(name).combine_chunks()
    textual = (pa.types.is_string, pa.types.is_large_string, pa.types.is_binary, pa.types.is_large_binary)
    if not any(is_kind(col.type) for is_kind in textual):
        return col.cast(pa.string())
    try:
        text = col.cast(pa.string())
        text.validate(full=True)
        return text
    except pa.ArrowInvalid:
        return pa.array([_decode(v) for v in col.cast(pa.binary()).to_pylist()], pa.string())


_BAD = "\x00<bad utf-8>"  # a marker no real text contains


def _decode(value: bytes | None) -> str | None:
    if value is None:
        return None
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return _BAD


def _lang(locales: pa.Array) -> pa.Array:
    keys = pa.array(list(LANG_OF_LOCALE))
    return pc.take(pa.array(list(LANG_OF_LOCALE.values())), pc.index_in(locales, keys))


def read_esci(
    examples_path: str | Path,
    products_path: str | Path,
    *,
    locales: tuple[str, ...] | None = None,
    small_version: bool = False,
    split: str | None = None,
    lenient: bool = True,
) -> RelevanceSet:
    """Read ESCI examples and products, optionally only some locales, the small version, or one split.

    Lenient: bad rows are counted and skipped (missing query, unknown label or locale, a product missing from
    the products file, invalid UTF-8, a repeated pair, a repeated product); strict: the first one raises.
    """
    examples_path, products_path = Path(examples_path), Path(products_path)
    if locales is not None:
        unknown = [loc for loc in locales if loc not in LANG_OF_LOCALE]
        if unknown:
            raise DataError(f"unknown locale '{unknown[0]}' (expected one of: {', '.join(LANG_OF_LOCALE)})")
    rejections = Rejections(lenient=lenient)
    products, known = _products(
        products_path, locales, functools.partial(rejections.reject, str(products_path))
    )
    reject = functools.partial(rejections.reject, str(examples_path))
    examples = _read(examples_path, EXAMPLE_COLUMNS, optional=("example_id",))
    idx = _selected_rows(examples, locales, small_version, split)
    columns = ("query", "esci_label", "product_locale", "product_id")
    queries, labels, locale_list, asins = (_as_text(examples, name).take(idx).to_pylist() for name in columns)
    kept, texts, ids = _valid_examples(idx, queries, labels, locale_list, asins, known, reject)
    order = (
        examples.column("example_id").cast(pa.int64()).to_numpy(zero_copy_only=False)
        if "example_id" in examples.column_names
        else np.arange(examples.num_rows)
    )
    sel = idx[np.asarray(kept, dtype=np.int64)]
    label_arr = pa.array([labels[i] for i in kept], pa.string())
    judgments = pa.Table.from_arrays(
        [
            pa.array(texts, pa.string()),
            _lang(pa.array([locale_list[i] for i in kept], pa.string())),
            pa.array(ids, pa.string()),
            pc.take(
                pa.array(list(RELEVANCE_OF_LABEL.values()), pa.float32()),
                pc.index_in(label_arr, pa.array(list(RELEVANCE_OF_LABEL))),
            ),
            label_arr,
            pc.is_in(label_arr, pa.array(ENGAGED_LABELS)),
            timestamps(np.asarray(order)[sel]),
        ],
        schema=JUDGMENTS,
    )
    inputs = [str(examples_path), str(products_path)]
    return RelevanceSet("esci", inputs, ESCI, products, judgments, rejections)


def _selected_rows(
    examples: pa.Table, locales: tuple[str, ...] | None, small_version: bool, split: str | None
) -> np.ndarray:
    """Indices of the example rows the filters keep (the small version, one split, some locales)."""
    keep = np.ones(examples.num_rows, dtype=bool)
    if small_version:
        keep &= np.asarray(
            pc.fill_null(pc.equal(examples.column("small_version").cast(pa.int64()), 1), False)
        )
    if split is not None:
        keep &= np.asarray(pc.fill_null(pc.equal(_as_text(examples, "split"), split), False))
    if locales is not None:
        locale = _as_text(examples, "product_locale")
        keep &= np.asarray(pc.fill_null(pc.is_in(locale, pa.array(locales)), False))
    return np.flatnonzero(keep)


def _valid_examples(
    idx: np.ndarray,
    queries: list[str | None],
    labels: list[str | None],
    locales: list[str | None],
    asins: list[str | None],
    known: set[str],
    reject: Callable[..., None],
) -> tuple[list[int], list[str], list[str]]:
    """(positions kept, normalized query texts, `LOCALE:ASIN` ids) of the selected examples; the rest rejected."""
    kept: list[int] = []
    texts: list[str] = []
    ids: list[str] = []
    seen: set[tuple[str, str]] = set()
    normalized: dict[str, str] = {}
    for i, (query, label, loc, asin) in enumerate(zip(queries, labels, locales, asins)):
        r = int(idx[i]) + 1  # 1-based row in the examples file
        values = {"query": query, "esci_label": label, "product_locale": loc, "product_id": asin}
        bad = next((name for name, v in values.items() if v == _BAD), None)
        if bad:
            reject(r, bad, "text is not valid UTF-8")
            continue
        text = normalized.get(query) if query is not None else ""
        if text is None:
            text = normalized.setdefault(query, normalize(query))
        if not text:
            reject(r, "query", "missing query")
        elif label not in RELEVANCE_OF_LABEL:
            reject(r, "esci_label", "unknown esci_label (expected E, S, C or I)", label)
        elif loc not in LANG_OF_LOCALE:
            reject(r, "product_locale", "unknown product_locale (expected us, es or jp)", loc)
        elif f"{loc}:{asin}" not in known:
            reject(r, "product_id", "product not in the products file", asin)
        elif (text, f"{loc}:{asin}") in seen:
            reject(r, "query", "repeated (query, product) pair", query)
        else:
            seen.add((text, f"{loc}:{asin}"))
            kept.append(i)
            texts.append(text)
            ids.append(f"{loc}:{asin}")
    return kept, texts, ids


def _products(
    path: Path, locales: tuple[str, ...] | None, reject: Callable[..., None]
) -> tuple[pa.Table, set[str]]:
    table = _read(path, PRODUCT_COLUMNS)
    locale = _as_text(table, "product_locale")
    keep = pc.is_in(locale, pa.array(locales or tuple(LANG_OF_LOCALE)))
    row = np.flatnonzero(np.asarray(pc.fill_null(keep, False))) + 1
    table, locale = table.filter(pc.fill_null(keep, False)), locale.filter(pc.fill_null(keep, False))
    cols = {name: _as_text(table, name).to_pylist() for name in PRODUCT_COLUMNS if name != "product_locale"}
    ids: list[str] = []
    out: dict[str, list[str | None]] = {k: [] for k in ("title", "description", "brand", "color", "lang")}
    seen: set[str] = set()
    for i, loc in enumerate(locale.to_pylist()):
        values = {name: cols[name][i] for name in cols}
        bad = next((name for name, v in values.items() if v == _BAD), None)
        if bad:
            reject(int(row[i]), bad, "text is not valid UTF-8")
            continue
        asin = (values["product_id"] or "").strip()
        if not asin:
            reject(int(row[i]), "product_id", "missing product_id")
            continue
        key = f"{loc}:{asin}"
        if key in seen:
            reject(int(row[i]), "product_id", "repeated product (same product_id and locale)", asin)
            continue
        seen.add(key)
        ids.append(key)
        out["title"].append(_clean(values["product_title"]))
        out["description"].append(_description(values["product_bullet_point"], values["product_description"]))
        out["brand"].append(_clean(values["product_brand"]))
        out["color"].append(_clean(values["product_color"]))
        out["lang"].append(LANG_OF_LOCALE[loc])
    return products_table(ids, out), seen


def _clean(text: str | None) -> str | None:
    """Markup removed and whitespace collapsed; empty text becomes null."""
    if text is None:
        return None
    text = " ".join(_TAG.sub(" ", text).split())
    return text or None


def _description(bullets: str | None, description: str | None) -> str | None:
    """Bullet points (one per line in ESCI) first, then the HTML description as plain text."""
    parts = [p for p in (_clean(bullets), _clean(description)) if p]
    return "\n".join(parts) or None
