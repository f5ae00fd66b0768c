"""HNSW recall@10 ≥ 0.95 against exact search on the demo world (3,000 pins), for every index the service loads.

The world, its enrichment and the legacy embeddings are the real pipeline's; the encoders are an untrained
tiny bundle (training is not what this test checks), so the vectors have the demo world's size and shape.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from omnisage.cli import main
from omnisage.config import IndexConfig, InferConfig
from omnisage.index.catalog import build_indexes
from omnisage.infer.embed import embed_all

from ..infer.bundle_fixture import make_tiny_bundle


@pytest.mark.slow
def test_hnsw_recall_on_the_demo_world(tmp_path: Path) -> None:
    from omnisage.model.bundle import load_model

    world, enriched = tmp_path / "world", tmp_path / "enriched"
    assert main(["synth", "--out", str(world), "--scale", "3000", "--seed", "7"]) == 0
    assert main(["enrich", "--data", str(world), "--as-of", "2024-06-01", "--out", str(enriched)]) == 0
    model = load_model(make_tiny_bundle(tmp_path, legacy_dim=256, image_dim=64, dim=256))
    embed_all(
        model,
        tmp_path / "emb",
        InferConfig(),
        enriched / "enriched_entities.parquet",
        world / "queries.parquet",
    )
    built = build_indexes(tmp_path / "emb", tmp_path / "idx", IndexConfig(), world)
    assert sorted(built.indexes) == ["legacy_pin", "legacy_product", "pin", "product", "query"]
    assert built.stats["pin"]["count"] == 3000 and built.stats["query"]["count"] == 1000
    for name, stats in built.stats.items():
        assert stats["recall@10"] >= 0.95, (name, stats)
