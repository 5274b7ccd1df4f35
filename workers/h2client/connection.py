"""One long-lived HTTP/2 client connection: the ``h2`` state machine on an asyncio Protocol.
Both gateways (APNs and FCM v1) send through it.

Why not httpx: measured on this machine, httpx costs ~1.2 ms of CPU per request and caps local
streams at 100; ``h2`` driven directly costs ~0.2 ms (docs/delivery.md). This module does only what
a push gateway needs: POST with a small body, many concurrent streams within the server's
SETTINGS_MAX_CONCURRENT_STREAMS, flow control, and GOAWAY.

The stream limit is known only once the server's SETTINGS frame has arrived (until then h2
reports "unlimited"), so no stream is opened before it; later changes are followed (APNs lowers
the limit to 1 after a rejected token and raises it again). What a failed request may have done
decides how it fails: ``NotSent`` when the server cannot have processed it (refused with
REFUSED_STREAM, above a GOAWAY's last stream id, or never completely written), so it may go out
again at once; ``ConnectionLost`` when it may have been processed. An answer already received
is delivered to its caller whatever happens to the connection afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections import deque
from dataclasses import dataclass, field
from typing import cast

import h2.errors
import h2.events
import h2.exceptions
import h2.settings

from workers.h2client.h2state import CONFIG, LeanH2Connection, PlainEncoder

# A server whose SETTINGS name no stream limit allows "unlimited"; RFC 9113 recommends servers
# allow at least 100, so that many is what we open on it.
UNANNOUNCED_STREAM_LIMIT = 100


class ConnectionLost(Exception):
    """The request may or may not have reached the gateway: retry through the queue."""


class NotSent(ConnectionLost):
    """The gateway cannot have processed this request (refused stream, not covered by a
    GOAWAY, or not completely written): safe to send elsewhere now, no attempt spent."""


@dataclass
class Response:
    status: int
    headers: dict[bytes, bytes]
    body: bytes

    def retry_after(self) -> float | None:
        """The gateway's ``Retry-After`` in seconds (both gateways send the delta form)."""
        raw = self.headers.get(b"retry-after")
        try:
            return float(raw) if raw is not None else None
        except ValueError:
            return None


@dataclass
class _Stream:
    future: asyncio.Future[Response]
    status: int = 0
    headers: dict[bytes, bytes] = field(default_factory=dict)
    body: bytearray = field(default_factory=bytearray)
    pending: bytes = b""  # request body not yet sent for want of flow-control window
    written: bool = False  # the request's last frame was handed to the transport


class H2ClientProtocol(asyncio.Protocol):
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.h2 = LeanH2Connection(CONFIG)
        self.h2.encoder = PlainEncoder()
        self.transport: asyncio.Transport | None = None
        self.streams: dict[int, _Stream] = {}
        self.closed = False  # no new streams (GOAWAY received or connection lost)
        self.settings_known = False  # the server's first SETTINGS frame has arrived
        self.settings_received: asyncio.Future[None] = loop.create_future()
        self._capacity_waiters: deque[asyncio.Future[None]] = deque()
        self._flush_scheduled = False
        self._unwritten: list[_Stream] = []  # requests complete in h2's buffer, not yet written

    # --- asyncio callbacks ---------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass
        self.h2.local_settings = h2.settings.Settings(
            client=True, initial_values={h2.settings.SettingCodes.ENABLE_PUSH: 0})
        self.h2.initiate_connection()
        self._flush()

    def data_received(self, data: bytes) -> None:
        self.h2.received.clear()
        try:
            events = self.h2.receive_data(data)
        except h2.exceptions.ProtocolError as exc:
            for event in self.h2.received:  # answers that came before the bad frame
                self._on_event(event)
            self._fail_all(f"HTTP/2 protocol error: {exc}")
            if self.transport:
                self.transport.close()
            return
        for event in events:
            self._on_event(event)
        self._flush()
        if self.closed and not self.streams and self.transport:  # GOAWAY'd and drained
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail_all(f"connection lost: {exc or 'closed by peer'}")

    # --- h2 events -----------------------------------------------------------------------
    def _on_event(self, event: h2.events.Event) -> None:
        if isinstance(event, h2.events.ResponseReceived):
            stream = self.streams.get(event.stream_id)
            if stream is not None:
                for name, value in event.headers:
                    if name == b":status":
                        stream.status = int(value)
                    else:
                        stream.headers[name] = value
        elif isinstance(event, h2.events.DataReceived):
            stream = self.streams.get(event.stream_id)
            if stream is not None:
                stream.body += event.data
            with contextlib.suppress(h2.exceptions.ProtocolError):  # h2 closed after an error
                self.h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
        elif isinstance(event, h2.events.StreamEnded):
            self.h2.forget(event.stream_id)
            stream = self.streams.pop(event.stream_id, None)
            if stream is not None and not stream.future.done():
                stream.future.set_result(Response(stream.status, stream.headers,
                                                  bytes(stream.body)))
            self._wake_one()
        elif isinstance(event, h2.events.StreamReset):
            self.h2.forget(event.stream_id)
            if event.error_code == h2.errors.ErrorCodes.REFUSED_STREAM:  # RFC 9113 section 8.7
                self._fail_stream(event.stream_id, NotSent("stream refused by the server"))
            else:
                self._fail_stream(event.stream_id, ConnectionLost(
                    f"stream reset by server (error {event.error_code})"))
        elif isinstance(event, h2.events.WindowUpdated):
            self._send_pending()
        elif isinstance(event, h2.events.RemoteSettingsChanged):
            self.settings_known = True
            if not self.settings_received.done():
                self.settings_received.set_result(None)
            self._wake_all()
        elif isinstance(event, h2.events.ConnectionTerminated):
            # GOAWAY: streams above last_stream_id were not processed; the rest may finish.
            self.closed = True
            last = event.last_stream_id or 0
            why = f"GOAWAY (error {event.error_code}, last stream {last}): not processed"
            unwritten = {id(stream) for stream in self._unwritten}  # h2 dropped their frames
            for sid in [s for s, st in self.streams.items() if s > last or id(st) in unwritten]:
                self._fail_stream(sid, NotSent(why))
            self._unwritten.clear()
            self._wake_all()

    def _fail_stream(self, stream_id: int, exc: Exception) -> None:
        stream = self.streams.pop(stream_id, None)
        if stream is not None and not stream.future.done():
            stream.future.set_exception(exc)
        self._wake_one()

    def _fail_all(self, why: str) -> None:
        """The connection is gone: requests not completely written cannot have been processed;
        the others may have been."""
        self.closed = True
        if not self.settings_received.done():
            self.settings_received.set_exception(NotSent(why))
        for sid, stream in list(self.streams.items()):
            unsent = stream.pending or not stream.written
            self._fail_stream(sid, NotSent(why) if unsent else ConnectionLost(why))
        self._wake_all()

    # --- capacity --------------------------------------------------------------------------
    @property
    def max_streams(self) -> int:
        """How many streams the server allows now: none before its SETTINGS arrived."""
        if not self.settings_known:
            return 0
        limit = self.h2.remote_settings.max_concurrent_streams
        return UNANNOUNCED_STREAM_LIMIT if limit > 2**31 - 1 else limit

    def has_capacity(self) -> bool:
        return not self.closed and len(self.streams) < self.max_streams

    async def wait_capacity(self) -> None:
        while not self.has_capacity():
            if self.closed:
                raise NotSent("connection closed before the request was sent")
            fut: asyncio.Future[None] = self.loop.create_future()
            self._capacity_waiters.append(fut)
            await fut

    def _wake_one(self) -> None:
        while self._capacity_waiters:
            fut = self._capacity_waiters.popleft()
            if not fut.done():
                fut.set_result(None)
                return

    def _wake_all(self) -> None:
        while self._capacity_waiters:
            fut = self._capacity_waiters.popleft()
            if not fut.done():
                fut.set_result(None)

    # --- requests --------------------------------------------------------------------------
    async def request(self, headers: list[tuple[bytes, bytes]], body: bytes,
                      timeout: float) -> Response:
        await self.wait_capacity()
        sid = self.h2.get_next_available_stream_id()
        fut: asyncio.Future[Response] = self.loop.create_future()
        stream = _Stream(fut, pending=body)
        self.streams[sid] = stream
        self.h2.send_headers(sid, headers, end_stream=not body)
        if body:
            self._send_body(sid, stream)
        if not stream.pending:
            self._unwritten.append(stream)
        self._schedule_flush()
        timer = self.loop.call_later(timeout, self._timeout, sid)
        try:
            return await fut
        finally:
            timer.cancel()

    def _timeout(self, sid: int) -> None:
        if sid in self.streams:
            with contextlib.suppress(h2.exceptions.H2Error):
                self.h2.reset_stream(sid)
            self.h2.forget(sid)
            self._fail_stream(sid, TimeoutError("no answer from the gateway in time"))
            self._schedule_flush()

    def _send_body(self, sid: int, stream: _Stream) -> None:
        window = min(self.h2.local_flow_control_window(sid), self.h2.max_outbound_frame_size)
        if window <= 0:
            return
        chunk, stream.pending = stream.pending[:window], stream.pending[window:]
        self.h2.send_data(sid, chunk, end_stream=not stream.pending)
        if stream.pending:
            self._send_body(sid, stream)

    def _send_pending(self) -> None:
        for sid, stream in list(self.streams.items()):
            if stream.pending:
                try:
                    self._send_body(sid, stream)
                except h2.exceptions.H2Error as exc:
                    self._fail_stream(sid, ConnectionLost(str(exc)))
                if not stream.pending:
                    self._unwritten.append(stream)

    def _schedule_flush(self) -> None:
        # Coalesce: one transport write per loop iteration however many requests were started.
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self.loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        data = self.h2.data_to_send()
        if data and self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)
            for stream in self._unwritten:
                stream.written = True
            self._unwritten.clear()

    def close(self) -> None:
        self.closed = True
        if self.transport is not None and not self.transport.is_closing():
            try:
                self.h2.close_connection()
                self._flush()
            except h2.exceptions.H2Error:
                pass
            self.transport.close()


async def open_connection(host: str, port: int, ssl_context: ssl.SSLContext,
                          timeout: float) -> H2ClientProtocol:
    """Connect and wait for the server's SETTINGS (its stream limit), all within ``timeout``."""
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(timeout):
        _transport, protocol = await loop.create_connection(
            lambda: H2ClientProtocol(loop), host, port, ssl=ssl_context, server_hostname=host)
        try:
            await protocol.settings_received
        except BaseException:
            protocol.close()
            raise
    return protocol
