"""Query-level split, evaluation sets and legacy vectors of the real-data benchmark; leakage checked by construction."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from omnisage.config import Config, EvalConfig
from omnisage.data.homedepot import read_homedepot
from omnisage.data.validate import load_world
from omnisage.errors import DataError
from omnisage.experiments import legacy as legacy_module
from omnisage.experiments.legacy import legacy_embeddings
from omnisage.experiments.product_search import prepare_world
from omnisage.experiments.split import eval_sets, split_by_file, split_by_query

from .conftest import homedepot_csv


class FakeEncoder:
    """A toy stand-in for the sentence encoder: a unit vector from the text's length; counts its calls."""

    calls = 0

    def __init__(self, path: str | None = None, max_tokens: int = 128):
        FakeEncoder.calls += 1

    def __call__(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), 4), np.float32)
        out[np.arange(len(texts)), [len(t) % 4 for t in texts]] = 1.0
        return out


@pytest.fixture
def fake_encoder(monkeypatch: pytest.MonkeyPatch) -> type[FakeEncoder]:
    FakeEncoder.calls = 0
    monkeypatch.setattr(legacy_module, "MeanPoolEncoder", FakeEncoder)
    return FakeEncoder


def test_query_split_holds_out_whole_queries(csv_path: Path) -> None:
    data = read_homedepot(csv_path)
    split = split_by_query(data, share=0.2, seed=0)
    heldout = set(split.heldout_queries.to_pylist())
    training = set(split.training.judgments.column("query_text").to_pylist())
    assert len(heldout) == 3 and not heldout & training  # 20% of 15 queries, none of them in training
    engaged = data.engaged()
    expected = engaged.filter(pc.is_in(engaged.column("query_text"), pa.array(sorted(heldout))))
    assert split.heldout.equals(expected)  # every engaged pair of a held-out query, nothing else
    assert (
        split.about["training_judgments"]
        + sum(data.judgments.column("query_text").to_pylist().count(q) for q in heldout)
        == data.judgments.num_rows
    )
    again = split_by_query(data, share=0.2, seed=0)
    other = split_by_query(data, share=0.2, seed=1)
    assert set(again.heldout_queries.to_pylist()) == heldout
    assert set(other.heldout_queries.to_pylist()) != heldout
    with pytest.raises(DataError, match="eval_share"):
        split_by_query(data, share=1.0, seed=0)


def test_file_split_drops_seen_queries_and_adds_products(csv_path: Path, tmp_path: Path) -> None:
    test_csv = tmp_path / "test.csv"
    test_csv.write_text(
        "id,product_uid,product_title,search_term,relevance\n"
        "1,1000,Drill model 0,cordless drill,3\n"  # a training query: dropped
        "2,5000,Garden hose 50 ft,garden hose,3\n"  # unseen query, new product
        "3,1001,Drill model 1,drill for concrete,2.67\n",
        encoding="utf-8",
    )
    split = split_by_file(read_homedepot(csv_path), read_homedepot(test_csv))
    assert split.heldout.column("query_text").to_pylist() == ["garden hose", "drill for concrete"]
    assert split.about["test_pairs_with_seen_query_dropped"] == 1
    assert split.about["test_products_added_to_catalog"] == 1
    assert "5000" in split.training.products.column("product_id").to_pylist()


def test_legacy_vectors_are_cached_per_text_and_resumable(
    tmp_path: Path, fake_encoder: type[FakeEncoder]
) -> None:
    products = pa.table({"product_id": ["a", "b", "c"], "title": ["x", "yy", "zzz"]})
    first = legacy_embeddings(products, tmp_path, fields=("title",), progress=False)
    assert first.column("entity_id").to_pylist() == ["a", "b", "c"]
    assert first.column("vector").to_pylist()[2] == [0.0, 0.0, 0.0, 1.0]
    assert fake_encoder.calls == 1
    again = legacy_embeddings(products, tmp_path, fields=("title",), progress=False)
    assert again.equals(first) and fake_encoder.calls == 1  # served from the cache
    # Another catalog (reordered, one text changed): only the new text is encoded.
    changed = pa.table({"product_id": ["c", "a", "b"], "title": ["zzzz", "x", "yy"]})
    out = legacy_embeddings(changed, tmp_path, fields=("title",), progress=False)
    assert fake_encoder.calls == 2
    assert out.column("vector").to_pylist()[1:] == first.column("vector").to_pylist()[:2]
    # An interrupted run leaves finished parts in the store: a rerun encodes only what is missing.
    store = tmp_path / legacy_module.store_name(None, 128)
    np.savez(store / "part-000099.npz", keys=legacy_module.text_keys(["w"]), vectors=np.full((1, 4), 0.5))
    resumed = legacy_embeddings(pa.table({"product_id": ["d"], "title": ["w"]}), tmp_path, fields=("title",),
                                progress=False)  # fmt: skip
    assert resumed.column("vector").to_pylist() == [[0.5] * 4] and fake_encoder.calls == 2


def test_training_world_and_eval_sets_never_see_heldout_queries(
    csv_path: Path, tmp_path: Path, fake_encoder: type[FakeEncoder]
) -> None:
    data = read_homedepot(csv_path)
    assert data.rejections.counts() == {"missing product title": 1}
    split = split_by_query(data, share=0.2, seed=0)
    heldout = set(split.heldout_queries.to_pylist())
    world, enriched_path, dim, _ = prepare_world(
        split, tmp_path / "out", Config(), tmp_path / "cache", progress=False, log=lambda _: None
    )
    assert dim == 4
    loaded = load_world(world)
    logs = loaded["engagements"]
    assert not heldout & set(logs.column("query_text").to_pylist())
    assert not heldout & set(logs.column("entity_id").to_pylist())  # no query→query pair either
    assert (world / "rejected_rows.csv").read_text().count("missing product title") == 1
    import pyarrow.parquet as pq

    enriched = pq.read_table(enriched_path)
    expansions = {q for qs in enriched.column("engaged_queries").to_pylist() for q in qs or []}
    assert expansions and not heldout & expansions  # document expansion from training queries only

    cfg = EvalConfig(corpus_size=10, seed=3)
    sets, _ = eval_sets(split, enriched, cfg)
    products = sets["product"]
    assert products.pairs.num_rows == split.heldout.num_rows
    assert set(products.queries) == heldout
    assert len(products.corpus) == 10 and len(set(products.corpus.tolist())) == 10
    positive_ids = products.entity_ids[products.positives].tolist()
    assert positive_ids == products.pairs.column("entity_id").to_pylist()
    # query→query: a held-out query and a query sharing an engaged product with it (here, seed 0 holds out
    # 'drill driver kit', 'floor lamp' and 'reading lamp'; only the first two share a product)
    related = sets["query"]
    pairs = set(zip(related.queries, related.pairs.column("entity_id").to_pylist()))
    assert pairs == {("drill driver kit", "cordless drill"), ("floor lamp", "desk lamp")}
    assert len(related.corpus) == 10  # the query catalog holds every query, held-out ones included


def test_fixture_builder_is_deterministic(tmp_path: Path) -> None:
    a = homedepot_csv(tmp_path / "a.csv").read_text()
    assert a == homedepot_csv(tmp_path / "b.csv").read_text() and a.count("\n") == 1 + 3 * 5 * 2 + 3


def test_esci_published_split_trains_on_train_and_tests_on_test(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    from omnisage.experiments.product_search import read_sources

    examples, products = tmp_path / "examples.parquet", tmp_path / "products.parquet"
    pq.write_table(
        pa.table(
            {
                "query": ["red mug", "blue mug", "mug", "kettle"],
                "query_id": [1, 2, 3, 4],
                "product_id": ["B1", "B2", "B1", "B3"],
                "product_locale": ["us", "us", "us", "es"],
                "esci_label": ["E", "E", "E", "E"],
                "small_version": [1, 1, 1, 1],
                "split": ["train", "train", "test", "test"],
            }
        ),
        examples,
    )
    pq.write_table(
        pa.table(
            {
                "product_id": ["B1", "B2", "B3"],
                "product_locale": ["us", "us", "es"],
                "product_title": ["Red Mug", "Blue Mug", "Hervidor"],
                "product_description": [None, None, None],
                "product_bullet_point": [None, None, None],
                "product_brand": [None, None, None],
                "product_color": [None, None, None],
            }
        ),
        products,
    )
    train, test = read_sources("esci", examples=examples, products=products, published_split=True)
    assert train.judgments.column("query_text").to_pylist() == ["red mug", "blue mug"]
    assert test is not None and test.judgments.column("query_text").to_pylist() == ["mug", "kettle"]
    split = split_by_file(train, test)
    assert split.heldout.column("product_id").to_pylist() == ["us:B1", "es:B3"]
    assert split.queries.column("lang").to_pylist() == ["en", "en", "en", "es"]
