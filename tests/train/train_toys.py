"""A hand-made world for training tests: topics of words, items titled with them, queries engaging them.

Also a toy query encoder (hashed word bag → linear → unit vector) so the loop is tested in milliseconds,
and a helper wiring catalog, features, plan, builder and objective the way `omnisage train` does.
"""

from __future__ import annotations

import zlib
from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import torch
import torch.nn.functional as F
from torch import nn

from omnisage.config import ModelConfig, TrainConfig
from omnisage.losses.multitask import MultiTaskLoss
from omnisage.model.entity_encoder import EntityEncoder
from omnisage.model.features import EntityFeaturizer
from omnisage.schema import ENRICHED_ENTITIES, TIMESTAMP
from omnisage.text.tokenizers import TextTokenizer
from omnisage.text.vocab import Vocabulary
from omnisage.train.batches import BatchBuilder, BatchPlan, DatasetPairs, allocate
from omnisage.train.catalog import Catalog
from omnisage.train.objective import TrainingObjective, tasks_for
from omnisage.train.pairs import DATASETS, training_pairs

TOPICS = [
    ["sofa", "couch", "cushion"],
    ["lamp", "light", "bulb"],
    ["boot", "shoe", "heel"],
    ["cake", "sugar", "flour"],
    ["tent", "camp", "hike"],
    ["paint", "brush", "canvas"],
    ["dress", "skirt", "silk"],
    ["guitar", "chord", "string"],
]
LEGACY_DIM = 8


def toy_world(
    pins_per_topic: int = 6, products_per_topic: int = 3, seed: int = 0
) -> tuple[pa.Table, pa.Table]:
    """(enriched entities, engagements): queries of topic t engage items of topic t."""
    rng = np.random.default_rng(seed)
    rows, logs = [], []
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    for t, words in enumerate(TOPICS):
        centre = rng.normal(size=LEGACY_DIM)
        for kind, n in (("pin", pins_per_topic), ("product", products_per_topic)):
            for i in range(n):
                entity_id = f"{kind}-{t}-{i}"
                rows.append(
                    {
                        "entity_type": kind,
                        "entity_id": entity_id,
                        "lang": "en",
                        "title": f"{words[i % 3]} {words[(i + 1) % 3]} item {i}",
                        "engaged_queries": [words[0], f"{words[1]} ideas"],
                        "legacy_vector": (centre + 0.3 * rng.normal(size=LEGACY_DIM))
                        .astype(np.float32)
                        .tolist()
                        if i % 4 != 3  # a quarter of the items has no legacy embedding
                        else None,
                        "image_vector": rng.normal(size=4).astype(np.float32).tolist(),
                    }
                )
                for q in (words[0], words[1], f"{words[1]} ideas", words[2]):
                    actions = ("save", "long_click") if kind == "pin" else ("save", "checkout")
                    logs.append((q, kind, entity_id, actions[i % 2], t0 + timedelta(hours=len(logs))))
        logs.append((words[0], "query", words[2], "click", t0 + timedelta(hours=len(logs))))
        logs.append((words[1], "query", f"{words[1]} ideas", "click", t0 + timedelta(hours=len(logs))))
    entities = pa.Table.from_pylist(rows, schema=ENRICHED_ENTITIES)
    q, kind, e, a, ts = zip(*logs)
    engagements = pa.table(
        {"query_text": q, "entity_type": kind, "entity_id": e, "action": a, "ts": pa.array(ts, TIMESTAMP)}
    )
    return entities, engagements


class ToyQueryEncoder(nn.Module):
    """Words hashed (crc32) into a bag of embeddings, a linear map, L2: a stand-in for a transformer."""

    def __init__(self, dim: int, buckets: int = 512, dropout: float = 0.0):
        super().__init__()
        self.buckets = buckets
        self.bag = nn.EmbeddingBag(buckets, 32, mode="mean")
        self.dropout = nn.Dropout(dropout)
        self.proj = nn.Linear(32, dim)

    def tokenize(self, texts: list[str]) -> dict[str, torch.Tensor]:
        ids = [[zlib.crc32(w.encode()) % self.buckets for w in t.split()] or [0] for t in texts]
        offsets = np.cumsum([0] + [len(x) for x in ids[:-1]])
        return {"ids": torch.tensor([i for x in ids for i in x]), "offsets": torch.from_numpy(offsets)}

    def forward(self, tokens: dict[str, torch.Tensor]) -> torch.Tensor:
        bag = self.dropout(self.bag(tokens["ids"], tokens["offsets"]))  # (B, 32)
        return F.normalize(self.proj(bag), dim=-1)  # (B, D)


class ToyModel(nn.Module):
    """The toy query encoder and an entity encoder behind the model's training interface."""

    def __init__(self, query_encoder: nn.Module, entity_encoder: nn.Module):
        super().__init__()
        self.query_encoder, self.entity_encoder = query_encoder, entity_encoder

    def encode_query_tokens(self, tokens: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.query_encoder(tokens)  # (B, D)

    def encode_entity_batch(self, batch) -> torch.Tensor:
        return self.entity_encoder(batch)  # (B, D)

    def trainable_parts(self) -> dict[str, nn.Module]:
        return {"query_encoder": self.query_encoder, "entity_encoder": self.entity_encoder}


def model_config() -> ModelConfig:
    return ModelConfig(
        dim=16,
        legacy_dim=LEGACY_DIM,
        image_dim=4,
        hash_buckets=256,
        hash_dim=16,
        mlp_hidden=32,
        vocab_min_count=1,
        query_lexical=False,  # the paper's encoders: the toys test training, not the extensions
        field_sizes=False,
    )


def one_to_one_world(n: int = 32) -> tuple[pa.Table, pa.Table]:
    """n pins, n queries, query i engaged pin i only: a training set that can be learned perfectly."""
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    rows = [{"entity_type": "pin", "entity_id": f"pin-{i}", "title": f"item{i} thing"} for i in range(n)]
    entities = pa.Table.from_pylist(rows, schema=ENRICHED_ENTITIES)
    engagements = pa.table(
        {
            "query_text": [f"query{i}" for i in range(n)],
            "entity_type": ["pin"] * n,
            "entity_id": [f"pin-{i}" for i in range(n)],
            "action": ["save"] * n,
            "ts": pa.array([t0] * n, TIMESTAMP),
        }
    )
    return entities, engagements


def setup(
    train: TrainConfig,
    *,
    world_size: int = 1,
    seed: int = 0,
    world: tuple[pa.Table, pa.Table] | None = None,
    dropout: float = 0.0,
) -> tuple[TrainingObjective, BatchBuilder]:
    """Everything `fit` needs for a toy world, deterministic in `seed`."""
    entities, engagements = world if world is not None else toy_world()
    caps = {"pin": train.pin_cap, "product": train.product_cap, "query": train.query_cap}
    names = tuple(n for n in DATASETS if train.mix.get(n, 0) > 0)
    pairs = training_pairs(
        engagements, start=None, end=datetime(2030, 1, 1, tzinfo=UTC), caps=caps, seed=1, datasets=names
    )
    queries = [q for t in pairs.values() for q in t.column("query_text").to_pylist()]
    queries += pairs["query"].column("entity_id").to_pylist() if "query" in pairs else []
    config = model_config()
    catalog = Catalog.build(entities, queries, config.legacy_dim)
    ints = {
        name: DatasetPairs(
            name,
            DATASETS[name][0],
            catalog.lookup("query", t.column("query_text"), "query"),
            catalog.lookup(DATASETS[name][0], t.column("entity_id"), "entity"),
            repeats=pc.greater(t.column("engagements"), 1).to_numpy(zero_copy_only=False),
        )
        for name, t in pairs.items()
    }
    texts = [v for col in ("title", "engaged_queries") for v in entities.column(col).to_pylist() if v]
    vocab = Vocabulary.build([" ".join(v) if isinstance(v, list) else v for v in texts], min_count=1)
    featurizer = EntityFeaturizer(TextTokenizer(vocab), config)
    torch.manual_seed(seed)
    query_encoder = ToyQueryEncoder(config.dim, dropout=dropout)
    entity_encoder = EntityEncoder(len(vocab), config)
    per_worker = allocate(train.batch_size, {n: train.mix[n] for n in ints})
    tasks = tasks_for(per_worker, train.towers)
    loss = MultiTaskLoss(tasks, sketch_width=train.sketch_width, temperature=train.temperature)
    objective = TrainingObjective(ToyModel(query_encoder, entity_encoder), loss)
    sizes = {k: catalog.size(k) for k in ("pin", "product", "query")}
    plan = BatchPlan(
        ints,
        per_worker,
        sizes,
        negatives_per_pair=train.negatives_per_pair,
        world_size=world_size,
        seed=train.seed,
    )
    builder = BatchBuilder(
        plan,
        catalog,
        featurizer.features(catalog.entities),
        towers=train.towers,
        tokenize_queries=query_encoder.tokenize,
        leave_one_out=train.leave_one_out,
    )
    return objective, builder
