"""The ceiling of a Python intake on this machine: a bare ASGI endpoint on the same server stack
(uvicorn, uvloop, httptools, orjson, redis.asyncio) that reads the JSON body and does one Redis
LPUSH per token, nothing else (no auth, no validation, no database). bench/intake.py serves it
with the same uvicorn settings as ``pushflow api`` and compares."""

from __future__ import annotations

import os
from typing import Any

import orjson
from redis.asyncio import ConnectionPool, Redis

_ANSWER = orjson.dumps({"meta": {"status": 202}, "data": [], "errors": []})
_HEADERS = [(b"content-type", b"application/json"),
            (b"content-length", str(len(_ANSWER)).encode())]


class Ceiling:
    def __init__(self) -> None:
        self.redis: Redis[bytes] | None = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    # The same pool type and size as the API's (producer.state.make_redis).
                    pool: ConnectionPool[Any] = ConnectionPool.from_url(
                        os.environ["PUSHFLOW_REDIS_URL"], max_connections=64)
                    self.redis = Redis(connection_pool=pool)
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    if self.redis is not None:
                        await self.redis.aclose()  # type: ignore[attr-defined]
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        tokens = orjson.loads(body)["device_tokens"]
        assert self.redis is not None
        for token in tokens:
            await self.redis.lpush("ceiling", token)
        await send({"type": "http.response.start", "status": 202, "headers": _HEADERS})
        await send({"type": "http.response.body", "body": _ANSWER})


app = Ceiling()
