"""Misbehaving clients against the real server (uvicorn on loopback, raw sockets): hang-ups, huge and slow bodies.

None of them may cost a 5xx, a traceback in the log, or memory in proportion to what the client sends.
"""

from __future__ import annotations

import socket
import time

import httpx

from .conftest import LiveServer


def connect(server: LiveServer) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    return sock


def post_head(length: int | None, path: str = "/v1/embed") -> bytes:
    size = f"content-length: {length}" if length is not None else "transfer-encoding: chunked"
    return f"POST {path} HTTP/1.1\r\nhost: test\r\ncontent-type: application/json\r\n{size}\r\n\r\n".encode()


def status_of(sock: socket.socket) -> int:
    return int(sock.recv(65536).split(b" ", 2)[1])


def metrics(server: LiveServer) -> str:
    return httpx.get(server.url + "/metrics").text


def test_a_client_that_hangs_up_is_not_a_server_error(live_server) -> None:
    with connect(live_server) as sock:  # half a body, then gone
        sock.sendall(post_head(100) + b'{"query": "red')
    with connect(live_server) as sock:  # a whole request, gone before the answer
        sock.sendall(b"GET /v1/search?q=red+shoes&k=3 HTTP/1.1\r\nhost: test\r\n\r\n")
        sock.shutdown(socket.SHUT_RDWR)
    deadline = time.monotonic() + 10
    while 'route="/v1/embed",status="499"' not in (text := metrics(live_server)):
        assert time.monotonic() < deadline, text
        time.sleep(0.05)
    assert 'status="500"' not in text
    assert httpx.post(live_server.url + "/v1/embed", json={"query": "red shoes"}).status_code == 200
    assert "Traceback" not in live_server.log.read_text()


def test_a_declared_oversized_body_is_413_before_it_is_read(live_server) -> None:
    with connect(live_server) as sock:
        sock.sendall(post_head(100_000_000))  # not one byte of the body follows
        assert status_of(sock) == 413


def test_a_chunked_body_stops_being_read_at_the_limit(live_server) -> None:
    before = live_server.peak_rss_kb()
    chunk = b"%x\r\n%s\r\n" % (1 << 20, b" " * (1 << 20))
    sent = 0
    with connect(live_server) as sock:
        sock.sendall(post_head(None))
        try:
            while sent < 100:  # 100 MB unless the server stops reading first
                sock.sendall(chunk)
                sent += 1
        except OSError:  # the server answered 413 and closed the connection
            pass
    assert sent < 100
    assert live_server.peak_rss_kb() - before < 30_000  # KB: was ~175 MB with the body read whole
    assert 'route="/v1/embed",status="413"' in metrics(live_server)


def test_a_body_that_never_arrives_times_out(live_server) -> None:
    with connect(live_server) as sock:
        sock.sendall(post_head(20) + b"{")  # 19 bytes short, forever
        start = time.monotonic()
        assert status_of(sock) == 408
        assert time.monotonic() - start < 5  # serve.body_timeout_s=1
    assert httpx.get(live_server.url + "/healthz").status_code == 200
