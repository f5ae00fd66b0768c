"""The serving core, independent of HTTP: cached query embeddings, search over the index set, the relevance
student's second stage, hot swap.

A `Snapshot` is one model version with its indexes, its relevance student (optional) and its micro-batcher.
Each request reads the current snapshot once, so a hot swap never mixes versions inside a request, and the
old snapshot's batcher finishes the requests it already holds before it stops: no request is dropped.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from omnisage.config import ServeConfig
from omnisage.errors import OmniSageError
from omnisage.index.catalog import IndexSet
from omnisage.serve.batcher import MicroBatcher
from omnisage.serve.cache import DAY_S, LocalCache, RedisCache
from omnisage.serve.metrics import ServiceMetrics
from omnisage.serve.rerank import RERANKED, Reranker

SEARCH_TYPES = ("pin", "product", "query")


class QueryEmbedder(Protocol):
    """Normalized query texts -> unit vectors. The model bundle and the exported ONNX encoder both fit.
    `version` is the bundle's (what indexes are built from); an embedder may also say which `variant` of it
    computes the vectors ("torch", "onnx-fp32", "onnx-int8"), whose vectors differ slightly."""

    version: str
    dim: int

    def encode_queries(self, queries: list[str]) -> np.ndarray: ...  # (B, D) float32


@dataclass
class Snapshot:
    embedder: QueryEmbedder
    indexes: IndexSet | None
    batcher: MicroBatcher
    reranker: Reranker | None = None

    @property
    def version(self) -> str:
        """What the query vectors are (cache keys, `model_version` in responses)."""
        return served_version(self.embedder)

    @property
    def served(self) -> str:
        """What the service answers with: the vectors' version, and the student's when one is loaded."""
        return f"{self.version}+student-{self.reranker.version}" if self.reranker else self.version


def served_version(embedder: QueryEmbedder) -> str:
    """What the served vectors are: the bundle version and, where the embedder names one, its variant
    (`<bundle>+onnx-int8`), so cache keys, responses and metrics never mix vectors of two encoders."""
    variant = getattr(embedder, "variant", None)
    return f"{embedder.version}+{variant}" if variant else embedder.version


def check_matches(version: str, dim: int, indexes: IndexSet | None) -> None:
    """OmniSageError unless `indexes` were built by the model `version` with `dim`-d embeddings."""
    if indexes is None:
        return
    if indexes.model_version != version:
        raise OmniSageError(
            f"indexes were built from model {indexes.model_version}, the query encoder is {version}"
        )
    if indexes.dim != dim:
        raise OmniSageError(f"indexes are {indexes.dim}-d, the query encoder is {dim}-d")


class QueryService:
    def __init__(
        self,
        embedder: QueryEmbedder,
        indexes: IndexSet | None,
        config: ServeConfig,
        metrics: ServiceMetrics | None = None,
        reranker: Reranker | None = None,
    ):
        self.config = config
        self.metrics = metrics or ServiceMetrics()
        ttl_s = config.cache_ttl_days * DAY_S
        self.local = LocalCache(config.cache_entries, ttl_s)
        self.redis = (
            RedisCache(
                config.redis_url,
                ttl_s,
                config.redis_timeout_ms,
                config.redis_retry_s,
                on_bad_values=self.metrics.redis_bad_values.inc,
            )
            if config.redis_url
            else None
        )
        self.snapshot = self._snapshot(embedder, indexes, reranker)
        self.metrics.set_model(self.snapshot.served)
        self.started = time.time()
        self._swap_lock = asyncio.Lock()

    def _snapshot(
        self, embedder: QueryEmbedder, indexes: IndexSet | None, reranker: Reranker | None
    ) -> Snapshot:
        check_matches(embedder.version, embedder.dim, indexes)
        if reranker is not None and indexes is None:
            raise OmniSageError("a relevance student re-ranks search results: it needs indexes (--indexes)")
        batcher = MicroBatcher(
            self._resolver(embedder),
            self.config.max_batch,
            self.config.max_wait_ms,
            self.metrics.batch_size.observe,
        )
        return Snapshot(embedder, indexes, batcher, reranker)

    def _resolver(self, embedder: QueryEmbedder) -> Callable[[list[str]], np.ndarray]:
        """Runs on the encoder thread: the Redis tier first, then one encoder call for what is left."""
        version = served_version(embedder)

        def resolve(texts: list[str]) -> np.ndarray:
            keys = [(version, t) for t in texts]
            found = self.redis.get_many(keys, embedder.dim) if self.redis else [None] * len(texts)
            out = np.empty((len(texts), embedder.dim), dtype=np.float32)  # (B, D)
            todo = [i for i, v in enumerate(found) if v is None]
            for i, v in enumerate(found):
                if v is not None:
                    out[i] = v
            self.metrics.observe_cache("redis_hit", len(texts) - len(todo))
            self.metrics.observe_cache("miss", len(todo))
            if todo:
                start = time.perf_counter()
                vectors = np.asarray(embedder.encode_queries([texts[i] for i in todo]), dtype=np.float32)
                self.metrics.encoder_latency.observe(time.perf_counter() - start)
                out[todo] = vectors  # (M, D)
                if self.redis:
                    self.redis.put_many([(keys[i], vectors[j]) for j, i in enumerate(todo)])
            return out

        return resolve

    async def embed(self, queries: list[str]) -> tuple[np.ndarray, str]:
        """Unit vectors (Q, D) for already-normalized queries, and the model version that made them."""
        snap = self.snapshot
        version = snap.version
        out = np.empty((len(queries), snap.embedder.dim), dtype=np.float32)  # (Q, D)
        missing: dict[str, list[int]] = {}
        for i, q in enumerate(queries):
            v = self.local.get((version, q))
            if v is None:
                missing.setdefault(q, []).append(i)
            else:
                out[i] = v
        self.metrics.observe_cache("local_hit", len(queries) - sum(map(len, missing.values())))
        if missing:
            texts = list(missing)
            vectors = await snap.batcher.submit(texts)  # (M, D)
            for text, vector in zip(texts, vectors):
                self.local.put((version, text), vector)
                out[missing[text]] = vector
        return out, version

    async def search(self, query: str, types: tuple[str, ...], k: int, rerank: bool = True) -> dict[str, Any]:
        """Top-k ids and scores of each requested type for one normalized query. With a student loaded (and
        `rerank`), pins and products are its top k of the first stage's top `candidates`, each hit with its
        `relevance`, and the body names the `student`."""
        snap = self.snapshot
        if snap.indexes is None:
            raise OmniSageError("this service has no indexes loaded (start it with --indexes)")
        vectors, version = await self._embed_with(snap, [query])  # (1, D)
        reranker = snap.reranker if rerank else None
        results: dict[str, list[dict[str, Any]]] = {}
        candidates: dict[str, list[tuple[str, float]]] = {}
        for kind in types:
            results[kind] = []  # keeps the requested order whatever fills it
            if reranker is not None and kind in RERANKED:
                candidates[kind] = snap.indexes.search(kind, vectors, max(k, reranker.candidates))[0]
                continue
            if kind == "query":  # a query is its own nearest neighbour: fetch one more and drop it
                hits = [h for h in snap.indexes.search(kind, vectors, k + 1)[0] if h[0] != query][:k]
            else:
                hits = snap.indexes.search(kind, vectors, k)[0]
            results[kind] = [{"id": i, "score": round(s, 6)} for i, s in hits]
        body = {"model_version": version, "query": query, "k": k, "results": results}
        if candidates:
            results.update(reranker.rerank(reranker.query_side(query, vectors[0]), candidates, k))
            body["student"] = reranker.version
        return body

    async def score(self, query: str, items: list[tuple[str, str]]) -> dict[str, Any]:
        """The student's expected label of each (type, id) item for one normalized query, in order; an
        UnknownItem names the first item the served catalog lacks."""
        snap = self.snapshot
        reranker = snap.reranker
        if reranker is None:
            raise OmniSageError("this service has no relevance student loaded (start it with --student)")
        rows = reranker.rows([kind for kind, _ in items], [i for _, i in items])  # known before encoding
        vectors, version = await self._embed_with(snap, [query])  # (1, D)
        scores = reranker.score(reranker.query_side(query, vectors[0]), rows)  # (n,)
        return {"scores": np.round(scores, 6).tolist(), "model_version": version, "student": reranker.version}

    async def _embed_with(self, snap: Snapshot, queries: list[str]) -> tuple[np.ndarray, str]:
        # Search must use the snapshot it searches in, even if a swap lands in between.
        if snap is self.snapshot:
            return await self.embed(queries)
        return await snap.batcher.submit(queries), snap.version

    def search_types(self) -> tuple[str, ...]:
        indexes = self.snapshot.indexes
        return tuple(sorted(indexes.indexes)) if indexes is not None else ()

    async def swap(
        self, embedder: QueryEmbedder, indexes: IndexSet | None, reranker: Reranker | None = None
    ) -> tuple[str, str]:
        """Serve a new model + indexes (+ student); requests in flight finish on the old ones.

        Returns (replaced served version, new served version), both read under the lock: concurrent swaps
        each report the version they replaced."""
        async with self._swap_lock:
            new = self._snapshot(embedder, indexes, reranker)
            await asyncio.to_thread(embedder.encode_queries, ["warm up"])  # first call pays one-time costs
            old, self.snapshot = self.snapshot, new
            self.metrics.set_model(new.served)
            self.metrics.swaps.inc()
        await old.batcher.close()
        return old.served, new.served

    async def health(self) -> dict[str, Any]:
        snap = self.snapshot
        # The Redis probe may wait up to its timeout: keep it off the event loop.
        redis = await asyncio.to_thread(self.redis.status) if self.redis else {"enabled": False}
        if self.redis:
            self.metrics.redis_up.set(1 if redis["up"] else 0)
        indexes = snap.indexes
        return {
            "status": "ok" if redis.get("up", True) else "degraded",
            "model_version": snap.version,
            "served": snap.served,
            "student": _describe(snap.reranker),
            "dim": snap.embedder.dim,
            "indexes": {n: len(i) for n, i in indexes.indexes.items()} if indexes else {},
            "cache": {"local_entries": len(self.local), "redis": redis, **self.metrics.describe()},
            "qps": self.metrics.qps.rate(),
            "uptime_s": round(time.time() - self.started, 1),
        }

    async def close(self) -> None:
        await self.snapshot.batcher.close()
        if self.redis:
            self.redis.close()


def _describe(reranker: Reranker | None) -> dict[str, Any] | None:
    if reranker is None:
        return None
    return {
        "version": reranker.version,
        "candidates": reranker.candidates,
        "features": len(reranker.student.feature_names),
        "scale": reranker.student.scale.to_json(),
    }
