"""HTTP/1.1 server connection on ``h11``: the control API, the OAuth endpoint, and FCM for clients
that negotiate http/1.1 (firebase-admin's synchronous ``send_each`` uses ``requests``)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import cast

import h11

from sandbox.messages import Answer, ConnInfo, Handler, Request, WireAction

log = logging.getLogger(__name__)

MAX_BODY = 1024 * 1024


class H1ServerProtocol(asyncio.Protocol):
    """One request at a time per connection (HTTP/1.1 has no multiplexing); keep-alive."""

    def __init__(self, handler: Handler, conn: ConnInfo, on_close: Callable[[], None]) -> None:
        self._handler = handler
        self._info = conn
        self._on_close = on_close
        self._h11 = h11.Connection(h11.SERVER)
        self._transport: asyncio.Transport | None = None
        self._request: h11.Request | None = None
        self._body = bytearray()
        self._busy = False
        self._loop = asyncio.get_running_loop()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, transport)  # uvloop's SSL transport is no subclass
        self._transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        self._on_close()

    def data_received(self, data: bytes) -> None:
        self._h11.receive_data(data)
        self._process()

    def eof_received(self) -> bool | None:
        self._h11.receive_data(b"")
        self._process()
        return None

    def _process(self) -> None:
        while self._transport is not None and not self._busy:
            try:
                event = self._h11.next_event()
            except h11.RemoteProtocolError as exc:
                self._send_error(exc.error_status_hint, str(exc))
                return
            if event is h11.NEED_DATA or event is h11.PAUSED:
                return
            if isinstance(event, h11.Request):
                self._request = event
                self._body = bytearray()
            elif isinstance(event, h11.Data):
                self._body += event.data
                if len(self._body) > MAX_BODY:
                    self._send_error(413, "request body too large")
                    return
            elif isinstance(event, h11.EndOfMessage):
                self._dispatch()
            elif isinstance(event, h11.ConnectionClosed):
                self._transport.close()
                return

    def _dispatch(self) -> None:
        ev = self._request
        assert ev is not None
        headers: dict[str, str] = {}
        duplicates = False
        for name, value in ev.headers:
            key = name.decode("latin-1")
            duplicates = duplicates or key in headers
            headers[key] = value.decode("latin-1")
        req = Request(
            ev.method.decode("ascii"),
            ev.target.decode("latin-1"),
            headers,
            bytes(self._body),
            self._info,
            duplicates,
        )
        try:
            answer = self._handler(req)
        except Exception:
            log.exception("sandbox handler failed")
            answer = Answer(500, [("content-type", "text/plain")], b"sandbox error")
        self._busy = True
        if answer.delay > 0:
            self._loop.call_later(answer.delay, self._answer, answer)
        else:
            self._answer(answer)

    def _answer(self, answer: Answer) -> None:
        if self._transport is None:
            answer.settle(False)  # the client went away while we waited
            return
        if answer.action is not WireAction.ANSWER:  # no GOAWAY in HTTP/1.1: both mean "close"
            self._transport.abort()
            return
        headers = [*answer.headers, ("content-length", str(len(answer.body)))]
        out = self._h11.send(h11.Response(status_code=answer.status, headers=headers))
        out += self._h11.send(h11.Data(data=answer.body)) or b""
        out += self._h11.send(h11.EndOfMessage()) or b""
        self._transport.write(out or b"")
        answer.settle(True)
        self._busy = False
        if self._h11.our_state is h11.MUST_CLOSE:
            self._transport.close()
            return
        self._h11.start_next_cycle()
        self._process()

    def _send_error(self, status: int, message: str) -> None:
        if self._transport is None:
            return
        try:
            body = message.encode()
            resp = h11.Response(
                status_code=status,
                headers=[("content-length", str(len(body))), ("connection", "close")],
            )
            self._transport.write(
                (self._h11.send(resp) or b"") + (self._h11.send(h11.Data(body)) or b"")
            )
        except h11.LocalProtocolError:
            pass
        self._transport.close()
