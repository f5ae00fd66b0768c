"""The query-embedding cache (paper §3.6): an in-process TTL+LRU tier and an optional shared Redis tier.

Keys are (model version, normalized query), so a new model never reads an old model's vectors. Query
frequency is Zipfian: a small local tier absorbs the head, Redis shares the torso across replicas, and
only misses reach the encoder. Redis failures never fail a request: the tier switches itself off for
`retry_s` and the local tier keeps serving.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np

from omnisage.errors import MissingExtraError, OmniSageError

DAY_S = 86_400.0


class LocalCache:
    """Least-recently-used map with a time-to-live per entry; thread-safe."""

    def __init__(self, max_entries: int, ttl_s: float, clock: Callable[[], float] = time.monotonic):
        if max_entries < 0 or ttl_s <= 0:
            raise OmniSageError(f"cache needs max_entries >= 0 and ttl > 0, got {max_entries}, {ttl_s}")
        self.max_entries, self.ttl_s, self.clock = max_entries, ttl_s, clock
        self._entries: OrderedDict[tuple[str, str], tuple[float, np.ndarray]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: tuple[str, str]) -> np.ndarray | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry[0] <= self.clock():
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return entry[1]

    def put(self, key: tuple[str, str], vector: np.ndarray) -> None:
        if self.max_entries == 0:
            return
        with self._lock:
            self._entries[key] = (self.clock() + self.ttl_s, vector)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def _vector(value: object, dim: int) -> np.ndarray | None:
    """A stored value as a (D,) float32 vector, or None when it is not D finite float32s."""
    if not isinstance(value, bytes) or len(value) != 4 * dim:
        return None
    vector = np.frombuffer(value, dtype=np.float32)  # (D,)
    return vector if np.isfinite(vector).all() else None


class RedisCache:
    """Vectors as raw float32 bytes under `omnisage:qe:<version>:<query>`, expiring after the TTL."""

    PREFIX = "omnisage:qe:"

    def __init__(
        self,
        url: str,
        ttl_s: float,
        timeout_ms: float = 50.0,
        retry_s: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
        on_bad_values: Callable[[int], None] | None = None,
    ):
        try:
            import redis
        except ImportError:
            raise MissingExtraError("redis", "serve") from None
        self._errors: tuple[type[BaseException], ...] = (redis.RedisError, OSError)
        self.client = redis.Redis.from_url(
            url, socket_timeout=timeout_ms / 1000, socket_connect_timeout=timeout_ms / 1000
        )
        self.url, self.ttl_ms, self.retry_s, self.clock = url, int(ttl_s * 1000), retry_s, clock
        self.on_bad_values = on_bad_values  # told how many stored values were rejected (a metric)
        self._down_until = 0.0
        self.last_error: str | None = None
        self.failures = 0

    def _key(self, key: tuple[str, str]) -> str:
        return f"{self.PREFIX}{key[0]}:{key[1]}"

    @property
    def available(self) -> bool:
        """False while backing off after a failure: callers skip Redis instead of waiting on it."""
        return self.clock() >= self._down_until

    def _failed(self, exc: BaseException) -> None:
        self.failures += 1
        self.last_error = f"{type(exc).__name__}: {exc}"
        self._down_until = self.clock() + self.retry_s

    def _ok(self) -> None:
        self.last_error = None

    def get_many(self, keys: list[tuple[str, str]], dim: int) -> list[np.ndarray | None]:
        """One MGET; every key a miss when Redis is down. A value of the wrong size or with a NaN/inf (another
        writer, a corrupted key) is a miss too: the caller encodes the query again and overwrites it."""
        if not keys or not self.available:
            return [None] * len(keys)
        try:
            values = self.client.mget([self._key(k) for k in keys])
        except self._errors as exc:
            self._failed(exc)
            return [None] * len(keys)
        self._ok()
        found = [_vector(v, dim) for v in values]
        bad = sum(1 for v, f in zip(values, found) if v is not None and f is None)
        if bad and self.on_bad_values is not None:
            self.on_bad_values(bad)
        return found

    def put_many(self, items: list[tuple[tuple[str, str], np.ndarray]]) -> None:
        if not items or not self.available:
            return
        try:
            pipe = self.client.pipeline(transaction=False)
            for key, vector in items:
                pipe.set(self._key(key), np.asarray(vector, dtype=np.float32).tobytes(), px=self.ttl_ms)
            pipe.execute()
        except self._errors as exc:
            self._failed(exc)
            return
        self._ok()

    def ping(self) -> bool:
        """Health probe; a failure starts the back-off like any other error."""
        if not self.available:
            return False
        try:
            self.client.ping()
        except self._errors as exc:
            self._failed(exc)
            return False
        self._ok()
        return True

    def status(self) -> dict[str, Any]:
        up = self.ping()
        return {
            "enabled": True,
            "up": up,
            "failures": self.failures,
            "error": None if up else self.last_error,
        }

    def close(self) -> None:
        self.client.close()
