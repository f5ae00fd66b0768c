"""The model variants the experiments train, as data: the paper's ablations (§4.3, `omnisage ablate`) and the
product-search benchmark's (`omnisage bench`), plus the benchmark's baselines and hybrid.

A variant is the chosen config plus a few dotted overrides: feature switches are the model's text fields
(`model.text_fields`), tasks are the training mix and towers (`train.mix`, `train.towers`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from omnisage.errors import OmniSageError
from omnisage.train.pairs import DATASETS


@dataclass(frozen=True)
class Variant:
    name: str
    overrides: tuple[str, ...]  # dotted `section.field=value` on top of the chosen config
    towers: tuple[str, ...]  # which of its towers to rank: "learned" (name) and/or "compat" (name-compat)
    about: str
    # Train with only its tasks' share of the full model's batch (`train.mix` of the chosen config), so a
    # single-task variant sees the same pairs of its task per step as the multi-task model.
    task_batch: bool = False


def by_name(variants: Iterable[Variant]) -> dict[str, Variant]:
    return {v.name: v for v in variants}


def require_known(names: Iterable[str], known: Iterable[str], label: str) -> None:
    """One line naming what is unknown, e.g. `unknown variant ['fulll'] (known: full, ...)`."""
    known = list(known)
    unknown = sorted(set(names) - set(known))
    if unknown:
        raise OmniSageError(f"{label} {unknown} (known: {', '.join(known)})")


# ---- the paper's ablations (synthetic world) ----

_NATIVE = "title,description,brand,color"  # an item's own text (products also carry brand and colour)
# Single-task variants (Table 5): each trains one task's datasets, as the paper does with the full model's
# batch size ("same batch": the same compute, so a task sees its pairs 2-8x as often), and again with only its
# share of that batch ("share": the same pairs of the task per step, so only sharing the model differs).
SINGLE_TASKS = {
    "pin": ("query→pin", ("pin",)),
    "product": ("query→product (onsite and offsite)", ("product_onsite", "product_offsite")),
    "query": ("query→query", ("query",)),
}


def _single_task_variants() -> list[Variant]:
    out = []
    for task, (what, datasets) in SINGLE_TASKS.items():
        off = tuple(f"train.mix.{d}=0" for d in DATASETS if d not in datasets)
        for suffix, about, share in (("", "same batch", False), ("_share", "its share of the batch", True)):
            name = f"{task}_only{suffix}"
            out.append(Variant(name, off, ("learned",), f"single task: {what}, {about}", task_batch=share))
    return out


SINGLE_TASK_VARIANTS: list[Variant] = _single_task_variants()
ABLATION_VARIANTS: list[Variant] = [
    Variant("full", (), ("learned", "compat"), "every feature, every task and tower (OmniSearchSage)"),
    Variant(
        "searchsage",
        ("train.towers=legacy", "train.mix.query=0"),
        ("compat",),
        "query encoder trained only against the fixed legacy embeddings, no query→query pairs",
    ),
    Variant("no_compat", ("train.towers=entity,query",), ("learned",), "learned towers only"),
    Variant("continuous", ("model.text_fields=",), ("learned",), "continuous features only"),
    Variant("no_captions", (f"model.text_fields={_NATIVE}",), ("learned",), "native text, no captions"),
    Variant(
        "text", (f"model.text_fields={_NATIVE},caption",), ("learned",), "+ title, description, captions"
    ),
    Variant("boards", (f"model.text_fields={_NATIVE},caption,board_titles",), ("learned",), "+ board titles"),
    *SINGLE_TASK_VARIANTS,
]
# Paper table -> the variants it compares (baselines join Table 2).
TABLE_VARIANTS: dict[str, tuple[str, ...]] = {
    "2": ("searchsage", "full"),
    "3": ("no_captions", "text"),
    "4": ("continuous", "text", "boards", "full"),
    "5": (*(v.name for v in SINGLE_TASK_VARIANTS), "full"),
    "6": ("searchsage", "no_compat", "full"),
}

# ---- the product-search benchmark (Home Depot, ESCI) ----

_OWN_TEXT = "title,description,brand,color"
BENCH_VARIANTS: list[Variant] = [
    Variant(
        "omnisage",
        (),
        ("learned", "compat"),
        "the full model: product text through the query encoder (shared weights) + hashed item text, "
        "engaged queries and legacy vector; query→product, query→query and compatibility tasks",
    ),
    Variant(
        "searchsage",
        ("train.towers=legacy", "train.mix.query=0"),
        ("compat",),
        "SearchSage: the query encoder trained only against the frozen legacy product vectors",
    ),
    Variant(
        "no_engaged_queries",
        (f"model.text_fields={_OWN_TEXT}",),
        ("learned",),
        "the full model without engaged queries (no document expansion)",
    ),
    Variant(
        "single_task",
        ("train.mix.query=0", "train.towers=entity"),
        ("learned",),
        "single task: query→product only (no query→query task, no compatibility tower)",
    ),
]
BENCH_BASELINES = {
    "bm25": "BM25 over the product's own text",
    "bm25_enriched": "BM25 over the product's own text + its engaged queries (training logs)",
    "zero_shot": "the frozen legacy encoder (all-MiniLM-L6-v2) on queries and product text, untrained",
    "sentence_transformers": "the peer: the legacy encoder fine-tuned by sentence-transformers on the same "
    "product pairs (MultipleNegativesRankingLoss, batch 64, lr 2e-5, one epoch; needs omnisage[bench])",
}
PEER = "sentence_transformers"  # the baseline each system is compared with in points of Recall@k
HYBRID = "omnisage+bm25"
HYBRID_ABOUT = "the full model's scores fused with BM25 over the product's own text (per-query z-scores)"


def pick(variants: Sequence[Variant], names: Iterable[str], label: str) -> list[Variant]:
    """The named variants, in the order named, each once; an unknown name is a one-line error."""
    names = list(dict.fromkeys(names))
    known = by_name(variants)
    require_known(names, known, label)
    return [known[n] for n in names]
