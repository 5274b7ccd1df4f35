"""The request and answer types shared by the HTTP/1.1 and HTTP/2 servers and the gateways.

Gateways are plain functions from ``Request`` to ``Answer``: they never touch sockets, so the
same APNs/FCM logic serves h2 and HTTP/1.1 connections and is easy to read on its own.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson


class WireAction(enum.Enum):
    """What to do to the connection instead of (or after) answering."""

    ANSWER = "answer"
    DROP = "drop"  # close the TCP connection without answering
    GOAWAY = "goaway"  # HTTP/2 GOAWAY, then close once earlier streams are answered


@dataclass(slots=True)
class ConnInfo:
    """Facts about one client connection that gateways need (auth by client certificate)."""

    conn_id: int
    gateway: str
    protocol: str = "h2"  # what the connection speaks: "h2" or "http/1.1"
    # The verified client certificate as ``ssl.SSLObject.getpeercert()`` returns it, if any.
    peer_cert: dict[str, Any] | None = None


@dataclass(slots=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names; the last value wins for repeated names
    body: bytes
    conn: ConnInfo
    duplicate_headers: bool = False


@dataclass(slots=True)
class Answer:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    action: WireAction = WireAction.ANSWER
    delay: float = 0.0  # seconds to wait before answering (configured latency)
    # Told once, by the connection, whether the answer's last frame went out on a live
    # connection (True) or could not be written: stream reset, connection closed, refused by
    # our GOAWAY (False). Gateways hook 2xx answers here: a push counts as accepted only when
    # the client can learn that it was, which is what "the gateway accepted it" means to it.
    on_settled: Callable[[bool], None] | None = None

    def settle(self, written: bool) -> None:
        hook, self.on_settled = self.on_settled, None
        if hook is not None:
            hook(written)


Handler = Callable[[Request], Answer]


@dataclass(frozen=True, slots=True)
class H2Behaviour:
    """How an HTTP/2 connection announces and enforces SETTINGS_MAX_CONCURRENT_STREAMS. A stream
    opened beyond the limit is refused (RST_STREAM REFUSED_STREAM, as nginx and Google's front
    ends do); ``strict`` closes the connection instead with GOAWAY PROTOCOL_ERROR once the
    client has acknowledged the limit (as nghttp2 does; before the acknowledgement the client
    cannot know it, so the stream is refused). ``settings_delay`` (seconds) holds the server's
    SETTINGS back, and reads nothing meanwhile: what a client sees of a server one round trip
    away, whose SETTINGS leave only once the client's TLS handshake reached it."""

    max_concurrent_streams: int = 1000
    strict: bool = False
    settings_delay: float = 0.0


def json_answer(status: int, obj: Any, headers: list[tuple[str, str]] | None = None) -> Answer:
    body = orjson.dumps(obj)
    hdrs = [("content-type", "application/json; charset=UTF-8")]
    if headers:
        hdrs.extend(headers)
    return Answer(status, hdrs, body)
