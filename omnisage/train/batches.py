"""Task-mixed batches: which pairs and random negatives form step s on worker r, and their features.

The plan is a pure function of (seed, step, rank): each dataset streams through seeded permutations of its
pairs, epoch after epoch, and the global batch of a step is cut into equal, contiguous worker shares. So
resuming needs only the step number, and two workers see exactly the pairs one process would.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from omnisage.model.features import EntityBatch, EntityFeatures, RowFeatures
from omnisage.train.catalog import Catalog


def allocate(batch_size: int, mix: dict[str, float]) -> dict[str, int]:
    """Split `batch_size` pairs by the mix weights (largest remainders; every dataset gets at least one)."""
    active = {name: w for name, w in mix.items() if w > 0}
    if batch_size < len(active):
        raise ValueError(f"batch_size {batch_size} is smaller than the number of datasets ({len(active)})")
    total = sum(active.values())
    exact = {name: batch_size * w / total for name, w in active.items()}
    counts = {name: max(1, int(v)) for name, v in exact.items()}
    by_remainder = sorted(active, key=lambda n: (exact[n] - int(exact[n]), active[n]), reverse=True)
    i = 0
    while sum(counts.values()) < batch_size:
        counts[by_remainder[i % len(by_remainder)]] += 1
        i += 1
    while sum(counts.values()) > batch_size:  # only when the minimum of one pushed us over
        largest = max(counts, key=lambda n: counts[n])
        counts[largest] -= 1
    return counts


@dataclass
class DatasetPairs:
    """One dataset's training pairs as integer ids."""

    name: str
    entity_type: str  # of the positives: pin, product or query
    query_ids: np.ndarray  # (P,) int64 into Catalog.queries
    entity_ids: np.ndarray  # (P,) int64 into Catalog.ids[entity_type]
    # (P,) bool: engaged more than once in the window, so its query was among the positive's engaged queries
    # before its latest engagement (None: no pair repeats)
    repeats: np.ndarray | None = None


class BatchPlan:
    """Pair indices and random negative ids of (step, rank), deterministic and stateless."""

    def __init__(
        self,
        pairs: dict[str, DatasetPairs],
        per_worker: dict[str, int],
        catalog_sizes: dict[str, int],
        *,
        negatives_per_pair: int,
        world_size: int = 1,
        seed: int = 0,
    ):
        self.pairs, self.per_worker = pairs, per_worker
        self.catalog_sizes, self.negatives_per_pair = catalog_sizes, negatives_per_pair
        self.world_size, self.seed = world_size, seed
        self._names = sorted(pairs)
        self._epochs: dict[tuple[str, int], np.ndarray] = {}

    def _permutation(self, name: str, epoch: int) -> np.ndarray:
        key = (name, epoch)
        if key not in self._epochs:
            if len(self._epochs) > 2 * len(self._names):  # keep the current and next epoch per dataset
                self._epochs.clear()
            rng = np.random.default_rng([self.seed, self._names.index(name), epoch])
            self._epochs[key] = rng.permutation(len(self.pairs[name].query_ids))
        return self._epochs[key]

    def pair_rows(self, name: str, step: int, rank: int) -> np.ndarray:
        """(B,) rows of the dataset's pairs for this worker at `step`."""
        b, n = self.per_worker[name], len(self.pairs[name].query_ids)
        start = (step * self.world_size + rank) * b
        positions = np.arange(start, start + b)  # (B,) in the endless stream of epochs
        epochs, offsets = np.divmod(positions, n)
        out = np.empty(b, dtype=np.int64)
        for epoch in np.unique(epochs):
            sel = epochs == epoch
            out[sel] = self._permutation(name, int(epoch))[offsets[sel]]
        return out

    def negatives(self, name: str, step: int, rank: int) -> np.ndarray:
        """(R,) uniformly random catalog ids of the dataset's entity type: this worker's share of the step's."""
        r = self.per_worker[name] * self.negatives_per_pair
        rng = np.random.default_rng([self.seed, 1000 + self._names.index(name), step])
        size = self.catalog_sizes[self.pairs[name].entity_type]
        all_ids = rng.integers(0, size, size=r * self.world_size)  # (W·R,) the global draw
        return all_ids[rank * r : (rank + 1) * r]

    def epoch(self, step: int) -> float:
        """Passes over the largest dataset so far (for progress reports)."""
        return max(
            (step + 1) * self.world_size * self.per_worker[n] / len(self.pairs[n].query_ids)
            for n in self._names
        )


@dataclass
class DatasetBatch:
    """One dataset's share of a step on one worker: ids, and where its rows sit in the step's encoder inputs.

    The query encoder runs once per step over `TrainBatch.queries` and the entity encoder once over
    `TrainBatch.entities`; the slices say which outputs belong to this dataset.
    """

    name: str
    entity_type: str  # of the positives: pin, product or query
    query_ids: torch.Tensor  # (B,) int64
    positive_ids: torch.Tensor  # (B,) int64
    negative_ids: torch.Tensor  # (R,) int64
    query_rows: slice  # into the query encoder's outputs
    positive_rows: slice | None = (
        None  # into the entity encoder's outputs, or the query encoder's for query→query
    )
    negative_rows: slice | None = None
    positive_legacy: torch.Tensor | None = None  # (B, L) compatibility tower: the fixed legacy vectors
    negative_legacy: torch.Tensor | None = None  # (R, L)
    positive_has_legacy: torch.Tensor | None = None  # (B,) bool
    negative_has_legacy: torch.Tensor | None = None  # (R,) bool

    def to(self, device: torch.device) -> DatasetBatch:
        moved = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in vars(self).items()}
        return DatasetBatch(**moved)


@dataclass
class TrainBatch:
    step: int
    datasets: dict[str, DatasetBatch]
    queries: list[str]  # every text the query encoder embeds this step (queries, related queries)
    query_tokens: dict[str, torch.Tensor] | None  # `queries` tokenized for the query encoder
    entities: EntityBatch | None  # every pin/product the entity encoder embeds this step

    @property
    def num_pairs(self) -> int:
        return sum(len(d.query_ids) for d in self.datasets.values())

    def to(self, device: torch.device) -> TrainBatch:
        return TrainBatch(
            self.step,
            {k: v.to(device) for k, v in self.datasets.items()},
            self.queries,
            {k: v.to(device) for k, v in self.query_tokens.items()}
            if self.query_tokens is not None
            else None,
            self.entities.to(device) if self.entities is not None else None,
        )


class _EncoderInputs:
    """What the encoders embed in one step, filled dataset by dataset: each add returns the rows it took."""

    def __init__(self) -> None:
        self.texts: list[str] = []  # for the query encoder: queries and related queries
        self.entity_rows: list[np.ndarray] = []  # for the entity encoder: rows of the catalog's entity table
        self.excluded: list[str | None] = []  # per entity row, the query it leaves out of its engaged queries
        self.n_entities = 0

    def add_texts(self, texts: list[str]) -> slice:
        self.texts.extend(texts)
        return slice(len(self.texts) - len(texts), len(self.texts))

    def add_entities(self, rows: np.ndarray, exclude: list[str | None] | None) -> slice:
        self.entity_rows.append(rows)
        self.excluded.extend(exclude if exclude is not None else [None] * rows.size)
        self.n_entities += rows.size
        return slice(self.n_entities - rows.size, self.n_entities)


class BatchBuilder:
    """Turns the plan of (step, rank) into encoder inputs: catalog features, legacy vectors, tokenized texts.

    Entity features come from `RowFeatures` (each step's rows featurized when asked for, so memory does not grow
    with the catalog) or a whole catalog's `EntityFeatures` (a gather; the same batches).

    With `leave_one_out`, the positive of a pair leaves the pair's own query out of its engaged queries, as
    it was before the pair's first engagement: the feature must not hand the model its label. A pair engaged
    more than once keeps it, as it was before the pair's latest engagement. That is what evaluation sees:
    features are computed at the training cutoff, and a pair engaged again after it (most held-out pairs)
    finds its query among the item's engaged queries.
    """

    def __init__(
        self,
        plan: BatchPlan,
        catalog: Catalog,
        features: EntityFeatures | RowFeatures | None,
        *,
        towers: tuple[str, ...],
        tokenize_queries: Callable[[list[str]], dict[str, torch.Tensor]] | None = None,
        leave_one_out: bool = True,
    ):
        self.plan, self.catalog, self.features = plan, catalog, features
        self.towers, self.tokenize_queries = towers, tokenize_queries
        self.leave_one_out = leave_one_out

    def __call__(self, step: int, rank: int = 0) -> TrainBatch:
        """The batch of `step` on worker `rank`: each dataset's share, then the encoder inputs they point into."""
        inputs = _EncoderInputs()
        datasets: dict[str, DatasetBatch] = {}
        for name, pairs in self.plan.pairs.items():  # in order: the rows of the encoder inputs follow it
            datasets[name] = self._dataset_batch(name, pairs, step, rank, inputs)
        tokens = self.tokenize_queries(inputs.texts) if self.tokenize_queries is not None else None
        return TrainBatch(step, datasets, inputs.texts, tokens, self._entity_batch(inputs))

    def _dataset_batch(
        self, name: str, pairs: DatasetPairs, step: int, rank: int, inputs: _EncoderInputs
    ) -> DatasetBatch:
        """One dataset's pairs and negatives of (step, rank), their texts and entities added to `inputs`."""
        rows = self.plan.pair_rows(name, step, rank)  # (B,)
        query_ids = pairs.query_ids[rows]  # (B,)
        positive_ids = pairs.entity_ids[rows]  # (B,)
        negative_ids = self.plan.negatives(name, step, rank)  # (R,)
        kind = pairs.entity_type
        batch = DatasetBatch(
            name,
            kind,
            torch.from_numpy(query_ids),
            torch.from_numpy(positive_ids),
            torch.from_numpy(negative_ids),
            query_rows=inputs.add_texts(self.catalog.queries[query_ids].tolist()),
        )
        if kind == "query":  # query→query: the candidates are texts for the query encoder
            batch.positive_rows = inputs.add_texts(self.catalog.queries[positive_ids].tolist())
            batch.negative_rows = inputs.add_texts(self.catalog.queries[negative_ids].tolist())
            return batch
        if "entity" in self.towers:
            entity_rows = self.catalog.rows[kind]
            own = self._left_out(pairs, rows, query_ids)
            batch.positive_rows = inputs.add_entities(entity_rows[positive_ids], own)
            batch.negative_rows = inputs.add_entities(entity_rows[negative_ids], None)
        if "legacy" in self.towers:
            self._add_legacy(batch, kind, positive_ids, negative_ids)
        return batch

    def _add_legacy(
        self, batch: DatasetBatch, kind: str, positive_ids: np.ndarray, negative_ids: np.ndarray
    ) -> None:
        """The compatibility tower's candidates: the fixed legacy vectors, and which entities have one."""
        legacy, has = self.catalog.legacy[kind], self.catalog.has_legacy[kind]
        batch.positive_legacy = torch.from_numpy(legacy[positive_ids])  # (B, L)
        batch.negative_legacy = torch.from_numpy(legacy[negative_ids])  # (R, L)
        batch.positive_has_legacy = torch.from_numpy(has[positive_ids])  # (B,)
        batch.negative_has_legacy = torch.from_numpy(has[negative_ids])  # (R,)

    def _entity_batch(self, inputs: _EncoderInputs) -> EntityBatch | None:
        """The entity encoder's input: the features of every entity row of the step (None: no entity tower)."""
        if not inputs.entity_rows:
            return None
        if self.features is None:
            raise ValueError("the entity tower needs catalog features")
        return self.features.batch(np.concatenate(inputs.entity_rows), inputs.excluded)

    def _left_out(
        self, pairs: DatasetPairs, rows: np.ndarray, query_ids: np.ndarray
    ) -> list[str | None] | None:
        """Per pair of the batch, the query its positive leaves out of its engaged queries (None: keeps all)."""
        if not self.leave_one_out:
            return None
        own = self.catalog.queries[query_ids].astype(object)  # (B,)
        if pairs.repeats is not None:  # a repeated pair's query was there before its latest engagement
            own[pairs.repeats[rows]] = None
        return own.tolist()
