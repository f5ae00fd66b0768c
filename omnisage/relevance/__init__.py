"""The relevance model: a cross-encoder teacher on human labels over rich item text, silver labels it writes for
unlabelled pairs, and a real-time student distilled from it that re-ranks what the embeddings retrieve.

itemtext (the teacher's text of an item) → teacher → silver →
student → metrics.
"""
