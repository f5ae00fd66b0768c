"""omnisage: one query embedding, learned jointly with pin and product embeddings (an open OmniSearchSage).

The Python API is three calls: `load_model` reads a bundle that `omnisage train` wrote, its
`encode_queries` / `encode_entities` turn text and enriched rows into unit vectors, and `load_indexes`
opens what `omnisage index` wrote, one index per entity type, searched with those vectors:

>>> import omnisage
>>> model = omnisage.load_model("run/model")
>>> queries = model.encode_queries(["blue sofa", "chocolate cake"])  # (2, D) float32, unit rows
>>> queries.shape == (2, model.config.dim)
True
>>> indexes = omnisage.load_indexes("indexes")
>>> sorted(indexes.indexes)
['pin', 'product', 'query']
>>> for hits in indexes.search("query", queries, k=1):  # related queries: [(query_text, score)] each
...     print(hits[0][0], round(hits[0][1], 3))
blue sofa 1.0
chocolate cake 1.0
>>> import pyarrow.parquet as pq
>>> pins = pq.read_table("enriched/enriched_entities.parquet").slice(0, 2)  # `omnisage enrich` rows
>>> pin_vectors = model.encode_entities(pins)  # enriched rows (Arrow or dicts) -> (2, D)
>>> [hits[0][0] for hits in indexes.search("pin", pin_vectors, k=1)]  # each pin finds itself first
['pin1', 'pin2']
"""

from __future__ import annotations

from os import PathLike
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["IndexSet", "OmniSageError", "OmniSageModel", "load_indexes", "load_model"]

if TYPE_CHECKING:
    from omnisage.errors import OmniSageError
    from omnisage.index.catalog import IndexSet
    from omnisage.model.bundle import load_model
    from omnisage.model.omnisage_model import OmniSageModel

# Imported on first use: `import omnisage` (and so the CLI's `omnisage --help`) stays free of torch and faiss.
_LAZY = {
    "load_model": "omnisage.model.bundle",
    "OmniSageModel": "omnisage.model.omnisage_model",
    "IndexSet": "omnisage.index.catalog",
    "OmniSageError": "omnisage.errors",
}


def load_indexes(directory: str | PathLike[str], ef_search: int | None = None) -> IndexSet:
    """The index set `omnisage index` wrote to `directory` (pin, product, query, legacy_*); `ef_search`
    overrides the HNSW beam width saved with it."""
    from omnisage.index.catalog import IndexSet

    return IndexSet.load(directory, ef_search)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'omnisage' has no attribute {name!r}")
