"""Batch inference: entity embeddings to Parquet shards, and the exported query encoder."""

from omnisage.infer.embed import embed_all, load_embeddings
from omnisage.infer.export import OnnxQueryEncoder, export_query_encoder

__all__ = ["OnnxQueryEncoder", "embed_all", "export_query_encoder", "load_embeddings"]
