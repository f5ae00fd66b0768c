"""Query cache tiers: LRU order and TTL by hand with a fake clock; the Redis tier against a real redis-server."""

from __future__ import annotations

import numpy as np
import pytest

from omnisage.serve.cache import LocalCache, RedisCache


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def vec(x: float) -> np.ndarray:
    return np.full(4, x, dtype=np.float32)


def test_lru_evicts_least_recently_used() -> None:
    cache = LocalCache(max_entries=2, ttl_s=100)
    cache.put(("v", "a"), vec(1))
    cache.put(("v", "b"), vec(2))
    assert cache.get(("v", "a")) is not None  # a is now the most recent
    cache.put(("v", "c"), vec(3))
    assert cache.get(("v", "b")) is None
    assert cache.get(("v", "a"))[0] == 1 and cache.get(("v", "c"))[0] == 3
    assert len(cache) == 2


def test_ttl_expires_and_version_is_part_of_the_key() -> None:
    clock = Clock()
    cache = LocalCache(max_entries=10, ttl_s=5, clock=clock)
    cache.put(("v1", "q"), vec(1))
    assert cache.get(("v2", "q")) is None
    clock.now = 4.9
    assert cache.get(("v1", "q")) is not None
    clock.now = 5.0
    assert cache.get(("v1", "q")) is None and len(cache) == 0


def test_zero_entries_disables_the_tier() -> None:
    cache = LocalCache(max_entries=0, ttl_s=5)
    cache.put(("v", "q"), vec(1))
    assert cache.get(("v", "q")) is None


@pytest.mark.redis
def test_redis_round_trip_with_ttl(redis_server) -> None:
    tier = RedisCache(redis_server.url, ttl_s=2 * 86_400)
    tier.put_many([(("v1", "red shoes"), vec(0.5)), (("v1", "blue hat"), vec(0.25))])
    got = tier.get_many([("v1", "red shoes"), ("v2", "red shoes"), ("v1", "blue hat")], dim=4)
    assert got[0].tolist() == [0.5] * 4 and got[1] is None and got[2].tolist() == [0.25] * 4
    assert tier.get_many([("v1", "red shoes")], dim=8) == [None]  # wrong width: a miss, not garbage
    ttl_ms = tier.client.pttl("omnisage:qe:v1:red shoes")
    assert 2 * 86_400_000 - 5_000 < ttl_ms <= 2 * 86_400_000
    assert tier.status()["up"] is True


@pytest.mark.redis
def test_redis_down_backs_off_then_recovers(redis_server) -> None:
    clock = Clock()
    tier = RedisCache(redis_server.url, ttl_s=60, retry_s=3, clock=clock)
    tier.put_many([(("v", "q"), vec(1))])
    redis_server.stop()
    assert tier.get_many([("v", "q")], dim=4) == [None]
    assert not tier.available and tier.failures == 1 and tier.last_error
    tier.put_many([(("v", "r"), vec(2))])  # skipped during the back-off: no second failure
    assert tier.failures == 1
    assert tier.status()["up"] is False
    redis_server.start()  # a fresh, empty server on the same port
    clock.now = 3.0
    assert tier.available and tier.status()["up"] is True
    tier.put_many([(("v", "q"), vec(3))])
    assert tier.get_many([("v", "q")], dim=4)[0].tolist() == [3.0] * 4
