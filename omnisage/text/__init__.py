"""Text: the shared normalization, n-gram tokenizers, vocabularies and stable hashing."""
