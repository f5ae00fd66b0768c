"""Silver labels (the companion paper's semi-supervised step, SPEC §8): the teacher scores unlabelled (query, item)
pairs, the first stage's top candidates of each query, for the student to learn from.

`candidate_pairs` picks the pairs (exact top-k by inner product, gold pairs left out); `label_pairs` scores them
into `out/part-00000.parquet`, ... the way batch inference writes its parts (omnisage/infer/embed.py): part k
holds input rows [k·P, (k+1)·P) and is written atomically, so a killed run, rerun with the same teacher and input,
keeps its finished parts and does the rest, with no row twice. `silver.json` pins the teacher's version and the
input's digest; a rerun with another teacher or input is refused, since its parts would mix two labellings.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from omnisage.atomic import atomic_path, make_folder, write_text
from omnisage.errors import DataError, OmniSageError
from omnisage.progress import tqdm
from omnisage.relevance.cross_encoder import first_line
from omnisage.relevance.teacher import Log, Teacher, load_teacher, table_digest

MANIFEST, FORMAT = "silver.json", "omnisage-silver"
KEY = ("query_text", "entity_type", "entity_id")
INPUT_COLUMNS = (*KEY, "item_text")
PINNED = ("format", "teacher", "input", "rows", "part_rows")  # what a resumed run must share with the first
SILVER = pa.schema(
    [
        pa.field("query_text", pa.string(), nullable=False),
        pa.field("entity_type", pa.string(), nullable=False),
        pa.field("entity_id", pa.string(), nullable=False),
        pa.field("score", pa.float64(), nullable=False),  # expected label on the teacher's scale
        pa.field("probs", pa.list_(pa.float32())),  # probabilities of the levels; null for a "mean" scale
    ]
)
CHUNK_SCORES = 1 << 24  # query x entity scores candidate_pairs holds at once (64 MiB of float32)
SCORE_ROWS = 1024  # pairs per teacher call within a part: a fixed cut, so a rerun scores each part alike


def candidate_pairs(
    query_texts: Sequence[str],
    query_vectors: np.ndarray,
    entity_types: Sequence[str],
    entity_ids: Sequence[str],
    entity_vectors: np.ndarray,
    k: int,
    *,
    exclude: pa.Table | Iterable[tuple[str, str, str]] | None = None,
) -> pa.Table:
    """The first stage's top `k` entities of each query by inner product (exact; ties to the earlier entity),
    leaving out the (query_text, entity_type, entity_id) pairs of `exclude`, e.g. the gold labels. Columns
    query_text, entity_type, entity_id, first_stage (the inner product), best first within each query."""
    queries, types, ids = list(query_texts), [str(t) for t in entity_types], [str(i) for i in entity_ids]
    q = np.asarray(query_vectors, dtype=np.float32)  # (Q, D)
    e = np.asarray(entity_vectors, dtype=np.float32)  # (N, D)
    _check_candidates(queries, q, types, ids, e, k)
    banned_q, banned_e = _banned(exclude, queries, types, ids)  # (X,), (X,)
    top_k = min(k, len(ids))
    found: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # (query rows, entity rows, scores)
    step = max(1, CHUNK_SCORES // max(len(ids), 1))
    for start in range(0, len(queries) if top_k else 0, step):
        scores = q[start : start + step] @ e.T  # (c, N)
        inside = (banned_q >= start) & (banned_q < start + len(scores))
        scores[banned_q[inside] - start, banned_e[inside]] = -np.inf
        top = np.argpartition(-scores, top_k - 1, axis=1)[:, :top_k]  # (c, k), unordered
        best = np.take_along_axis(scores, top, axis=1)  # (c, k)
        order = np.lexsort((top, -best), axis=1)  # by score descending, then entity row
        top, best = np.take_along_axis(top, order, axis=1), np.take_along_axis(best, order, axis=1)
        keep = np.isfinite(best)  # an excluded entity is never a candidate
        found.append((np.nonzero(keep)[0] + start, top[keep], best[keep]))
    q_rows, e_rows, best = (np.concatenate(c) for c in zip(*found, strict=True)) if found else ([], [], [])
    return pa.table(
        {
            "query_text": pa.array([queries[i] for i in q_rows], pa.string()),
            "entity_type": pa.array([types[i] for i in e_rows], pa.string()),
            "entity_id": pa.array([ids[i] for i in e_rows], pa.string()),
            "first_stage": pa.array(np.asarray(best, dtype=np.float32), pa.float32()),
        }
    )


def label_pairs(
    teacher: Teacher | str | Path,
    pairs: pa.Table,
    out: str | Path,
    *,
    part_rows: int = 20_000,
    progress: bool = True,
    log: Log = print,
    shard: tuple[int, int] = (0, 1),
    batch_size: int = 64,
) -> Path:
    """Score `pairs` (query_text, entity_type, entity_id, item_text) with the teacher into `out`'s parts.

    Resumable: finished parts are kept, the rest scored. Worker i of n (`shard=(i, n)`) scores the parts with
    k % n == i; `read_silver` wants them all. Refuses an `out` written with another teacher or input."""
    out = Path(out)
    missing = [c for c in INPUT_COLUMNS if c not in pairs.column_names]
    if missing:
        raise DataError(f"silver pairs need columns {', '.join(INPUT_COLUMNS)}", column=missing[0])
    for name in INPUT_COLUMNS:
        if pairs.column(name).null_count:
            raise DataError("silver pairs: empty value", column=name)
    if part_rows < 1:
        raise OmniSageError(f"silver part_rows must be >= 1, got {part_rows}")
    teacher = teacher if isinstance(teacher, Teacher) else load_teacher(teacher)
    parts = -(-pairs.num_rows // part_rows)
    _pin(
        out,
        {
            "format": FORMAT,
            "teacher": teacher.version,
            "input": table_digest(pairs, INPUT_COLUMNS),
            "rows": pairs.num_rows,
            "part_rows": part_rows,
            "parts": parts,
            "teacher_path": str(teacher.path),
            "scale": teacher.scale.to_json(),
        },
    )
    worker, workers = shard
    mine = range(worker, parts, workers)
    todo = [k for k in mine if not _part_path(out, k).is_file()]  # parts are written whole or not at all
    rows = sum(min(part_rows, pairs.num_rows - k * part_rows) for k in todo)
    log(f"silver: {rows:,} pairs to score in {len(todo)} parts ({len(mine) - len(todo)} done before)")
    bar = tqdm(total=rows, unit="pair", unit_scale=True, desc="silver", disable=not progress)
    for k in todo:
        part = pairs.slice(k * part_rows, part_rows)
        labelled = _label_part(teacher, part, bar, batch_size)
        with atomic_path(_part_path(out, k)) as tmp:  # a part is whole or absent
            pq.write_table(labelled, tmp, compression="zstd")
    bar.close()
    log(f"silver: wrote {len(todo)} parts to {out}")
    return out


def read_silver(out: str | Path) -> pa.Table:
    """Every silver label of `out` (query_text, entity_type, entity_id, score, probs), in input order."""
    out = Path(out)
    try:
        manifest = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise OmniSageError(f"silver {out}: not a silver-label folder (no {MANIFEST})") from None
    except (OSError, ValueError) as exc:
        raise OmniSageError(f"silver {out}: unreadable {MANIFEST} ({first_line(exc)})") from None
    files = [_part_path(out, k) for k in range(int(manifest.get("parts", 0)))]
    absent = [f.name for f in files if not f.is_file()]
    if absent:
        raise OmniSageError(
            f"silver {out}: {len(absent)} of {len(files)} parts missing (first {absent[0]}); "
            "rerun the labelling (every shard) to finish it"
        )
    tables = []
    for f in files:
        try:
            tables.append(pq.read_table(f, schema=SILVER).replace_schema_metadata(None))
        except (pa.ArrowException, OSError) as exc:
            raise OmniSageError(
                f"silver {f}: unreadable part ({first_line(exc)}); delete it and rerun"
            ) from None
    return pa.concat_tables(tables) if tables else SILVER.empty_table()


def _label_part(teacher: Teacher, part: pa.Table, bar: tqdm, batch_size: int) -> pa.Table:
    queries, texts = part.column("query_text").to_pylist(), part.column("item_text").to_pylist()
    scores, probs = [], []
    for start in range(0, len(queries), SCORE_ROWS):
        got = teacher.predict(
            queries[start : start + SCORE_ROWS], texts[start : start + SCORE_ROWS], batch_size=batch_size
        )
        scores.append(got.score)
        probs.append(got.probs)
        bar.update(len(got.score))
    if teacher.scale.kind == "levels":
        matrix = np.concatenate(probs).astype(np.float32)  # (P, C)
        offsets = pa.array(np.arange(0, matrix.size + 1, matrix.shape[1], dtype=np.int32))
        prob_column = pa.ListArray.from_arrays(offsets, pa.array(matrix.reshape(-1)))
    else:
        prob_column = pa.nulls(part.num_rows, SILVER.field("probs").type)
    columns = [part.column(c).cast(pa.string()) for c in KEY]
    table = pa.Table.from_arrays([*columns, pa.array(np.concatenate(scores)), prob_column], schema=SILVER)
    return table.replace_schema_metadata({"teacher": teacher.version})


def _pin(out: Path, manifest: dict) -> None:
    """Write the manifest, or check that the one there is of the same teacher and input."""
    path = out / MANIFEST
    if path.is_file():
        try:
            have = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise OmniSageError(f"silver {out}: unreadable {MANIFEST} ({first_line(exc)})") from None
        changed = [k for k in PINNED if have.get(k) != manifest[k]]
        if changed:
            was = ", ".join(f"{k} {have.get(k)!r} -> {manifest[k]!r}" for k in changed)
            raise OmniSageError(
                f"silver {out} holds labels of another teacher or input ({was}): its parts "
                "cannot be mixed with this run's; label into a fresh folder or delete it"
            )
        return
    if out.exists() and (
        not out.is_dir() or any(p.name[0] != "." and p.name != MANIFEST for p in out.iterdir())
    ):
        raise OmniSageError(f"silver {out} exists and is not a silver-label folder: label into a new folder")
    make_folder(out)
    write_text(path, json.dumps(manifest, indent=2) + "\n")


def _part_path(out: Path, k: int) -> Path:
    return out / f"part-{k:05d}.parquet"


def _check_candidates(
    queries: list[str], q: np.ndarray, types: list[str], ids: list[str], e: np.ndarray, k: int
) -> None:
    if k < 1:
        raise OmniSageError(f"candidate_pairs: k must be >= 1, got {k}")
    if q.ndim != 2 or e.ndim != 2 or q.shape[1] != e.shape[1]:
        raise DataError(f"candidate_pairs: query vectors {q.shape} and entity vectors {e.shape} do not match")
    if len(queries) != len(q) or not len(types) == len(ids) == len(e):
        raise DataError("candidate_pairs: one text per query vector and one type and id per entity vector")
    if len(set(queries)) != len(queries):
        raise DataError("candidate_pairs: a query text appears twice")
    if len(set(zip(types, ids, strict=True))) != len(ids):
        raise DataError("candidate_pairs: an (entity_type, entity_id) appears twice")


def _banned(
    exclude: pa.Table | Iterable[tuple[str, str, str]] | None,
    queries: list[str],
    types: list[str],
    ids: list[str],
) -> tuple[np.ndarray, np.ndarray]:
    """(query rows, entity rows) of the excluded pairs among these queries and entities."""
    if exclude is None:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    if isinstance(exclude, pa.Table):
        if missing := [c for c in KEY if c not in exclude.column_names]:
            raise DataError(f"candidate_pairs: exclude needs columns {', '.join(KEY)}", column=missing[0])
        exclude = zip(*(exclude.column(c).to_pylist() for c in KEY), strict=True)
    query_row = {text: i for i, text in enumerate(queries)}
    entity_row = {key: i for i, key in enumerate(zip(types, ids, strict=True))}
    pairs = [(query_row.get(q), entity_row.get((t, i))) for q, t, i in exclude]
    pairs = [(a, b) for a, b in pairs if a is not None and b is not None]
    rows = np.array(pairs, dtype=np.int64).reshape(-1, 2)
    return rows[:, 0], rows[:, 1]
