"""omnisage: one query embedding, learned jointly with pin and product embeddings (an open OmniSearchSage)."""

from __future__ import annotations

__version__ = "0.1.0"
