"""Encoders (paper §3.4): hash embedding bag, query encoder, unified pin/product encoder, saved-model bundle."""
