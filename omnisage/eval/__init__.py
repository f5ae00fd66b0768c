"""Evaluation (paper §4.2–4.3): Recall@k protocol, baselines, ablations, downstream tasks, reports."""
