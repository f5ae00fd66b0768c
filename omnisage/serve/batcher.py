"""Micro-batching of cache misses: requests arriving while the encoder is busy share its next call.

Callers `await submit(texts)` on the event loop; one encoder thread takes pending texts off a queue (up to
`max_batch`), runs the blocking `resolve` function and hands each caller its rows back on the caller's loop, so
the event loop keeps accepting requests while the encoder runs. Under load, texts pile up during each call and the
next batch grows; `max_wait_ms` > 0 additionally holds an idle encoder back that long to gather batch-mates.

The thread gathers for itself rather than an asyncio task feeding a thread pool: a miss then crosses threads once
each way (a queue put, a `call_soon_threadsafe`), ~40 µs of CPU, where the task and the pool's futures cost ~155.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

Resolve = Callable[[list[str]], np.ndarray]  # texts (B,) -> unit vectors (B, D)


@dataclass
class _Pending:
    texts: list[str]
    future: asyncio.Future[np.ndarray]
    loop: asyncio.AbstractEventLoop  # the caller's: its future is settled there

    def settle(self, result: np.ndarray | None = None, error: Exception | None = None) -> None:
        """From the encoder thread: answer the caller on its own loop (unless it gave up or the loop is gone)."""

        def answer() -> None:
            if self.future.done():  # cancelled: the client went away
                return
            if error is not None:
                self.future.set_exception(error)
            else:
                self.future.set_result(result)

        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits for this answer
            self.loop.call_soon_threadsafe(answer)


class MicroBatcher:
    """Coalesce concurrent `submit` calls into batched `resolve` calls on one encoder thread."""

    def __init__(
        self,
        resolve: Resolve,
        max_batch: int = 64,
        max_wait_ms: float = 0.0,
        on_batch: Callable[[int], None] | None = None,
    ):
        self.resolve, self.max_batch, self.max_wait_s = resolve, max(1, max_batch), max_wait_ms / 1000
        self.on_batch = on_batch  # called on the encoder thread
        self._queue: queue.SimpleQueue[_Pending | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start = threading.Lock()
        self.calls = 0  # resolve() calls so far: tests and metrics read it
        self._closed = False

    async def submit(self, texts: list[str]) -> np.ndarray:
        """Vectors (len(texts), D) for `texts`, computed together with whatever else is pending."""
        if self._closed:  # a request that began before a hot swap still gets its answer
            return await asyncio.to_thread(self.resolve, list(texts))
        if self._thread is None:
            with self._start:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name="encoder", daemon=True)
                    self._thread.start()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[np.ndarray] = loop.create_future()
        self._queue.put(_Pending(list(texts), future, loop))
        return await future

    def _gather(self, first: _Pending) -> tuple[list[_Pending], bool]:
        """The next batch, and whether the close sentinel was reached while gathering it."""
        batch, size = [first], len(first.texts)
        deadline = time.monotonic() + self.max_wait_s
        while size < self.max_batch:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    item = self._queue.get(timeout=remaining)
                except queue.Empty:
                    break
            if item is None:
                return batch, True
            batch.append(item)
            size += len(item.texts)
        return batch, False

    def _run(self) -> None:
        """The encoder thread: batch, resolve, answer; until the close sentinel."""
        stop = False
        while not stop:
            first = self._queue.get()
            if first is None:
                return
            batch, stop = self._gather(first)
            unique = list(dict.fromkeys(t for item in batch for t in item.texts))  # one encode per text
            try:
                vectors = self.resolve(unique)  # (U, D)
            except Exception as exc:  # handed to every waiting caller; the thread keeps running
                for item in batch:
                    item.settle(error=exc)
                continue
            self.calls += 1
            if self.on_batch is not None:
                self.on_batch(len(unique))
            row = {t: i for i, t in enumerate(unique)}
            for item in batch:
                item.settle(vectors[[row[t] for t in item.texts]])

    async def close(self) -> None:
        """Answer everything already submitted, then stop the encoder thread."""
        self._closed = True
        if self._thread is not None:
            self._queue.put(None)  # FIFO: the thread reaches it after every earlier request
            await asyncio.to_thread(self._thread.join)
