"""Evaluation (paper §4.2): the Recall@k protocol, metrics, systems, baselines, downstream tasks, reports."""
