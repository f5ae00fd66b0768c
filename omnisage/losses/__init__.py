"""Losses (paper §3.5): multi-task sampled softmax with logQ correction and streaming frequency sketches."""
