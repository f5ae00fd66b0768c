"""The public API in `omnisage/__init__.py`: its docstring example runs as written, with its printed output
compared, against a tiny bundle and index set built here by the pipeline's own functions."""

from __future__ import annotations

import dataclasses
import doctest
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import omnisage

from .infer.bundle_fixture import TITLES, enriched_rows, make_tiny_bundle

QUERIES = ["blue sofa", "chocolate cake", "wedding flowers", "red velvet sofa", "oak table"]


def lexical_bundle(folder: Path) -> Path:
    """The tiny bundle with the lexical channel on: its untrained transformer maps every query to nearly the
    same vector, the hashed n-gram term tells them apart, so a query's nearest query is itself by a margin."""
    from omnisage.model.bundle import load_model, save_model
    from omnisage.model.omnisage_model import OmniSageModel
    from omnisage.text.vocab import Vocabulary

    tiny = load_model(make_tiny_bundle(folder / "tiny"))
    config = dataclasses.replace(tiny.config, query_lexical=True)
    model = OmniSageModel.create(config, Vocabulary.build(TITLES + QUERIES, min_count=1), seed=0)
    save_model(folder / "run" / "model", model)
    return folder / "run" / "model"


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """tmp_path laid out as the docstring expects: run/model, enriched/, indexes/ (the example's paths)."""
    from omnisage.config import IndexConfig, InferConfig
    from omnisage.index.catalog import build_indexes
    from omnisage.infer.embed import embed_all
    from omnisage.model.bundle import load_model

    bundle = lexical_bundle(tmp_path)
    enriched = tmp_path / "enriched" / "enriched_entities.parquet"
    enriched.parent.mkdir()
    pq.write_table(enriched_rows(30).sort_by("entity_type"), enriched)  # pins first: pin1, pin2, ...
    pq.write_table(pa.table({"query_text": QUERIES}), tmp_path / "queries.parquet")
    embed_all(load_model(bundle), tmp_path / "emb", InferConfig(), enriched, tmp_path / "queries.parquet")
    build_indexes(tmp_path / "emb", tmp_path / "indexes", IndexConfig())
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_the_docstring_example_runs_and_prints_what_it_says(workdir: Path) -> None:
    (example,) = [t for t in doctest.DocTestFinder().find(omnisage) if t.name == "omnisage"]
    assert len(example.examples) >= 8
    report: list[str] = []
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    result = runner.run(example, out=report.append)
    assert result.failed == 0, "".join(report)


def test_importing_omnisage_stays_light() -> None:
    """`omnisage --help` imports the package: the API's heavy modules load on first use only."""
    code = "import sys, omnisage; print(sorted(m for m in ('torch', 'faiss') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    assert set(omnisage.__all__) <= set(dir(omnisage)) | set(omnisage._LAZY)
