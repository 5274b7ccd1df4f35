"""Reading a JSON request body under the size limit.

Use from a route module::

    from producer.body import read_json
    body = await read_json(request, get_state(request).settings.max_body_bytes)

413 ``PAYLOAD_TOO_LARGE`` when the body is over the limit (decided from ``Content-Length`` when
given, else while streaming, so a huge body is never held in memory), 400 ``INVALID_JSON`` when
it is not JSON.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request

from producer.envelope import ApiError, header


def _too_large(limit: int) -> ApiError:
    return ApiError(413, "PAYLOAD_TOO_LARGE", f"The request body exceeds {limit} bytes",
                    parameter="body", value=limit)


async def read_body(request: Request, limit: int) -> bytes:
    declared = header(request, b"content-length")
    if declared is not None:
        if not declared.isdigit():
            raise ApiError(400, "INVALID_FORMAT", "Invalid Content-Length header",
                           parameter="Content-Length", value=declared, source="header")
        if int(declared) > limit:
            raise _too_large(limit)
    # Straight from ``receive``: Starlette's ``request.body()`` goes through an async generator,
    # a visible cost on the hot route. The body is read once; nothing re-reads it.
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await request.receive()
        if message["type"] != "http.request":  # http.disconnect
            raise ApiError(400, "INVALID_JSON", "The request body was cut short",
                           parameter="body")
        chunk = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > limit:  # no (or a false) Content-Length: never hold a huge body
                raise _too_large(limit)
            chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def read_json(request: Request, limit: int) -> Any:
    raw = await read_body(request, limit)
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, "INVALID_JSON", f"The body is not valid JSON: {exc}",
                       parameter="body") from None
