"""Serving (paper §3.6): cached query embeddings, micro-batching, the HTTP search API."""
