"""Reading a request body with a size limit and a deadline, before any parsing (SECURITY.md).

A declared `Content-Length` over the limit is refused before a byte of the body is read; a chunked body stops
being read at the limit; a body that stops arriving is a 408. Each refusal closes the connection, so the
unread rest of the body is never parsed. A client that hangs up mid-body is not a server error (499).
"""

from __future__ import annotations

import asyncio

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from omnisage.serve.validation import BadRequest

CLIENT_CLOSED = 499  # nginx's status for "the client closed the connection before the answer"
CLOSE = {"connection": "close"}


async def read_body(request: Request, limit: int, timeout_s: float) -> bytes:
    """The whole body, or BadRequest: 413 over `limit` bytes, 408 when it takes longer than `timeout_s`."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not (declared.isascii() and declared.isdigit()):  # uvicorn's parser refuses these; other servers?
            raise BadRequest(f"Content-Length must be a byte count, got {declared!r}", headers=CLOSE)
        if int(declared) > limit:
            raise _too_large(int(declared), limit)
    chunks, size = [], 0
    try:
        async with asyncio.timeout(timeout_s):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise _too_large(size, limit, "over")
                chunks.append(chunk)
    except TimeoutError:
        message = f"the request body did not arrive within {timeout_s:g} s"
        raise BadRequest(message, status=408, headers=CLOSE) from None
    return b"".join(chunks)


def _too_large(size: int, limit: int, qualifier: str = "") -> BadRequest:
    words = f"{qualifier} {size}".strip()
    return BadRequest(f"request body is {words} bytes; the limit is {limit}", status=413, headers=CLOSE)


async def client_gone(_request: Request, _exc: ClientDisconnect) -> Response:
    """The client hung up before its request was read: nobody will read this answer; it is counted as 499."""
    return Response(status_code=CLIENT_CLOSED)
