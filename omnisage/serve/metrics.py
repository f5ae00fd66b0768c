"""Prometheus metrics of the service: requests and QPS, latency histograms, cache hit rate, encoder batches.

Each service owns its registry (no process-global state), so tests can run several side by side.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from omnisage.errors import MissingExtraError

# Latency buckets from 0.1 ms: a warm cache hit is well under a millisecond.
LATENCY_BUCKETS = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0015,
    0.002,
    0.003,
    0.005,
    0.0075,
    0.01,
    0.025,
    0.05,
    0.1,
    0.5,
)
ROUTES = ("/v1/embed", "/v1/search", "/v1/score", "/healthz", "/metrics", "/v1/admin/reload", "other")
CACHE_RESULTS = ("local_hit", "redis_hit", "miss")


class RateMeter:
    """Events per second over the last `window_s` whole seconds."""

    def __init__(self, window_s: int = 10):
        self.window_s = window_s
        self._counts = [0] * (window_s + 1)
        self._stamps = [-1] * (window_s + 1)

    def add(self, now: float | None = None) -> None:
        second = int(now if now is not None else time.monotonic())
        slot = second % len(self._counts)
        if self._stamps[slot] != second:
            self._stamps[slot], self._counts[slot] = second, 0
        self._counts[slot] += 1

    def rate(self, now: float | None = None) -> float:
        second = int(now if now is not None else time.monotonic())
        # Only finished seconds count: the current one is still filling.
        total = sum(c for c, s in zip(self._counts, self._stamps) if second - self.window_s <= s < second)
        return total / self.window_s


class ServiceMetrics:
    def __init__(self) -> None:
        try:
            import prometheus_client as prom
        except ImportError:
            raise MissingExtraError("prometheus-client", "serve") from None
        self._prom = prom
        self.registry = prom.CollectorRegistry()
        r = self.registry
        self.requests = prom.Counter(
            "omnisage_requests", "HTTP requests by route and status", ["route", "status"], registry=r
        )
        self.latency = prom.Histogram(
            "omnisage_request_seconds",
            "Request latency by route",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self._latency = {route: self.latency.labels(route) for route in ROUTES}
        self.cache = prom.Counter(
            "omnisage_cache_lookups", "Query-cache lookups by result", ["result"], registry=r
        )
        self._cache = {res: self.cache.labels(res) for res in CACHE_RESULTS}
        self.redis_bad_values = prom.Counter(
            "omnisage_cache_bad_values",
            "Redis values rejected (wrong length, NaN or inf): counted as misses and overwritten",
            registry=r,
        )
        self.counts = dict.fromkeys(CACHE_RESULTS, 0)
        self._lock = threading.Lock()
        prom.Gauge(
            "omnisage_cache_hit_ratio",
            "Share of query lookups answered by a cache tier, since start",
            registry=r,
        ).set_function(self.hit_ratio)
        self.qps = RateMeter()
        prom.Gauge("omnisage_qps", "Requests per second over the last 10 s", registry=r).set_function(
            self.qps.rate
        )
        self.batch_size = prom.Histogram(
            "omnisage_encoder_batch_size",
            "Queries per encoder call (micro-batching)",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
            registry=r,
        )
        self.encoder_latency = prom.Histogram(
            "omnisage_encoder_seconds", "Encoder call latency", buckets=LATENCY_BUCKETS, registry=r
        )
        self.redis_up = prom.Gauge("omnisage_redis_up", "1 when the Redis tier answers", registry=r)
        self.model = prom.Info("omnisage_model", "The model version being served", registry=r)
        self.swaps = prom.Counter("omnisage_hot_swaps", "Model + index hot swaps", registry=r)

    def observe_request(self, route: str, status: int, seconds: float) -> None:
        route = route if route in self._latency else "other"
        self.qps.add()
        self.requests.labels(route, str(status)).inc()
        self._latency[route].observe(seconds)

    def observe_cache(self, result: str, n: int = 1) -> None:
        if n:
            with self._lock:  # the encoder thread and the event loop both count
                self.counts[result] += n
            self._cache[result].inc(n)

    def hit_ratio(self) -> float:
        total = sum(self.counts.values())
        return (self.counts["local_hit"] + self.counts["redis_hit"]) / total if total else 0.0

    def render(self) -> tuple[bytes, str]:
        return self._prom.generate_latest(self.registry), self._prom.CONTENT_TYPE_LATEST

    def set_model(self, version: str) -> None:
        self.model.info({"version": version})

    def describe(self) -> dict[str, Any]:
        return {"lookups": dict(self.counts), "hit_ratio": round(self.hit_ratio(), 4)}
