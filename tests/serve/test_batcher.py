"""Micro-batching: concurrent misses share one encoder call, results match direct encoding, errors propagate."""

from __future__ import annotations

import asyncio
import threading

import numpy as np
import pytest

from omnisage.serve.batcher import MicroBatcher


def test_concurrent_submits_share_one_call(embedder) -> None:
    async def main() -> list[np.ndarray]:
        batcher = MicroBatcher(embedder.encode_queries, max_batch=64, max_wait_ms=20)
        out = await asyncio.gather(*(batcher.submit([f"query {i}", "shared"]) for i in range(10)))
        await batcher.close()
        assert batcher.calls == 1
        return out

    results = asyncio.run(main())
    assert len(embedder.calls) == 1 and sorted(embedder.calls[0]) == sorted(
        {f"query {i}" for i in range(10)} | {"shared"}
    )
    for i, vectors in enumerate(results):
        np.testing.assert_allclose(vectors, embedder.encode_queries([f"query {i}", "shared"]), rtol=1e-6)


def test_max_batch_splits_calls(embedder) -> None:
    async def main() -> None:
        batcher = MicroBatcher(embedder.encode_queries, max_batch=4, max_wait_ms=20)
        await asyncio.gather(*(batcher.submit([f"q{i}"]) for i in range(10)))
        await batcher.close()

    asyncio.run(main())
    assert [len(c) for c in embedder.calls] == [4, 4, 2]


def test_encoder_error_reaches_callers_and_the_worker_survives() -> None:
    def resolve(texts: list[str]) -> np.ndarray:
        if "boom" in texts:
            raise ValueError("encoder failed")
        return np.ones((len(texts), 2), dtype=np.float32)

    async def main() -> None:
        batcher = MicroBatcher(resolve, max_wait_ms=0)
        with pytest.raises(ValueError, match="encoder failed"):
            await batcher.submit(["boom"])
        assert (await batcher.submit(["fine"])).shape == (1, 2)
        await batcher.close()

    asyncio.run(main())


def test_close_answers_everything_already_submitted() -> None:
    gate = threading.Event()

    def slow(texts: list[str]) -> np.ndarray:
        gate.wait(5)
        return np.zeros((len(texts), 3), dtype=np.float32)

    async def main() -> None:
        batcher = MicroBatcher(slow, max_batch=1, max_wait_ms=0)
        pending = [asyncio.ensure_future(batcher.submit([f"q{i}"])) for i in range(3)]
        await asyncio.sleep(0.01)
        closing = asyncio.ensure_future(batcher.close())
        gate.set()
        results = await asyncio.gather(*pending)
        await closing
        assert [r.shape for r in results] == [(1, 3)] * 3
        late = await batcher.submit(["after close"])  # served directly, not dropped
        assert late.shape == (1, 3)

    asyncio.run(main())


def test_misses_arriving_while_the_encoder_is_busy_share_the_next_call(embedder) -> None:
    started, release = threading.Event(), threading.Event()

    def slow(texts: list[str]) -> np.ndarray:
        started.set()
        release.wait(5)
        return embedder.encode_queries(texts)

    async def main() -> None:
        batcher = MicroBatcher(slow, max_batch=64, max_wait_ms=0)
        first = asyncio.ensure_future(batcher.submit(["a"]))
        while not started.is_set():  # wait until the encoder is busy with ["a"]
            await asyncio.sleep(0.001)
        rest = [asyncio.ensure_future(batcher.submit([t])) for t in ("b", "c", "d")]
        await asyncio.sleep(0.01)  # let them reach the queue
        release.set()
        await asyncio.gather(first, *rest)
        await batcher.close()

    asyncio.run(main())
    assert embedder.calls == [["a"], ["b", "c", "d"]]
