"""Real-data benchmarks: product search on relevance judgments (Home Depot, ESCI) through the whole pipeline."""
