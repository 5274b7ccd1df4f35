"""Long-lived APNs connections, per (origin, client certificate).

Token-auth apps share the connections to an origin (the JWT travels per request); a
certificate-auth app needs its own, since the certificate is the TLS identity. Each pool keeps up
to ``size`` connections, opened on demand, replaced when closed (GOAWAY, loss), and picks the one
with the most free streams.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import ssl
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

from workers.apns.connection import ConnectionLost, H2ClientProtocol, open_connection


def tls_context(ca_file: Path | None, client_pem: str | None = None) -> ssl.SSLContext:
    """System trust plus the configured extra CA (the sandbox's), ALPN h2, optional client cert."""
    ctx = ssl.create_default_context()
    if ca_file is not None:
        ctx.load_verify_locations(cafile=str(ca_file))
    ctx.set_alpn_protocols(["h2"])
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
        self._conns = [c for c in self._conns if not c.closed]
        best = max(self._conns, key=lambda c: c.max_streams - len(c.streams), default=None)
        if best is not None and best.has_capacity():
            return best
        if len(self._conns) < self.size:
            return await self._open()
        if best is None:  # pragma: no cover - size >= 1 keeps this unreachable
            raise ConnectionLost("no APNs connection")
        return best  # full: the caller waits for a stream on it

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

    async def close(self) -> None:
        for conn in self._conns:
            conn.close()
        self._conns.clear()
        if self._opening is not None:
            self._opening.cancel()
            with contextlib.suppress(BaseException):
                await self._opening
