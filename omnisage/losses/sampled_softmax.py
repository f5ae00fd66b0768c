"""Sampled softmax with logQ correction and accidental-hit masking (paper §3.5): pure functions.

Inputs are embeddings, integer ids and log sampling probabilities; no module state, no sampling. The
learned temperature arrives as `logit_scale` and the probabilities from `omnisage.losses.frequency`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def accidental_hits(
    positive_ids: Tensor,
    candidate_ids: Tensor,
    query_ids: Tensor | None = None,
    candidate_query_ids: Tensor | None = None,
) -> Tensor:
    """(B, N) bool: candidate j must not count as a negative for row i.

    True where the candidate is row i's own positive (same id), and, for in-batch candidates (whose query
    is known), where the candidate belongs to a pair of the same query: if (q, a) and (q, b) are both in
    the batch, b is a positive of q, not a negative, in a's row too.
    """
    hits = positive_ids[:, None] == candidate_ids[None, :]  # (B, N)
    if query_ids is not None and candidate_query_ids is not None:
        hits |= query_ids[:, None] == candidate_query_ids[None, :]  # (B, N)
    return hits


def corrected_logits(
    query: Tensor,
    positive: Tensor,
    candidates: Tensor,
    *,
    logit_scale: Tensor | float,
    log_q_positive: Tensor | None = None,
    log_q_candidates: Tensor | None = None,
    mask: Tensor | None = None,
) -> Tensor:
    """The (B, 1+N) logits of one sampled softmax: the positive in column 0, then the N candidates.

    Steps, in the released code's order: cosine similarity × `logit_scale`; minus log q (the positive by
    log P(p|q), each candidate by its log sampling probability); masked cells set to -inf (probability 0).
    """
    query, positive, candidates = query.float(), positive.float(), candidates.float()
    positive_sim = (query * positive).sum(dim=1, keepdim=True)  # (B, 1)
    candidate_sim = query @ candidates.T  # (B, D) @ (D, N) -> (B, N)
    logits = torch.cat([positive_sim, candidate_sim], dim=1) * logit_scale  # (B, 1+N)
    correction = torch.zeros_like(logits)  # (B, 1+N)
    if log_q_positive is not None:
        correction[:, 0] = log_q_positive  # (B,)
    if log_q_candidates is not None:
        correction[:, 1:] = log_q_candidates[None, :]  # (1, N) broadcast over rows
    logits = logits - correction
    if mask is not None:
        full_mask = F.pad(mask, (1, 0), value=False)  # (B, 1+N): the positive is never masked
        logits = logits.masked_fill(full_mask, float("-inf"))
    return logits


def sampled_softmax_loss(
    query: Tensor,
    positive: Tensor,
    candidates: Tensor,
    *,
    logit_scale: Tensor | float,
    log_q_positive: Tensor | None = None,
    log_q_candidates: Tensor | None = None,
    mask: Tensor | None = None,
    row_weight: Tensor | None = None,
    normalizer: Tensor | float | None = None,
) -> Tensor:
    """Cross-entropy of the positive against the candidates, one row per (query, positive) pair.

    The logits of a batch of pairs (q, a), (q, b), (r, b), (s, f) against the in-batch candidates
    a b b f (the positives of all pairs), each cell `x·y` meaning `scale · cos(x, y) - log q`:

                   positive | in-batch candidates
                            |  a      b      b      f
        (q, a)      q·a     |  ----   ----   q·b    q·f      a: its own positive; b of (q, b): same query
        (q, b)      q·b     |  ----   ----   ----   q·f      b: its own positive (twice); a: same query
        (r, b)      r·b     |  r·a    ----   ----   r·f
        (s, f)      s·f     |  s·a    s·b    s·b    ----

    `----` is -inf, zero probability: a row's own positive and its accidental hits never act as
    negatives; the target is always column 0. Like the released code, the mask compares ids with the
    row's positive and queries with the row's query, so row (q, a) still sees the b of (r, b) as a
    negative. Against random catalog candidates only the id comparison applies.

    `row_weight` (B,) drops rows (weight 0: e.g. a compatibility pair whose entity has no legacy vector)
    and `normalizer` is the total weight the mean divides by (default: this batch's weight sum). Across
    workers, pass the global weight sum divided by the world size so that the mean of the workers'
    losses equals the loss of the global batch.
    """
    logits = corrected_logits(
        query,
        positive,
        candidates,
        logit_scale=logit_scale,
        log_q_positive=log_q_positive,
        log_q_candidates=log_q_candidates,
        mask=mask,
    )  # (B, 1+N)
    target = torch.zeros(logits.shape[0], dtype=torch.long, device=logits.device)  # (B,)
    per_row = F.cross_entropy(logits, target, reduction="none")  # (B,)
    if row_weight is None:
        row_weight = torch.ones_like(per_row)
    per_row = torch.where(row_weight > 0, per_row * row_weight, torch.zeros_like(per_row))  # (B,)
    if normalizer is None:
        normalizer = row_weight.sum()
    return per_row.sum() / torch.clamp(torch.as_tensor(normalizer, dtype=per_row.dtype), min=1e-12)
