"""The index set a service loads: one index per entity type plus the legacy-embedding indexes.

`build_indexes` reads the batch-inference shards (`omnisage embed`) and, when given a world, its legacy
embeddings; it measures each approximate index's recall@k against exact search, widens its search until the
target recall, and writes both to the manifest.
A legacy index is searched with the first L dims of the new query embedding, renormalized.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.compute as pc

from omnisage.atomic import make_folder, write_atomic
from omnisage.config import IndexConfig
from omnisage.data.io import find_table, read_table
from omnisage.data.validate import read_manifest
from omnisage.errors import OmniSageError
from omnisage.index.display import ItemStore, write_item_store
from omnisage.index.exact import ExactIndex
from omnisage.index.hnsw import HnswIndex
from omnisage.index.ivfpq import MIN_ITEMS as IVFPQ_MIN_ITEMS
from omnisage.index.ivfpq import IvfPqIndex
from omnisage.index.store import VectorIndex
from omnisage.infer.embed import load_embeddings
from omnisage.progress import tqdm
from omnisage.schema import ENTITY_TYPES, ITEM_TYPES, LEGACY_EMBEDDINGS

MANIFEST = "indexes.json"
LEGACY_PREFIX = "legacy_"
RECALL_K = 10  # the k of the recall@k of an approximate index against exact search, measured at build time
RECALL_PROBES = 1000  # query embeddings that measure recall@k against exact search
PROBE_SEED = 0  # which query embeddings are the probes


def unit_rows(x: np.ndarray) -> np.ndarray:
    """L2-normalize each row (zero rows stay zero)."""
    norms = np.linalg.norm(x, axis=1, keepdims=True)  # (N, 1)
    return (x / np.maximum(norms, 1e-12)).astype(np.float32)


def recall_at_k(approx_rows: np.ndarray, exact_rows: np.ndarray) -> float:
    """Mean fraction of the exact top-k that the approximate top-k found; both (Q, k)."""
    if approx_rows.size == 0:
        return 1.0
    hits = [len(set(a.tolist()) & set(e.tolist())) for a, e in zip(approx_rows, exact_rows)]
    return float(np.mean(hits) / exact_rows.shape[1])


# Per approximate kind: the setting that widens its search, and the IndexConfig field that caps it.
SEARCH_WIDTH = {"hnsw": ("ef_search", "max_ef_search"), "ivfpq": ("nprobe", "max_nprobe")}


def build_index(ids: np.ndarray, vectors: np.ndarray, config: IndexConfig) -> VectorIndex:
    """The configured kind; an ivfpq index too small to train its codebooks is built exact (small enough to
    need no compression)."""
    if config.kind == "hnsw":
        return HnswIndex.build(ids, vectors, config.m, config.ef_construction, config.ef_search)
    if config.kind == "ivfpq" and len(ids) >= IVFPQ_MIN_ITEMS:
        return IvfPqIndex.build(ids, vectors, config.nprobe, config.refine)
    return ExactIndex(ids, vectors)


def measure_recall(
    index: VectorIndex, vectors: np.ndarray, probes: np.ndarray, k: int, tie_tolerance: float = 1e-5
) -> float:
    """Recall@k of `index` against exact search over the same `vectors`, for the probe queries (P, D).

    A returned row counts as found when its exact score reaches the exact k-th score (within
    `tie_tolerance`): among near-ties, which one an index returns is arbitrary, not an error.
    """
    exact = ExactIndex(index.ids, vectors)
    want_scores, _ = exact.search(probes, k)  # (P, k)
    _, got = index.search(probes, k)  # (P, k), -1 where nothing was returned
    got_scores = np.einsum("pd,pkd->pk", probes, vectors[np.maximum(got, 0)])  # (P, k) exact scores
    found = (got >= 0) & (got_scores >= want_scores[:, -1:] - tie_tolerance)
    return float(found.sum() / want_scores.size) if want_scores.size else 1.0


def tune_search_width(
    index: VectorIndex, vectors: np.ndarray, probes: np.ndarray, config: IndexConfig, recall: float
) -> float:
    """Double the search width (HNSW ef_search, IVF nprobe) until recall@k reaches the target: probes far from
    the items (an undertrained query tower, a new domain) need a wider search than in-distribution ones.
    Stops at the configured cap, or when the width no longer grows (IVF: every list). Returns the recall."""
    knob, cap = SEARCH_WIDTH[index.kind]
    while recall < config.target_recall:
        width = getattr(index, knob)
        if min(2 * width, getattr(config, cap)) > width:
            setattr(index, knob, min(2 * width, getattr(config, cap)))
        if getattr(index, knob) <= width:  # at the cap, or (IVF) every list already scanned
            break
        recall = measure_recall(index, vectors, probes, RECALL_K)
    return recall


@dataclass
class IndexSet:
    """Every index of one model version, keyed by name: pin, product, query, legacy_pin, legacy_product."""

    model_version: str
    dim: int
    indexes: dict[str, VectorIndex] = field(default_factory=dict)
    legacy_dim: int | None = None
    stats: dict[str, Any] = field(default_factory=dict)
    items: ItemStore | None = None  # display fields for a search page (items/*.parquet), when built with them

    def search(self, name: str, queries: np.ndarray, k: int) -> list[list[tuple[str, float]]]:
        """Top-k (entity_id, score) per query row; `queries` (Q, D) are full query embeddings."""
        index = self.indexes.get(name)
        if index is None:
            raise OmniSageError(f"no '{name}' index (have: {', '.join(sorted(self.indexes)) or 'none'})")
        if name.startswith(LEGACY_PREFIX):
            queries = unit_rows(np.asarray(queries)[:, : index.dim])  # (Q, L): the compatibility prefix
        scores, rows = index.search(queries, k)  # (Q, k) each
        ids = index.ids
        return [
            [(ids[r], float(s)) for r, s in zip(row, score) if r >= 0] for row, score in zip(rows, scores)
        ]

    def save(self, directory: str | Path) -> None:
        directory = Path(directory)
        make_folder(directory)
        for name, index in self.indexes.items():
            index.save(directory / name)
        manifest = {
            "model_version": self.model_version,
            "dim": self.dim,
            "legacy_dim": self.legacy_dim,
            "indexes": {n: {"kind": i.kind, "count": len(i)} for n, i in self.indexes.items()},
            "stats": self.stats,
        }
        text = json.dumps(manifest, indent=2).encode()
        write_atomic(directory / MANIFEST, lambda fh: fh.write(text))

    @classmethod
    def load(cls, directory: str | Path, ef_search: int | None = None) -> IndexSet:
        """Open a saved set; anything malformed (manifest, names, files) is one OmniSageError naming it."""
        directory = Path(directory)
        manifest = read_index_manifest(directory)
        indexes: dict[str, VectorIndex] = {}
        for name, info in manifest["indexes"].items():
            index = _load_index(directory / name, info["kind"], ef_search)  # ef_search: HNSW only
            want = manifest["legacy_dim"] if name.startswith(LEGACY_PREFIX) else manifest["dim"]
            if index.dim != want or len(index) != info.get("count", len(index)):
                raise OmniSageError(
                    f"{directory / name}: holds {len(index)} {index.dim}-d vectors, the manifest says "
                    f"{info.get('count', '?')} {want}-d"
                )
            indexes[name] = index
        return cls(
            manifest["model_version"],
            manifest["dim"],
            indexes,
            manifest["legacy_dim"],
            manifest["stats"],
            ItemStore.load(directory),
        )


INDEX_KINDS = ("exact", "hnsw", "ivfpq")
INDEX_FILES = {"exact": "vectors.npy", "hnsw": "hnsw.faiss", "ivfpq": "ivfpq.faiss"}
INDEX_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")  # pin, legacy_product...: a plain folder name, never a path


def read_index_manifest(directory: Path) -> dict[str, Any]:
    """The checked `indexes.json` of an index set: its fields typed, its index names known (a name is a
    folder: `../x` must not reach outside the set) and every index kind one we load."""
    path = directory / MANIFEST
    if not path.is_file():
        raise OmniSageError(f"{directory}: no index set here (missing {MANIFEST}; run `omnisage index`)")
    try:
        manifest = json.loads(path.read_bytes())
    except (ValueError, OSError) as exc:
        raise OmniSageError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(manifest, dict):
        raise OmniSageError(f"{path}: expected a JSON object")
    manifest.setdefault("legacy_dim", None)
    manifest.setdefault("stats", {})
    checks = {
        "model_version": lambda v: isinstance(v, str) and v != "",
        "dim": lambda v: type(v) is int and v > 0,
        "legacy_dim": lambda v: v is None or (type(v) is int and v > 0),
        "indexes": lambda v: isinstance(v, dict) and v != {},
        "stats": lambda v: isinstance(v, dict),
    }
    for key, ok in checks.items():
        if key not in manifest or not ok(manifest[key]):
            raise OmniSageError(f"{path}: missing or malformed field {key!r}")
    for name, info in manifest["indexes"].items():
        if not INDEX_NAME.fullmatch(name):
            raise OmniSageError(f"{path}: bad index name {name!r} (lowercase letters, digits and _ only)")
        if not isinstance(info, dict) or info.get("kind") not in INDEX_KINDS:
            raise OmniSageError(f"{path}: index {name!r} needs a kind, one of {', '.join(INDEX_KINDS)}")
        if name.startswith(LEGACY_PREFIX) and manifest["legacy_dim"] is None:
            raise OmniSageError(f"{path}: legacy index {name!r} but no legacy_dim")
    return manifest


def _load_index(folder: Path, kind: str, ef_search: int | None) -> VectorIndex:
    """One index folder of the kind the manifest names; a missing, truncated or mislabelled file is an
    OmniSageError (FAISS and NumPy raise RuntimeError, ValueError, EOFError... of their own)."""
    try:
        meta = json.loads((folder / "index.json").read_bytes())
    except (ValueError, OSError) as exc:
        raise OmniSageError(f"{folder}: unreadable index.json ({exc})") from None
    if not isinstance(meta, dict) or meta.get("kind") != kind or not (folder / INDEX_FILES[kind]).is_file():
        raise OmniSageError(f"{folder}: not a {kind} index (the manifest and the folder disagree)")
    try:
        if kind == "hnsw":
            return HnswIndex.load(folder, ef_search)
        if kind == "ivfpq":
            return IvfPqIndex.load(folder)
        return ExactIndex.load(folder)
    except OmniSageError:
        raise
    except Exception as exc:  # any failure to parse a file is a bad index set, not a crash
        raise OmniSageError(f"{folder}: cannot load the {kind} index ({type(exc).__name__}: {exc})") from None


def read_legacy(world_dir: str | Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The world's legacy embeddings per item type: (ids, unit vectors (N, L)); empty without the table."""
    path = find_table(world_dir, LEGACY_EMBEDDINGS.name)
    if path is None:
        return {}
    dim = read_manifest(world_dir).get("legacy_dim")
    table = read_table(path, LEGACY_EMBEDDINGS, vector_dim=int(dim) if dim is not None else None)
    out = {}
    for kind in ITEM_TYPES:
        part = table.filter(pc.equal(table.column("entity_type"), kind))
        if part.num_rows:
            vectors = np.asarray(part.column("vector").combine_chunks().flatten()).reshape(part.num_rows, -1)
            ids = np.asarray(part.column("entity_id").to_pylist(), dtype=object)
            out[kind] = (ids, unit_rows(vectors))
    return out


def build_tuned(
    name: str, ids: np.ndarray, vectors: np.ndarray, probes: np.ndarray, config: IndexConfig
) -> tuple[VectorIndex, dict[str, Any]]:
    """One index, its search widened to the target recall; its stats: count, the width chosen, recall@k."""
    index = build_index(ids, vectors, config)
    if config.kind == "ivfpq" and index.kind == "exact":
        print(
            f"omnisage index: {name}: {len(ids)} vectors are too few to train IVF-PQ "
            f"(needs {IVFPQ_MIN_ITEMS}); built exact instead"
        )
    recall = measure_recall(index, vectors, probes, RECALL_K)
    stats: dict[str, Any] = {"count": len(ids)}
    if index.kind in SEARCH_WIDTH:
        recall = tune_search_width(index, vectors, probes, config, recall)
        knob = SEARCH_WIDTH[index.kind][0]
        stats[knob] = getattr(index, knob)
    stats[f"recall@{RECALL_K}"] = round(recall, 4)
    return index, stats


def build_indexes(
    embeddings_dir: str | Path,
    out_dir: str | Path,
    config: IndexConfig,
    world_dir: str | Path | None = None,
    enriched: str | Path | None = None,
) -> IndexSet:
    """Build, measure and save every index; returns the saved set (its `stats` hold recall@k per index).

    With the enriched table and/or the world, the items' display fields are written beside the indexes.
    """
    version, dim, entities = None, None, {}
    for kind in ENTITY_TYPES:
        found = load_embeddings(embeddings_dir, kind)
        if found is None:
            continue
        ids, vectors, kind_version = found
        if version not in (None, kind_version):
            raise OmniSageError(
                f"{embeddings_dir}: {kind} embeddings come from model {kind_version}, not {version}"
            )
        version, dim = kind_version, vectors.shape[1]
        entities[kind] = (ids, vectors)
    if not entities:
        raise OmniSageError(f"{embeddings_dir}: no embeddings found (run `omnisage embed` first)")
    legacy = read_legacy(world_dir) if world_dir is not None else {}
    for kind, (_, vectors) in list(legacy.items()):
        if vectors.shape[1] > int(dim):  # a D-dim query embedding has no L-dim prefix to search them with
            del legacy[kind]
            print(
                f"omnisage index: skipping legacy {kind} index: legacy dim {vectors.shape[1]} > model dim {dim}"
            )
    named = dict(entities) | {LEGACY_PREFIX + k: v for k, v in legacy.items()}

    rng = np.random.default_rng(PROBE_SEED)
    probe_pool = entities["query"][1] if "query" in entities else next(iter(entities.values()))[1]
    probes = probe_pool[rng.permutation(len(probe_pool))[:RECALL_PROBES]]  # (P, D)
    result = IndexSet(str(version), int(dim), legacy_dim=None)
    for name, (ids, vectors) in tqdm(named.items(), desc="index", unit="index"):
        probe = unit_rows(probes[:, : vectors.shape[1]]) if name.startswith(LEGACY_PREFIX) else probes
        result.indexes[name], result.stats[name] = build_tuned(name, ids, vectors, probe, config)
        if name.startswith(LEGACY_PREFIX):
            result.legacy_dim = int(vectors.shape[1])
    result.save(out_dir)
    if enriched is not None or world_dir is not None:
        ids_by_type: dict[str, set[str]] = {}
        for name, (ids, _) in named.items():
            ids_by_type.setdefault(name.removeprefix(LEGACY_PREFIX), set()).update(str(i) for i in ids)
        source = [Path(p) if p is not None else None for p in (enriched, world_dir)]
        write_item_store(Path(out_dir), ids_by_type, *source)
        result.items = ItemStore.load(out_dir)
    return result
