"""Training (paper §4.1): pairs, task-mixed batches, the loop, checkpoints, distributed data parallel."""
