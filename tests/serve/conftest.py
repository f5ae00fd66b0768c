"""Fixtures for the serving tests: a small deterministic query embedder, a real redis-server on loopback, a live
server on the toy indexes, and a small world built by the pipeline's commands (with a relevance student)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from omnisage.index.catalog import unit_rows


class TrigramEmbedder:
    """Character trigrams hashed into a fixed random projection: similar strings get similar unit vectors.

    Small and deterministic, with the same interface as the model bundle; it counts its calls and texts so
    tests can tell a cache hit from an encoder call.
    """

    def __init__(self, dim: int = 32, version: str = "toy-v1", seed: int = 0):
        self.dim, self.version = dim, version
        self.table = np.random.default_rng(seed).normal(size=(4096, dim)).astype(np.float32)
        self.calls: list[list[str]] = []

    def encode_queries(self, queries: list[str]) -> np.ndarray:
        self.calls.append(list(queries))
        out = np.zeros((len(queries), self.dim), dtype=np.float32)
        for i, q in enumerate(queries):
            padded = f"#{q}#"
            for j in range(max(1, len(padded) - 2)):
                out[i] += self.table[zlib.crc32(padded[j : j + 3].encode()) % len(self.table)]
        return unit_rows(out)

    @property
    def encoded(self) -> list[str]:
        return [q for call in self.calls for q in call]


@pytest.fixture
def embedder() -> TrigramEmbedder:
    return TrigramEmbedder()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    """A throwaway redis-server on a loopback port: no persistence, killed at the end."""

    def __init__(self, workdir: Path):
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError(
                "redis-server is not installed: run `make setup` (it installs the Debian package)"
            )
        self.binary, self.workdir, self.port = binary, workdir, free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        args = [
            self.binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ]
        self.proc = subprocess.Popen(
            args, cwd=self.workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


LIVE_SERVER = """
import sys
sys.path.insert(0, {here!r})
from conftest import TrigramEmbedder
from test_app import PINS, PRODUCTS, toy_indexes
from toy_student import toy_reranker
from omnisage.config import load_config
from omnisage.errors import OmniSageError
from omnisage.serve.server import run_server
from omnisage.serve.service import QueryService

def parts():
    embedder = TrigramEmbedder()
    indexes = toy_indexes(embedder)
    return embedder, indexes, toy_reranker(indexes, PINS, PRODUCTS)

def reloader(spec):
    if set(spec) - {{"model", "indexes", "student"}}:
        raise OmniSageError("unknown reload fields")
    return parts()

config = load_config(None, {overrides!r}).serve
embedder, indexes, reranker = parts()
run_server(QueryService(embedder, indexes, config, reranker=reranker), config, reloader)
"""
LIVE_TOKEN = "live-admin-token"


class LiveServer:
    """`omnisage serve`'s uvicorn (uvloop + httptools) in a second process, on the toy embedder and indexes
    with the hand-made relevance student (toy_student.py)."""

    def __init__(self, workdir: Path, *overrides: str):
        self.port, self.log = free_port(), workdir / "server.log"
        settings = [f"serve.port={self.port}", f"serve.admin_token={LIVE_TOKEN}", *overrides]
        script = LIVE_SERVER.format(here=str(Path(__file__).parent), overrides=settings)
        with self.log.open("w") as log:
            self.proc = subprocess.Popen([sys.executable, "-c", script], stderr=log, stdout=log)
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError(f"the server did not start:\n{self.log.read_text()}") from None
                time.sleep(0.05)

    def peak_rss_kb(self) -> int:
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:")))

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


@pytest.fixture(scope="module")
def live_server(tmp_path_factory) -> Iterator[LiveServer]:
    server = LiveServer(tmp_path_factory.mktemp("live"), "serve.body_timeout_s=1", "serve.max_wait_ms=0")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def small_world(tmp_path_factory) -> Path:
    """A 600-pin world through the real commands (`tiny` model): ROOT/world, enriched, run/model, emb and idx
    (indexes with their item store: `index --world --enriched`)."""
    from omnisage.cli import main

    root = tmp_path_factory.mktemp("small_world")
    world, enriched, run = root / "world", root / "enriched", root / "run"
    tiny = ["--config", "tiny", "--no-progress"]
    assert main(["synth", "--out", str(world), "--scale", "600", "--seed", "7"]) == 0
    assert (
        main(["enrich", "--data", str(world), "--as-of", "2024-06-16", "--out", str(enriched), *tiny[2:]])
        == 0
    )
    assert main(["train", "--data", str(world), "--enriched", str(enriched), "--out", str(run), *tiny]) == 0
    embed = ["embed", "--model", str(run / "model"), "--enriched", str(enriched), "--queries", str(world)]
    assert main([*embed, "--out", str(root / "emb"), *tiny]) == 0
    index = ["index", "--embeddings", str(root / "emb"), "--world", str(world), "--enriched", str(enriched)]
    assert main([*index, "--out", str(root / "idx"), *tiny]) == 0
    return root


@pytest.fixture(scope="session")
def small_student(small_world: Path) -> Path:
    """`omnisage relevance` on the small world with a tiny teacher and 3 student epochs: the student folder."""
    from omnisage.cli import main

    from ..tiny_bert import write_tiny_bert  # here, not at the top: the live server's script imports conftest

    root = small_world
    teacher = write_tiny_bert(root / "bert")
    argv = ["relevance", "--data", str(root / "world"), "--enriched", str(root / "enriched")]
    argv += ["--model", str(root / "run" / "model"), "--out", str(root / "relevance"), "--no-progress"]
    argv += ["--set", f"relevance.teacher_encoder={teacher}", "--set", "relevance.student_epochs=3"]
    assert main(argv) == 0
    return root / "relevance" / "student"
