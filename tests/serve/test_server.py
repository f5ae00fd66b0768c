"""The real server: uvicorn (uvloop + httptools) in a second process on a loopback port, then a clean stop."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np

from .conftest import free_port

HERE = Path(__file__).parent


def test_uvicorn_server_on_loopback() -> None:
    port = free_port()
    script = (
        f"import sys; sys.path.insert(0, {str(HERE)!r})\n"
        "from conftest import TrigramEmbedder\n"
        "from omnisage.config import load_config\n"
        "from omnisage.serve.server import run_server\n"
        "from omnisage.serve.service import QueryService\n"
        f"config = load_config(None, ['serve.port={port}']).serve\n"
        "run_server(QueryService(TrigramEmbedder(), None, config), config)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stderr=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                assert httpx.get(url + "/healthz").json()["status"] == "ok"
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and proc.poll() is None, "server did not start"
                time.sleep(0.1)
        with httpx.Client(base_url=url) as client:
            first = client.post("/v1/embed", json={"queries": ["red shoes", "blue hat"]})
            again = client.post("/v1/embed", json={"queries": ["red shoes", "blue hat"]})
            assert first.status_code == 200 and first.content == again.content
            assert np.array(first.json()["embeddings"]).shape == (2, 32)
            assert client.get("/v1/search?q=x").status_code == 503
            assert client.post("/v1/embed", content=b"\xff").status_code == 400
            assert 'omnisage_cache_lookups_total{result="local_hit"} 2.0' in client.get("/metrics").text
    finally:
        proc.send_signal(signal.SIGTERM)
        # uvicorn shuts down gracefully, then re-raises the signal: exit by SIGTERM, no traceback.
        assert proc.wait(timeout=30) in (0, -signal.SIGTERM)
        assert "Traceback" not in proc.stderr.read()
