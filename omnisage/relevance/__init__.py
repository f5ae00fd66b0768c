"""The relevance model: a cross-encoder teacher on human labels over rich item text, silver labels it writes for
unlabelled pairs, and a real-time student distilled from it that re-ranks what the embeddings retrieve.

The label scale a source declares (omnisage.data.scale) → itemtext (the teacher's text of an item) →
cross_encoder (the teacher's network and folder) → teacher (training, scoring) → silver → student → metrics.
"""
