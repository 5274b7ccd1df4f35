"""Run every sandbox gateway in one asyncio process: APNs (h2 over TLS), FCM (h2 or http/1.1 over
TLS), the OAuth token endpoint and the control API (plain HTTP/1.1 on loopback)."""

from __future__ import annotations

import asyncio
import functools
import gc
import logging
import signal
import ssl
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import orjson

from sandbox.apns import ApnsGateway
from sandbox.control import ControlApi
from sandbox.credentials import SandboxCredentials, load_or_create, write_credentials
from sandbox.fcm import FcmGateway
from sandbox.h2tuning import install_huffman_cache
from sandbox.http1 import H1ServerProtocol
from sandbox.http2 import H2ServerProtocol
from sandbox.messages import ConnInfo, Handler, WireAction
from sandbox.oauth import AccessTokens, OAuthEndpoint
from sandbox.state import SandboxState

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SandboxConfig:
    host: str = "127.0.0.1"
    apns_port: int = 2197
    fcm_port: int = 8444
    oauth_port: int = 8445
    control_port: int = 8446
    latency_ms: float = 0.0
    state_dir: Path = Path(".pushflow/sandbox")
    credentials_dir: Path | None = None


def urls_for(host: str, ports: dict[str, int]) -> dict[str, str]:
    h = f"[{host}]" if ":" in host else host
    return {
        "apnsUrl": f"https://{h}:{ports['apns']}",
        "fcmUrl": f"https://{h}:{ports['fcm']}",
        "oauthUrl": f"http://{h}:{ports['oauth']}",
        "controlUrl": f"http://{h}:{ports['control']}",
    }


class _Connection(asyncio.Protocol):
    """Accepts a connection, then hands the transport to the HTTP/2 or HTTP/1.1 protocol the
    TLS handshake negotiated (asyncio calls ``connection_made`` after the handshake)."""

    def __init__(self, server: _Listener) -> None:
        self._server = server

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, transport)  # uvloop's SSL transport is no subclass
        srv = self._server
        ssl_obj = transport.get_extra_info("ssl_object")
        alpn = ssl_obj.selected_alpn_protocol() if ssl_obj is not None else None
        peer = (ssl_obj.getpeercert() or None) if ssl_obj is not None else None
        use_h2 = srv.h2_only or alpn == "h2"
        protocol = "h2" if use_h2 else "http/1.1"
        info = ConnInfo(srv.state.new_connection(srv.gateway), srv.gateway, protocol, peer)
        srv.transports.add(transport)
        inner: asyncio.Protocol
        if use_h2:
            over_limit = functools.partial(srv.state.over_stream_limit, srv.gateway)
            behaviour = srv.state.http2

            def on_h2_close() -> None:
                srv.transports.discard(transport)
                srv.h2_connections.pop(h2_inner, None)

            h2_inner = H2ServerProtocol(srv.handler, info, on_h2_close, behaviour, over_limit)
            srv.h2_connections[h2_inner] = srv.gateway
            inner = h2_inner
        else:
            inner = H1ServerProtocol(srv.handler, info, lambda: srv.transports.discard(transport))
        transport.set_protocol(inner)
        inner.connection_made(transport)


@dataclass
class _Listener:
    gateway: str
    handler: Handler
    state: SandboxState
    tls: ssl.SSLContext | None
    h2_only: bool
    transports: set[asyncio.Transport]
    h2_connections: dict[H2ServerProtocol, str]  # open HTTP/2 connections -> their gateway


def _tls_context(creds: SandboxCredentials, alpn: list[str], client_certs: bool) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(creds.server_cert_file, creds.server_key_file)
    ctx.set_alpn_protocols(alpn)
    if client_certs:
        # Certificate auth is optional: token-auth clients present no certificate.
        ctx.verify_mode = ssl.CERT_OPTIONAL
        ctx.load_verify_locations(creds.ca_file)
    return ctx


class Sandbox:
    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.creds = load_or_create(config.state_dir)
        self.state = SandboxState(config.latency_ms)
        tokens = AccessTokens(self.creds.token_secret)
        self._transports: set[asyncio.Transport] = set()
        self._h2_connections: dict[H2ServerProtocol, str] = {}
        self._listeners = {
            "apns": _Listener(
                "apns",
                ApnsGateway(self.creds, self.state),
                self.state,
                _tls_context(self.creds, ["h2"], True),
                True,
                self._transports,
                self._h2_connections,
            ),
            "fcm": _Listener(
                "fcm",
                FcmGateway(self.state, tokens),
                self.state,
                _tls_context(self.creds, ["h2", "http/1.1"], False),
                False,
                self._transports,
                self._h2_connections,
            ),
            "oauth": _Listener(
                "oauth",
                OAuthEndpoint(self.creds, self.state, tokens),
                self.state,
                None,
                False,
                self._transports,
                self._h2_connections,
            ),
            "control": _Listener(
                "control",
                ControlApi(self.state, self.close_connections),
                self.state,
                None,
                False,
                self._transports,
                self._h2_connections,
            ),
        }
        self._servers: list[asyncio.Server] = []
        self.ports: dict[str, int] = {}

    async def start(self) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        c = self.config
        wanted = {
            "apns": c.apns_port,
            "fcm": c.fcm_port,
            "oauth": c.oauth_port,
            "control": c.control_port,
        }
        for name, listener in self._listeners.items():
            server = await loop.create_server(
                lambda lst=listener: _Connection(lst),
                c.host,
                wanted[name],
                ssl=listener.tls,
                backlog=1024,
            )
            self._servers.append(server)
            self.ports[name] = server.sockets[0].getsockname()[1]
        urls = urls_for(c.host, self.ports)
        ready: dict[str, Any] = {"ready": True, **urls, "caFile": str(self.creds.ca_file)}
        ready["credentialsDir"] = None
        if c.credentials_dir is not None:
            write_credentials(self.creds, c.credentials_dir, urls)
            ready["credentialsDir"] = str(c.credentials_dir.resolve())
            ready["caFile"] = str(c.credentials_dir.resolve() / "ca.pem")
        return ready

    def close_connections(self, gateway: str | None, action: WireAction) -> int:
        """GOAWAY or drop every open HTTP/2 connection (of one gateway): how many."""
        chosen = [c for c, g in self._h2_connections.items() if gateway in (None, g)]
        for conn in chosen:
            conn.shut_down(action)
        return len(chosen)

    async def stop(self) -> None:
        for server in self._servers:
            server.close()
        for transport in list(self._transports):
            transport.abort()
        for server in self._servers:
            await server.wait_closed()


async def serve(config: SandboxConfig) -> None:
    sandbox = Sandbox(config)
    ready = await sandbox.start()
    # The sandbox stands in for Apple's and Google's servers, whose pauses are not ours to
    # measure. A full GC pass over its startup objects took up to 340 ms under a campaign's
    # load (every request waits for it); frozen out of the passes, 30-90 ms (docs/benchmarks.md,
    # Isolation, the collector's pauses). The product's processes do the same
    # (shared/gc_pauses.py); the sandbox imports nothing of the product.
    gc.collect()
    gc.freeze()
    sys.stdout.write(orjson.dumps(ready).decode() + "\n")
    sys.stdout.flush()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("sandbox stopping")
    await sandbox.stop()


def run(config: SandboxConfig) -> None:
    """Serve until SIGTERM/SIGINT, on uvloop when it is installed (it is, via uvicorn[standard])."""
    try:
        import uvloop

        factory: Callable[[], asyncio.AbstractEventLoop] | None = uvloop.new_event_loop
    except ImportError:  # pragma: no cover - plain asyncio works too, a bit slower
        factory = None
    install_huffman_cache()
    with asyncio.Runner(loop_factory=factory) as runner:
        runner.run(serve(config))
