"""The index set: built from `embed` parts and legacy embeddings, saved, loaded, searched (legacy by prefix)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from omnisage.config import IndexConfig, InferConfig, load_config
from omnisage.errors import OmniSageError
from omnisage.index.catalog import IndexSet, build_indexes, unit_rows
from omnisage.index.exact import ExactIndex
from omnisage.infer.embed import embed_all

from ..infer.toy_model import ToyModel, enriched_table


def embed_toy(folder: Path, entities: int) -> Path:
    """`omnisage embed` output of the toy model: 2/3 of `entities` are pins, the rest products; 200 queries."""
    folder.mkdir(exist_ok=True)
    pq.write_table(enriched_table(entities), folder / "enriched.parquet")
    pq.write_table(pa.table({"query_text": [f"q{i}" for i in range(200)]}), folder / "queries.parquet")
    embed_all(
        ToyModel(),
        folder / "emb",
        InferConfig(part_rows=256),
        folder / "enriched.parquet",
        folder / "queries.parquet",
    )
    return folder / "emb"


@pytest.fixture
def embedded(tmp_path: Path) -> Path:
    return embed_toy(tmp_path, 600)


def write_legacy(world: Path, n: int, dim: int) -> np.ndarray:
    """Legacy pin vectors (n, dim), unnormalized as a legacy system might store them."""
    world.mkdir()
    vectors = np.random.default_rng(5).normal(size=(n, dim)).astype(np.float32) * 3
    table = pa.table(
        {
            "entity_type": ["pin"] * n,
            "entity_id": [f"old{i}" for i in range(n)],
            "vector": pa.array(list(vectors), pa.list_(pa.float32())),
        }
    )
    pq.write_table(table, world / "legacy_embeddings.parquet")
    return vectors


def test_build_save_load_search(embedded: Path, tmp_path: Path) -> None:
    legacy = write_legacy(tmp_path / "world", 50, 4)
    built = build_indexes(embedded, tmp_path / "idx", IndexConfig(m=8), tmp_path / "world")
    assert sorted(built.indexes) == ["legacy_pin", "pin", "product", "query"]
    assert built.stats["pin"]["count"] == 400 and built.stats["pin"]["recall@10"] >= 0.95
    loaded = IndexSet.load(tmp_path / "idx")
    assert (loaded.model_version, loaded.dim, loaded.legacy_dim) == ("toy-1", 8, 4)
    assert loaded.indexes["pin"].kind == "hnsw"

    query = np.random.default_rng(0).normal(size=(1, 8)).astype(np.float32)
    query = unit_rows(query)
    # The legacy index is searched with the first L=4 dims of the query embedding, renormalized.
    got = loaded.search("legacy_pin", query, 5)[0]
    exact = ExactIndex(np.array([f"old{i}" for i in range(50)]), unit_rows(legacy))
    scores, rows = exact.search(unit_rows(query[:, :4]), 5)
    assert [i for i, _ in got] == [f"old{r}" for r in rows[0]]
    np.testing.assert_allclose([s for _, s in got], scores[0], rtol=1e-5)
    with pytest.raises(OmniSageError, match="no 'legacy_product' index"):
        loaded.search("legacy_product", query, 5)


def test_exact_kind_and_missing_inputs(embedded: Path, tmp_path: Path) -> None:
    built = build_indexes(embedded, tmp_path / "idx", IndexConfig(kind="exact"))
    assert built.stats["product"]["recall@10"] == 1.0 and "legacy_pin" not in built.indexes
    with pytest.raises(OmniSageError, match="no embeddings found"):
        build_indexes(tmp_path / "nothing", tmp_path / "idx2", IndexConfig())
    with pytest.raises(OmniSageError, match="no index set here"):
        IndexSet.load(tmp_path / "nothing")
    with pytest.raises(OmniSageError, match=r"index\.kind: 'annoy' is not one of 'hnsw', 'ivfpq', 'exact'"):
        load_config(None, ["index.kind=annoy"])  # checked where the config is built


def test_ef_search_is_tuned_up_to_the_target_recall(embedded: Path, tmp_path: Path) -> None:
    narrow = IndexConfig(m=4, ef_search=1, target_recall=0.99)
    built = build_indexes(embedded, tmp_path / "idx", narrow)
    stats = built.stats["pin"]
    assert stats["recall@10"] >= 0.99 and stats["ef_search"] > 1
    assert IndexSet.load(tmp_path / "idx").indexes["pin"].ef_search == stats["ef_search"]  # saved
    capped = build_indexes(
        embedded, tmp_path / "idx2", IndexConfig(m=4, ef_search=1, target_recall=1.1, max_ef_search=16)
    )
    assert capped.stats["pin"]["ef_search"] == 16  # search lifts ef below k to k=10; 20 is capped


def test_ivfpq_is_tuned_saved_and_small_indexes_fall_back_to_exact(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    embedded = embed_toy(
        tmp_path / "toy", 1500
    )  # 1,000 pins (IVF-PQ), 500 products and 200 queries (too few)
    built = build_indexes(embedded, tmp_path / "idx", IndexConfig(kind="ivfpq", nprobe=1))
    assert {n: i.kind for n, i in built.indexes.items()} == {
        "pin": "ivfpq",
        "product": "exact",
        "query": "exact",
    }
    assert (
        "product: 500 vectors are too few to train IVF-PQ (needs 624); built exact" in capsys.readouterr().out
    )
    stats = built.stats["pin"]
    assert stats["recall@10"] >= 0.95 and stats["nprobe"] > 1
    loaded = IndexSet.load(tmp_path / "idx")
    assert loaded.indexes["pin"].kind == "ivfpq" and loaded.indexes["pin"].nprobe == stats["nprobe"]  # saved
