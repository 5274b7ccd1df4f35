"""A TCP proxy in the test's event loop, between a client (the API) and a server (PostgreSQL),
that a test can cut and restore, as a network or a database outage would.

    async with TcpProxy("127.0.0.1", pg_port) as proxy:
        url = f"postgresql://127.0.0.1:{proxy.port}/pushflow"
        await proxy.cut()        # every connection closed, new ones refused
        proxy.restore()          # accepting again, same port
        proxy.hold_replies_after(b"INSERT INTO messages")  # see there
"""

from __future__ import annotations

import asyncio
import contextlib
from types import TracebackType

CHUNK = 65536


class TcpProxy:
    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = 0
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._marker: bytes | None = None
        self.holding = asyncio.Event()  # set once a connection's replies are being held

    async def __aenter__(self) -> TcpProxy:
        await self._listen()
        return self

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.cut()

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port,
                                                  reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]

    def hold_replies_after(self, marker: bytes) -> None:
        """On the next connection whose client sends ``marker``: forward that (so the server
        runs the statement) and hold back everything the server answers from then on, as if
        the answer were lost on the way; ``holding`` is set."""
        self.holding.clear()
        self._marker = marker

    async def cut(self) -> None:
        """Close every connection (both sides) and refuse new ones until ``restore``."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            writer.close()
        for task in list(self._pipes):
            task.cancel()
        for task in list(self._pipes):
            with contextlib.suppress(BaseException):
                await task

    async def restore(self) -> None:
        await self._listen()

    async def _accept(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter
                      ) -> None:
        try:
            server_r, server_w = await asyncio.open_connection(*self.target)
        except OSError:
            client_w.close()
            return
        held = asyncio.Event()
        self._writers.update((client_w, server_w))
        for task in (self._pipe(client_r, server_w, held, upstream=True),
                     self._pipe(server_r, client_w, held, upstream=False)):
            pipe = asyncio.ensure_future(task)
            self._pipes.add(pipe)
            pipe.add_done_callback(self._pipes.discard)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    held: asyncio.Event, *, upstream: bool) -> None:
        try:
            while data := await reader.read(CHUNK):
                if upstream and self._marker is not None and self._marker in data:
                    self._marker = None
                    held.set()
                    self.holding.set()
                if held.is_set() and not upstream:
                    continue  # the server's answer, lost on the way
                writer.write(data)
                await writer.drain()
        except OSError:
            pass
        finally:
            writer.close()
            self._writers.discard(writer)
