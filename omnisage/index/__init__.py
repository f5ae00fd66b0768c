"""Retrieval indexes: exact (reference) and HNSW, one per entity type."""
