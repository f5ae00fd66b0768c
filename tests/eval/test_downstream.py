"""Downstream interest classification: a stratified split, and both classifiers on a toy taxonomy."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa

from omnisage.config import EvalConfig
from omnisage.data.io import write_table
from omnisage.eval.downstream import interest_classification, level_split

COLOURS = ["red", "blue", "green", "black", "white", "pink", "grey", "brown"]
OBJECTS = {
    "sofa": "living",
    "armchair": "living",
    "lamp": "living",
    "rug": "floor",
    "tile": "floor",
    "parquet": "floor",
}


def _labels() -> pa.Table:
    rows = []
    for obj, top in OBJECTS.items():
        for colour in COLOURS:
            for style in ("modern", "vintage", "rustic"):
                rows.append({"query_text": f"{style} {colour} {obj}", "top_id": top, "sub_id": obj,
                             "leaf_id": f"{obj}-{style}" if style != "rustic" else None})  # fmt: skip
    return pa.Table.from_pylist(rows)


def test_split_is_stratified_and_seeded() -> None:
    split, classes = level_split(_labels(), "sub_id", 0.5, seed=0)
    assert classes == sorted(OBJECTS)
    for c in range(len(classes)):
        members = split.labels == c
        assert split.train[members].sum() == 12 and (~split.train[members]).sum() == 12
    again, _ = level_split(_labels(), "sub_id", 0.5, seed=0)
    assert np.array_equal(split.train, again.train)
    leaf, _ = level_split(_labels(), "leaf_id", 0.5, seed=0)
    assert len(leaf.texts) == 6 * 8 * 2  # queries without a leaf label are not leaf examples


def test_both_classifiers_learn_a_clean_taxonomy_and_random_vectors_do_not(tmp_path: Path) -> None:
    write_table(_labels(), tmp_path / "query_interests.parquet")
    words = sorted({w for q in _labels().column("query_text").to_pylist() for w in q.split()})

    def keyword(texts: list[str]) -> np.ndarray:
        return np.array([[float(w in t.split()) for w in words] for t in texts], np.float32)

    def noise(texts: list[str]) -> np.ndarray:
        return np.random.default_rng(len(texts)).normal(size=(len(texts), 16)).astype(np.float32)

    cfg = EvalConfig()
    rows = {r["level"]: r for r in interest_classification(tmp_path, keyword, cfg, epochs=40)}
    assert [r["classes"] for r in rows.values()] == [2, 6, 12]
    for r in rows.values():
        assert r["embedding_precision"] == 1.0 and r["fasttext_precision"] >= 0.9
    noisy = {r["level"]: r for r in interest_classification(tmp_path, noise, cfg, epochs=40)}
    assert noisy["sub"]["embedding_precision"] < 0.5  # chance is 1/6
