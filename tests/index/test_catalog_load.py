"""Opening an index set from disk: every malformed set (manifest, names, files) is one clear OmniSageError."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from omnisage.errors import OmniSageError
from omnisage.index.catalog import MANIFEST, IndexSet, unit_rows
from omnisage.index.exact import ExactIndex
from omnisage.index.hnsw import HnswIndex
from omnisage.index.ivfpq import MIN_ITEMS, IvfPqIndex


def saved_set(directory: Path) -> Path:
    """A small set with one index of each kind, saved the way `omnisage index` saves it."""
    rng = np.random.default_rng(0)
    pins, queries = unit_rows(rng.normal(size=(50, 8))), unit_rows(rng.normal(size=(20, 8)))
    products = unit_rows(rng.normal(size=(MIN_ITEMS, 8)))
    indexes = {
        "pin": HnswIndex.build(np.array([f"p{i}" for i in range(50)]), pins, m=8),
        "product": IvfPqIndex.build(np.array([f"s{i}" for i in range(MIN_ITEMS)]), products),
        "query": ExactIndex(np.array([f"q{i}" for i in range(20)]), queries),
    }
    IndexSet("v1", 8, indexes).save(directory)
    return directory


def edit_manifest(change: Callable[[dict], None]) -> Callable[[Path], None]:
    def edit(directory: Path) -> None:
        manifest = json.loads((directory / MANIFEST).read_text())
        change(manifest)
        (directory / MANIFEST).write_text(json.dumps(manifest))

    return edit


def truncate(path: str) -> Callable[[Path], None]:
    def cut(directory: Path) -> None:
        data = (directory / path).read_bytes()
        (directory / path).write_bytes(data[: len(data) // 2])

    return cut


def escape(directory: Path) -> None:
    # A valid index folder outside the set, named through ../: it must not be read.
    shutil.copytree(directory / "query", directory.parent / "outside")
    edit_manifest(lambda m: m["indexes"].update({"../outside": {"kind": "exact", "count": 20}}))(directory)


CORRUPTIONS = {
    "manifest is not JSON": (lambda d: (d / MANIFEST).write_text("{not json"), "not valid JSON"),
    "manifest is a list": (lambda d: (d / MANIFEST).write_text("[]"), "expected a JSON object"),
    "no model_version": (edit_manifest(lambda m: m.pop("model_version")), "field 'model_version'"),
    "dim is a string": (edit_manifest(lambda m: m.update(dim="8")), "field 'dim'"),
    "no indexes": (edit_manifest(lambda m: m.pop("indexes")), "field 'indexes'"),
    "index without kind": (edit_manifest(lambda m: m["indexes"]["pin"].pop("kind")), "needs a kind"),
    "unknown kind": (edit_manifest(lambda m: m["indexes"]["pin"].update(kind="ivf")), "needs a kind"),
    "kind lies": (edit_manifest(lambda m: m["indexes"]["pin"].update(kind="exact")), "not a exact index"),
    "kind lies: ivfpq": (
        edit_manifest(lambda m: m["indexes"]["pin"].update(kind="ivfpq")),
        "not a ivfpq index",
    ),
    "kind lies: hnsw": (
        edit_manifest(lambda m: m["indexes"]["product"].update(kind="hnsw")),
        "not a hnsw index",
    ),
    "name reads outside": (escape, "bad index name '../outside'"),
    "absolute name": (edit_manifest(lambda m: m["indexes"].update({"/etc": {"kind": "exact"}})), "bad index"),
    "truncated FAISS file": (truncate("pin/hnsw.faiss"), "cannot load the hnsw index"),
    "truncated vectors": (truncate("query/vectors.npy"), "cannot load the exact index"),
    "truncated IVF-PQ file": (truncate("product/ivfpq.faiss"), "cannot load the ivfpq index"),
    "truncated float16 vectors": (truncate("product/vectors.f16.npy"), "cannot load the ivfpq index"),
    "truncated ids": (truncate("query/ids.parquet"), "cannot load the exact index"),
    "missing index folder": (lambda d: shutil.rmtree(d / "query"), "unreadable index.json"),
    "wrong dim": (edit_manifest(lambda m: m.update(dim=16)), "the manifest says 50 16-d"),
    "wrong count": (edit_manifest(lambda m: m["indexes"]["pin"].update(count=3)), "manifest says 3 8-d"),
}


@pytest.mark.parametrize("case", list(CORRUPTIONS))
def test_malformed_index_set_is_one_clear_error(tmp_path: Path, case: str) -> None:
    directory = saved_set(tmp_path / "set")
    corrupt, message = CORRUPTIONS[case]
    corrupt(directory)
    with pytest.raises(OmniSageError, match=None) as error:
        IndexSet.load(directory)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_a_good_set_still_loads(tmp_path: Path) -> None:
    loaded = IndexSet.load(saved_set(tmp_path / "set"))
    assert {n: (i.kind, len(i)) for n, i in loaded.indexes.items()} == {
        "pin": ("hnsw", 50),
        "product": ("ivfpq", MIN_ITEMS),
        "query": ("exact", 20),
    }
