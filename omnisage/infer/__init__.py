"""Batch inference: entity embeddings to Parquet shards, and the exported query encoder."""
