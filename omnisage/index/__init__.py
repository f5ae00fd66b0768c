"""Retrieval indexes: exact (reference) and HNSW, one per entity type."""

from omnisage.index.catalog import IndexSet, build_indexes, measure_recall
from omnisage.index.exact import ExactIndex
from omnisage.index.hnsw import HnswIndex

__all__ = ["ExactIndex", "HnswIndex", "IndexSet", "build_indexes", "measure_recall"]
