"""Batch inference and the exported query encoder on a real (tiny) model bundle."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from omnisage.config import IndexConfig, InferConfig, ServeConfig
from omnisage.errors import OmniSageError
from omnisage.index.catalog import build_indexes
from omnisage.infer.embed import embed_all, load_embeddings
from omnisage.infer.export import OnnxQueryEncoder, ensure_exported

from .bundle_fixture import TITLES, enriched_rows, make_tiny_bundle

QUERIES = ["Red sofa", "oak table for six people", "boots", "vase"]


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    return make_tiny_bundle(tmp_path_factory.mktemp("bundle"))


@pytest.fixture(scope="module")
def model(bundle):
    from omnisage.model.bundle import load_model

    return load_model(bundle)


def test_onnx_encoder_matches_the_bundle(bundle, model) -> None:
    folder = ensure_exported(model, bundle, int8=True)
    assert folder == bundle / "onnx"
    fp32 = OnnxQueryEncoder(folder, int8=False)
    assert (fp32.version, fp32.dim) == (model.version, 16)
    want = model.encode_queries(QUERIES)  # normalizes inside, as the ONNX encoder does
    np.testing.assert_allclose(fp32.encode_queries(QUERIES), want, atol=1e-5)
    int8 = OnnxQueryEncoder(folder, int8=True)
    assert (int8.encode_queries(QUERIES) * want).sum(axis=1).min() > 0.95
    assert ensure_exported(model, bundle) == folder  # fresh: not exported again


def test_invisible_characters_do_not_move_the_query_vector(bundle, model) -> None:
    """A zero-width space, BOM, soft hyphen or variation selector used to give another vector (PyTorch and ONNX
    alike): both put queries through the one `normalize`."""
    hidden = ["Red\u200b sofa", "\ufeffoak ta\u00adble for six people", "boots\ufe0f", "va\u200dse"]
    np.testing.assert_array_equal(model.encode_queries(hidden), model.encode_queries(QUERIES))
    fp32 = OnnxQueryEncoder(ensure_exported(model, bundle, int8=False), int8=False)
    np.testing.assert_array_equal(fp32.encode_queries(hidden), fp32.encode_queries(QUERIES))


def test_embed_index_and_search_with_the_bundle(bundle, model, tmp_path: Path) -> None:
    import asyncio

    from omnisage.serve.server import load_parts
    from omnisage.serve.service import QueryService

    table = enriched_rows(60)
    pq.write_table(table, tmp_path / "enriched_entities.parquet")
    pq.write_table(pa.table({"query_text": TITLES}), tmp_path / "queries.parquet")
    config = InferConfig(batch_size=16, part_rows=25)
    embed_all(
        model, tmp_path / "emb", config, tmp_path / "enriched_entities.parquet", tmp_path / "queries.parquet"
    )
    ids, vectors, version = load_embeddings(tmp_path / "emb", "pin")
    assert version == model.version and len(ids) == 40
    pins = table.filter(pa.compute.equal(table.column("entity_type"), "pin"))
    np.testing.assert_allclose(vectors, model.encode_entities(pins), atol=1e-5)

    build_indexes(tmp_path / "emb", tmp_path / "idx", IndexConfig(m=8))
    serve_config = ServeConfig(encoder="onnx")
    embedder, indexes, _ = load_parts(bundle, tmp_path / "idx", serve_config)
    service = QueryService(embedder, indexes, serve_config)

    async def search() -> dict:
        try:
            return await service.search("red velvet sofa", ("pin", "product", "query"), 3)
        finally:
            await service.close()

    result = asyncio.run(search())
    assert result["model_version"] == f"{model.version}+onnx-fp32"  # the bundle, and which export served it
    q = model.encode_queries(["red velvet sofa"])
    best = np.argsort(-(vectors @ q[0]), kind="stable")[:3]
    assert [h["id"] for h in result["results"]["pin"]] == [ids[i] for i in best]
    assert "red velvet sofa" not in [h["id"] for h in result["results"]["query"]]


def test_the_export_manifest_names_the_bundle_and_every_file_hash(bundle, model) -> None:
    import hashlib
    import json

    folder = ensure_exported(model, bundle, int8=True)
    meta = json.loads((folder / "export.json").read_text())
    assert meta["model_version"] == model.version
    on_disk = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()} - {"export.json"}
    assert set(meta["files"]) == on_disk and "query_encoder.int8.onnx" in on_disk
    for name, digest in meta["files"].items():
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest, name


def test_a_swapped_onnx_file_is_exported_over_never_served(tmp_path: Path, monkeypatch) -> None:
    """A swapped query_encoder.int8.onnx used to serve other vectors under the same model version."""
    from omnisage.infer import export
    from omnisage.model.bundle import load_model

    folder_of_bundle = make_tiny_bundle(tmp_path / "mine")
    model = load_model(folder_of_bundle)
    folder = ensure_exported(model, folder_of_bundle, int8=True)
    want = OnnxQueryEncoder(folder, int8=True).encode_queries(QUERIES)
    other = make_tiny_bundle(tmp_path / "other", seed=1)
    other_folder = ensure_exported(load_model(other), other, int8=True)
    swapped = (other_folder / "query_encoder.int8.onnx").read_bytes()
    (folder / "query_encoder.int8.onnx").write_bytes(swapped)

    with pytest.raises(OmniSageError, match=r"query_encoder\.int8\.onnx is not the file exported from model"):
        OnnxQueryEncoder(folder, int8=True)  # loading checks the bytes it loads
    assert ensure_exported(model, folder_of_bundle, int8=True) == folder  # exported again, over the swap
    assert (folder / "query_encoder.int8.onnx").read_bytes() != swapped
    served = OnnxQueryEncoder(folder, int8=True)
    np.testing.assert_array_equal(served.encode_queries(QUERIES), want)
    assert (served.version, served.variant) == (model.version, "onnx-int8")

    # A read-only bundle exports into this user's private temp folder, checked the same way.
    monkeypatch.setattr(export.tempfile, "tempdir", str(tmp_path / "tmp"))
    monkeypatch.setattr(export.os, "access", lambda *a: False)
    private = ensure_exported(model, folder_of_bundle, int8=False)
    assert private == tmp_path / "tmp" / f"omnisage-onnx-{os.getuid()}" / model.version
    (private / "tokenizer" / "tokenizer.json").write_text("{}")
    assert ensure_exported(model, folder_of_bundle, int8=False) == private
    np.testing.assert_allclose(OnnxQueryEncoder(private, int8=False).encode_queries(QUERIES), want, atol=0.1)


def test_an_export_that_cannot_be_written_is_one_error(tmp_path: Path, monkeypatch) -> None:
    from omnisage.errors import OutputError
    from omnisage.infer import export
    from omnisage.model.bundle import load_model

    bundle = make_tiny_bundle(tmp_path / "mine")
    model = load_model(bundle)
    monkeypatch.setattr(export.tempfile, "tempdir", str(tmp_path / "tmp"))
    monkeypatch.setattr(export.os, "access", lambda *a: False)
    blocked = tmp_path / "tmp" / f"omnisage-onnx-{os.getuid()}" / model.version
    blocked.parent.mkdir(parents=True)
    blocked.write_text("a file where the export folder should be")
    with pytest.raises(OutputError, match=rf"cannot write {blocked}"):
        ensure_exported(model, bundle, int8=False)


def test_the_served_version_names_the_encoder_that_made_the_vectors(bundle, model) -> None:
    """int8, fp32 and PyTorch vectors of one bundle differ slightly: two servers sharing a Redis tier must not
    read each other's cached vectors, and a response says which encoder made its vectors."""
    from omnisage.serve.server import query_embedder
    from omnisage.serve.service import QueryService

    versions = set()
    for encoder in ("onnx-int8", "onnx", "torch"):
        config = ServeConfig(encoder=encoder)
        service = QueryService(query_embedder(model, bundle, config), None, config)
        assert service.snapshot.embedder.version == model.version  # what indexes are checked against
        versions.add(service.snapshot.version)
    assert versions == {f"{model.version}+{v}" for v in ("onnx-int8", "onnx-fp32", "torch")}
