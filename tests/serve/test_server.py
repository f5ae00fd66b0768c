"""The real server: uvicorn (uvloop + httptools) in a second process on a loopback port, then a clean stop."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from omnisage.cli import main
from omnisage.config import ServeConfig, load_config
from omnisage.errors import OmniSageError
from omnisage.serve.client import format_results, search, wait_until_up

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
        with pytest.raises(OmniSageError, match="503 this service has no indexes loaded"):
            search(url, "red shoes", 3)
    finally:
        proc.send_signal(signal.SIGTERM)
        # uvicorn shuts down gracefully, then re-raises the signal: exit by SIGTERM, no traceback.
        assert proc.wait(timeout=30) in (0, -signal.SIGTERM)
        assert "Traceback" not in proc.stderr.read()


def test_unreachable_service_and_result_formatting() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(OmniSageError, match="cannot reach the service"):
        search(url, "red shoes", 3)
    with pytest.raises(OmniSageError, match="did not come up within 1 s"):
        wait_until_up(url, 1)
    result = {
        "query": "red shoes",
        "model_version": "v1",
        "results": {"pin": [{"id": "p1", "score": 0.5}], "query": [{"id": "red sneakers", "score": 0.9}]},
    }
    text = format_results(result, {("pin", "p1"): "Red running shoes"})
    assert text.splitlines() == [
        "query: 'red shoes'  (model v1)",
        "  pin:",
        "    +0.500  p1             Red running shoes",
        "  query:",
        "    +0.900  red sneakers",
    ]
    ranked = {**result, "student": "s1", "results": {"pin": [{"id": "p1", "score": 0.5, "relevance": 4.216}]}}
    assert format_results(ranked, {}).splitlines() == [
        "query: 'red shoes'  (model v1, student s1)",
        "  pin:",
        "    +0.500  relevance 4.22  p1",
    ]


@pytest.mark.parametrize("port", [0, 65536, 99999, -1])
def test_port_outside_1_to_65535_is_rejected(port: int, capsys) -> None:
    # The OS reads a port modulo 65536: 99999 would listen on 34463 without a word.
    with pytest.raises(OmniSageError, match=r"serve\.port must be between 1 and 65535"):
        load_config(None, [f"serve.port={port}"])
    with pytest.raises(SystemExit) as exit_info:
        main(["serve", "--model", "/nowhere", "--port", str(port)])
    assert exit_info.value.code == 2 and "expected a port between 1 and 65535" in capsys.readouterr().err
    assert ServeConfig(port=65535).port == 65535


def test_serve_gives_numpys_blas_serve_threads_threads(tmp_path: Path) -> None:
    """A multi-threaded BLAS on a busy machine made the relevance student 100x slower: `omnisage serve` sets
    the BLAS thread count to serve.threads before NumPy loads, unless the environment already says."""
    script = (
        "import os, sys\n"
        "from omnisage.cli import main\n"
        f"code = main(['serve', '--model', {str(tmp_path / 'no-model')!r}, '--set', 'serve.threads=3'])\n"
        "print(code, 'numpy' in sys.modules, os.environ.get('OPENBLAS_NUM_THREADS'), os.environ['MKL_NUM_THREADS'])\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert out.stdout.split() == ["2", "True", "3", "3"], out.stderr  # loaded NumPy after setting them
    env["OPENBLAS_NUM_THREADS"] = "2"
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert out.stdout.split() == ["2", "True", "2", "3"], out.stderr  # the environment wins
