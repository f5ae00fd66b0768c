"""Content enrichment (paper §3.2): board titles, engaged queries, captions, the enriched entity table."""
