"""Retrieval indexes: exact (reference), HNSW and IVF-PQ (compressed), one per entity type."""

from omnisage.index.catalog import IndexSet, build_indexes, measure_recall
from omnisage.index.exact import ExactIndex
from omnisage.index.hnsw import HnswIndex
from omnisage.index.ivfpq import IvfPqIndex

__all__ = ["ExactIndex", "HnswIndex", "IndexSet", "IvfPqIndex", "build_indexes", "measure_recall"]
