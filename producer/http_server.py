"""The HTTP/1.1 protocol ``pushflow api`` serves with: uvicorn's httptools protocol (the stack
the intake is measured on) with the request head bounded and every refusal in the envelope.

What it changes, and why:

- **Upgrades are declined, the body is kept.** A plain-http request with ``Upgrade: h2c``
  (Java's ``HttpClient`` and ``curl --http2`` send it by default) or ``Upgrade: websocket``
  makes llhttp stop after the head and hand the rest of the stream over as "another protocol":
  uvicorn then ran the request with an empty body (``400 INVALID_JSON``) or handed the POST to
  its WebSocket protocol (no answer at all). The API speaks HTTP/1.1 only, which RFC 9110
  (section 7.8) allows a server to do by ignoring ``Upgrade``: the head is parsed again without
  its upgrade headers, followed by the bytes that came after it, so the body arrives as sent.
- **The head is bounded**: at most ``api_max_header_bytes`` for the request line and headers
  together and ``api_max_headers`` header fields (431), sent within
  ``api_header_timeout_seconds`` of the request's first byte, or of the connection's opening
  for its first request (408). llhttp itself has no limit on any of them.
- **Requests that are not HTTP** get a 400 in the envelope (uvicorn answers plain text).

Each refusal closes the connection: after a bad head the stream cannot be trusted to be in step.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import httptools
import orjson
from starlette.requests import Request
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.server import ServerState

from producer.envelope import envelope, error_item
from shared.ids import request_id
from shared.settings import Settings, get_settings

log = logging.getLogger("pushflow.api")

# Connection-header tokens and headers that only ask for an upgrade the API does not do.
_UPGRADE_HEADERS = frozenset({b"upgrade", b"http2-settings"})


@dataclass(eq=False)
class Refusal(Exception):
    """A request answered at the protocol level, before any route sees it."""

    status: int
    code: str
    title: str
    message: str
    source: str = "header"

    def response(self, rid: str, default_headers: list[tuple[bytes, bytes]]) -> bytes:
        """The whole HTTP/1.1 answer: the envelope, ``X-Request-Id``, ``Connection: close``."""
        request = Request({"type": "http", "pushflow.request_id": rid})
        body = orjson.dumps(envelope(request, self.status, errors=[error_item(
            self.code, self.message, source=self.source, title=self.title)]))
        head = [STATUS_LINE[self.status]]
        head += [b"%s: %s\r\n" % pair for pair in default_headers]
        head += [b"content-type: application/json\r\n",
                 b"content-length: %d\r\n" % len(body),
                 b"x-request-id: %s\r\n" % rid.encode(),
                 b"connection: close\r\n\r\n", body]
        return b"".join(head)


@dataclass(frozen=True)
class HeadLimits:
    max_bytes: int
    max_fields: int
    timeout_seconds: float

    @classmethod
    def from_settings(cls, settings: Settings) -> HeadLimits:
        return cls(settings.api_max_header_bytes, settings.api_max_headers,
                   settings.api_header_timeout_seconds)

    def too_large(self) -> Refusal:
        return Refusal(431, "HEADERS_TOO_LARGE", "Request headers too large",
                       f"The request line and headers may take at most {self.max_bytes} bytes "
                       f"and {self.max_fields} header fields")

    def too_slow(self) -> Refusal:
        return Refusal(408, "REQUEST_TIMEOUT", "Request timeout",
                       f"The request line and headers must arrive within "
                       f"{self.timeout_seconds:g} s")


def not_http(reason: str) -> Refusal:
    return Refusal(400, "INVALID_FORMAT", "Invalid HTTP request",
                   f"The request is not valid HTTP/1.1 ({reason})", source="request")


class PushflowHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the changes of the module docstring."""

    def __init__(self, config: Config, server_state: ServerState, app_state: dict[str, Any],
                 _loop: asyncio.AbstractEventLoop | None = None) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.limits = HeadLimits.from_settings(get_settings())
        # Bytes and fields of the head being read; None between a head's end and the next
        # request's first byte. ``messages`` tells a chunk that began another request apart.
        self.head_bytes: int | None = None
        self.head_fields = 0
        self.messages = 0
        self.head_deadline: asyncio.TimerHandle | None = None
        self.upgrade_declined = False  # this head asked for an upgrade: it is parsed again
        self.refused = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_deadline()
        super().connection_lost(exc)

    def _should_upgrade(self) -> bool:
        return False  # no WebSocket route: an upgrade request is served as plain HTTP/1.1

    def data_received(self, data: bytes) -> None:
        if self.refused:
            return
        self._unset_keepalive_if_required()
        head_before, messages_before = self.head_bytes, self.messages
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade as upgrade:
            if not self.upgrade_declined:
                self.refuse(not_http("an upgrade without a request head"))
                return
            self._parse_again_without_upgrade(data[upgrade.args[0]:])
            return
        except httptools.HttpParserError as exc:
            cause = exc.__context__
            self.refuse(cause if isinstance(cause, Refusal) else not_http(str(exc)))
            return
        if self.head_bytes is None:
            return
        if head_before is not None and messages_before == self.messages:
            # The whole chunk belongs to one unfinished head: count it all, including a field
            # httptools is still collecting (it reports a field only once it is complete).
            self.head_bytes = head_before + len(data)
            if self.head_bytes > self.limits.max_bytes:
                self.refuse(self.limits.too_large())
                return
        self._arm_head_deadline()

    def _parse_again_without_upgrade(self, rest: bytes) -> None:
        """Feed a fresh parser this head without its upgrade headers, then ``rest``."""
        version = self.parser.get_http_version().encode()
        head = [self.parser.get_method(), b" ", self.url, b" HTTP/", version, b"\r\n"]
        for name, value in self.headers:
            if name == b"connection":
                tokens = [t for t in value.split(b",") if t.strip().lower() not in
                          _UPGRADE_HEADERS]
                if not tokens:
                    continue
                value = b",".join(tokens)
            elif name in _UPGRADE_HEADERS:
                continue
            head += [name, b": ", value, b"\r\n"]
        head.append(b"\r\n")
        self.upgrade_declined = False
        self.parser = httptools.HttpRequestParser(self)
        self.parser.set_dangerous_leniencies(lenient_data_after_close=True)  # as uvicorn does
        self.data_received(b"".join(head) + rest)

    def refuse(self, refusal: Refusal) -> None:
        """Answer ``refusal`` and close the connection."""
        rid = request_id()
        log.warning("request refused before routing (request %s): %s %s", rid, refusal.status,
                    refusal.code)
        self.refused = True
        self._cancel_head_deadline()
        if not self.transport.is_closing():
            self.transport.write(refusal.response(rid, self.server_state.default_headers))
            self.transport.close()

    # Parser callbacks
    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.messages += 1
        self.head_bytes = 0
        self.head_fields = 0

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        self._count(len(url), 0)

    def on_header(self, name: bytes, value: bytes) -> None:
        super().on_header(name, value)
        self._count(len(name) + len(value) + 4, 1)

    def _count(self, size: int, fields: int) -> None:
        self.head_bytes = (self.head_bytes or 0) + size
        self.head_fields += fields
        if self.head_bytes > self.limits.max_bytes or self.head_fields > self.limits.max_fields:
            raise self.limits.too_large()

    def on_headers_complete(self) -> None:
        self.head_bytes = None
        self._cancel_head_deadline()
        if self.parser.should_upgrade():
            if self.parser.get_method() == b"CONNECT":
                raise Refusal(405, "METHOD_NOT_ALLOWED", "Method not allowed",
                              "CONNECT is not served", source="request")
            self.upgrade_declined = True  # llhttp skips the body: parse it again (see above)
            return
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if not self.upgrade_declined:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if not self.upgrade_declined:
            super().on_message_complete()

    # The head's deadline
    def _arm_head_deadline(self) -> None:
        if self.head_deadline is None:
            self.head_deadline = self.loop.call_later(self.limits.timeout_seconds,
                                                      self._head_deadline_passed)

    def _cancel_head_deadline(self) -> None:
        if self.head_deadline is not None:
            self.head_deadline.cancel()
            self.head_deadline = None

    def _head_deadline_passed(self) -> None:
        self.head_deadline = None
        if self.cycle is not None and not self.cycle.response_complete:
            self._arm_head_deadline()  # a pipelined head waits on the answer before it
            return
        self.refuse(self.limits.too_slow())
