"""Experiments (paper §4.3 and the real-data benchmarks): the variants as data, one harness that trains, pins,
locks and caches them, the paper's ablation tables (`omnisage ablate`) and product search (`omnisage bench`)."""
