"""Micro-batching of cache misses: requests arriving while the encoder is busy share its next call.

Callers `await submit(texts)` on the event loop; one worker task gathers pending texts (up to `max_batch`)
and runs the blocking `resolve` function on a single worker thread, so the event loop keeps accepting
requests while the encoder runs. Under load, texts pile up during each call and the next batch grows;
`max_wait_ms` > 0 additionally holds an idle encoder back that long to gather batch-mates.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

Resolve = Callable[[list[str]], np.ndarray]  # texts (B,) -> unit vectors (B, D)


@dataclass
class _Pending:
    texts: list[str]
    future: asyncio.Future[np.ndarray]


class MicroBatcher:
    """Coalesce concurrent `submit` calls into batched `resolve` calls on one background thread."""

    def __init__(
        self,
        resolve: Resolve,
        max_batch: int = 64,
        max_wait_ms: float = 0.0,
        on_batch: Callable[[int], None] | None = None,
    ):
        self.resolve, self.max_batch, self.max_wait_s = resolve, max(1, max_batch), max_wait_ms / 1000
        self.on_batch = on_batch
        self._queue: asyncio.Queue[_Pending | None] | None = None
        self._worker: asyncio.Task[None] | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="encoder")
        self.calls = 0  # resolve() calls so far: tests and metrics read it
        self._closed = False

    async def submit(self, texts: list[str]) -> np.ndarray:
        """Vectors (len(texts), D) for `texts`, computed together with whatever else is pending."""
        if self._closed:  # a request that began before a hot swap still gets its answer
            return await asyncio.to_thread(self.resolve, list(texts))
        if self._queue is None:
            self._queue = asyncio.Queue()
            self._worker = asyncio.get_running_loop().create_task(self._run())
        future: asyncio.Future[np.ndarray] = asyncio.get_running_loop().create_future()
        await self._queue.put(_Pending(list(texts), future))
        return await future

    async def _gather(self, first: _Pending) -> tuple[list[_Pending], bool]:
        """The next batch, and whether the close sentinel was reached while gathering it."""
        assert self._queue is not None
        batch, size = [first], len(first.texts)
        deadline = asyncio.get_running_loop().time() + self.max_wait_s
        while size < self.max_batch:
            try:
                item = self._queue.get_nowait()
            except asyncio.QueueEmpty:
                remaining = deadline - asyncio.get_running_loop().time()
                if remaining <= 0:
                    break
                try:
                    item = await asyncio.wait_for(self._queue.get(), remaining)
                except TimeoutError:
                    break
            if item is None:
                return batch, True
            batch.append(item)
            size += len(item.texts)
        return batch, False

    async def _run(self) -> None:
        assert self._queue is not None
        loop = asyncio.get_running_loop()
        stop = False
        while not stop:
            first = await self._queue.get()
            if first is None:
                return
            batch, stop = await self._gather(first)
            unique = list(dict.fromkeys(t for item in batch for t in item.texts))  # one encode per text
            try:
                vectors = await loop.run_in_executor(self._executor, self.resolve, unique)  # (U, D)
            except Exception as exc:  # handed to every waiting caller; the worker keeps running
                for item in batch:
                    if not item.future.done():
                        item.future.set_exception(exc)
                continue
            self.calls += 1
            if self.on_batch is not None:
                self.on_batch(len(unique))
            row = {t: i for i, t in enumerate(unique)}
            for item in batch:
                if not item.future.done():
                    item.future.set_result(vectors[[row[t] for t in item.texts]])

    async def close(self) -> None:
        """Answer everything already submitted, then stop the worker and its thread."""
        self._closed = True
        if self._queue is not None and self._worker is not None:
            await self._queue.put(None)  # FIFO: the worker reaches it after every earlier request
            await self._worker
        self._executor.shutdown(wait=True)
