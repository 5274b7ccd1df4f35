"""Long-lived HTTP/2 connections to one gateway origin (and TLS identity).

APNs token-auth apps and every FCM app share the connections to an origin (the JWT / OAuth token
travels per request); an APNs certificate-auth app needs its own pool, since the certificate is
the TLS identity. Each pool keeps up to ``size`` connections, opened on demand, replaced when
closed (GOAWAY, loss), and picks the one with the most free streams. A connection joins the pool
only once the server's SETTINGS arrived, so a burst is spread within the announced limits.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import ssl
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

from workers.h2client.connection import (
    ConnectionLost,
    H2ClientProtocol,
    NotSent,
    Response,
    open_connection,
)

_NOT_SENT_TRIES = 3  # a server refusing or closing again and again: NotSent to the caller


def tls_context(ca_file: Path | None, client_pem: str | None = None) -> ssl.SSLContext:
    """System trust plus the configured extra CA (the sandbox's), ALPN h2, optional client cert."""
    ctx = ssl.create_default_context()
    if ca_file is not None:
        ctx.load_verify_locations(cafile=str(ca_file))
    ctx.set_alpn_protocols(["h2"])  # the gateways speak HTTP/2 only
    if client_pem is not None:
        # ssl can only read a certificate chain from a file: write it private, load, delete.
        fd, path = tempfile.mkstemp(prefix="pushflow-apns-", suffix=".pem")
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(client_pem)
            ctx.load_cert_chain(path)
        finally:
            os.unlink(path)
    return ctx


class ConnectionPool:
    def __init__(self, origin: str, ssl_context: ssl.SSLContext, size: int,
                 connect_timeout: float) -> None:
        parts = urlsplit(origin)
        self.host = parts.hostname or ""
        self.port = parts.port or 443
        self.authority = (parts.netloc or self.host).encode()
        self.ssl_context = ssl_context
        self.size = size
        self.connect_timeout = connect_timeout
        self._conns: list[H2ClientProtocol] = []
        self._opening: asyncio.Task[H2ClientProtocol] | None = None

    async def connection(self) -> H2ClientProtocol:
        """A connection with a free stream, opening one if none has room and the pool may grow."""
        while True:
            self._conns = [c for c in self._conns if not c.closed]
            best = max(self._conns, key=lambda c: c.max_streams - len(c.streams), default=None)
            if best is not None and best.has_capacity():
                return best
            if len(self._conns) >= self.size:
                if best is None:  # pragma: no cover - size >= 1 keeps this unreachable
                    raise ConnectionLost("no connection")
                return best  # all full: the caller waits for a stream on it
            opened = await self._open()
            # A burst waits for one connect together; those the new connection has no room
            # for once it is up look again (and open the next one) instead of queueing on it.
            # A connection closed at once goes back to request(), whose attempts are bounded.
            if opened.has_capacity() or opened.closed:
                return opened

    async def request(self, headers: list[tuple[bytes, bytes]], body: bytes,
                      timeout: float) -> Response:
        """One request; raises NotSent (not processed), ConnectionLost (maybe processed) or
        TimeoutError. A request the server cannot have processed (refused stream, above a
        GOAWAY's last stream, connection closed before it was written) goes out again at once
        on another stream or connection, a few times at most."""
        why = ""
        for _ in range(_NOT_SENT_TRIES):
            try:  # a new connection closed before its SETTINGS arrived raises NotSent too
                conn = await self.connection()
                return await conn.request(headers, body, timeout)
            except NotSent as exc:
                why = str(exc)
        raise NotSent(f"{self.host} did not take the request in {_NOT_SENT_TRIES} tries: {why}")

    async def _open(self) -> H2ClientProtocol:
        if self._opening is None:  # many requests at once need one connect, not many
            self._opening = asyncio.get_running_loop().create_task(
                open_connection(self.host, self.port, self.ssl_context, self.connect_timeout))
        opening = self._opening
        try:
            conn = await asyncio.shield(opening)
        except (OSError, TimeoutError, ssl.SSLError) as exc:
            raise ConnectionLost(f"cannot connect to {self.host}:{self.port}: {exc}") from None
        finally:
            if self._opening is opening and opening.done():
                self._opening = None
        if conn not in self._conns:
            self._conns.append(conn)
        return conn

    def open_connections(self) -> int:
        return sum(1 for c in self._conns if not c.closed)

    async def close(self) -> None:
        for conn in self._conns:
            conn.close()
        self._conns.clear()
        if self._opening is not None:
            self._opening.cancel()
            with contextlib.suppress(BaseException):
                await self._opening
