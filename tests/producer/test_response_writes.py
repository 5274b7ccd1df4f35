"""``producer.response_writes`` through the API's real HTTP protocol (``PushflowHttpProtocol``)
on a real asyncio server and real sockets: an answer with a ``Content-Length`` leaves in one
``send`` (its head and body arrive together), and the answers whose head must not wait -- a
streamed body, a ``HEAD`` answer, a failure after the head -- arrive as before."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from uvicorn.config import Config
from uvicorn.server import ServerState

from producer.http_server import PushflowHttpProtocol

App = Callable[[dict[str, Any], Any, Any], Awaitable[None]]
BODY = b'{"ok":true}'


async def serve(app: App) -> tuple[asyncio.AbstractServer, int]:
    config = Config(app, http="httptools", ws="none", lifespan="off", log_level="warning")
    config.load()
    state = ServerState()
    server = await asyncio.get_running_loop().create_server(
        lambda: PushflowHttpProtocol(config, state, {}), "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


@pytest.fixture()
async def open_server() -> AsyncIterator[Callable[[App], Awaitable[int]]]:
    servers: list[asyncio.AbstractServer] = []

    async def start(app: App) -> int:
        server, port = await serve(app)
        servers.append(server)
        return port

    yield start
    for server in servers:
        server.close()


def get(method: bytes = b"GET") -> bytes:
    return method + b" / HTTP/1.1\r\nhost: x\r\n\r\n"


async def fixed_answer(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 202, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]})
    await asyncio.sleep(0.2)  # the head may only leave with the body
    await send({"type": "http.response.body", "body": BODY})


async def test_a_sized_answer_leaves_head_and_body_together(open_server: Any) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", await open_server(fixed_answer))
    for _ in range(2):  # and the connection stays usable
        writer.write(get())
        first = await asyncio.wait_for(reader.read(65536), 5)
        assert first.startswith(b"HTTP/1.1 202 Accepted\r\n")
        assert first.endswith(b"\r\n\r\n" + BODY)  # one segment: nothing was sent before the body
    writer.close()


async def test_a_head_answer_is_sent_without_a_body(open_server: Any) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", await open_server(fixed_answer))
    writer.write(get(b"HEAD"))
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert b"content-length: 11" in head.lower()
    writer.write(get())  # the next request is answered, so nothing was left held
    assert (await asyncio.wait_for(reader.readuntil(BODY), 5)).startswith(b"HTTP/1.1 202")
    writer.close()


async def test_a_streamed_answer_sends_its_head_before_its_body(open_server: Any) -> None:
    release = asyncio.Event()

    async def stream(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await release.wait()
        await send({"type": "http.response.body", "body": b"late"})

    reader, writer = await asyncio.open_connection("127.0.0.1", await open_server(stream))
    writer.write(get())
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert b"transfer-encoding: chunked" in head
    release.set()
    assert await asyncio.wait_for(reader.readuntil(b"0\r\n\r\n"), 5) == b"4\r\nlate\r\n0\r\n\r\n"
    writer.close()


async def test_a_failure_after_a_sized_head_sends_the_head_and_closes(open_server: Any) -> None:
    async def fails(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", b"5")]})
        raise RuntimeError("broken after the head")

    reader, writer = await asyncio.open_connection("127.0.0.1", await open_server(fails))
    writer.write(get())
    received = await asyncio.wait_for(reader.read(), 5)  # read() returns at the server's close
    assert received.startswith(b"HTTP/1.1 200 OK\r\n") and received.endswith(b"\r\n\r\n")
    writer.close()
