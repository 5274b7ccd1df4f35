"""A lean HTTP/2 server connection: the ``h2`` state machine on an asyncio ``Protocol``.

No framework on purpose: the sandbox shares the CPU with the clients it measures, and a bare h2
state machine answers several thousand requests per second per core. Answers that wait for the
configured latency are scheduled with ``loop.call_later`` so waiting never blocks the loop, and
all frames produced in one loop iteration leave in one ``transport.write``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import cast

import h2.errors
import h2.events
import h2.exceptions
import h2.settings
from hyperframe.frame import GoAwayFrame

from sandbox.h2tuning import H2_CONFIG, LeanH2Connection, PlainEncoder
from sandbox.messages import Answer, ConnInfo, H2Behaviour, Handler, Request, WireAction

log = logging.getLogger(__name__)

CONNECTION_WINDOW = 16 * 1024 * 1024  # big inbound window: payloads are small, streams many


class _Stream:
    __slots__ = ("answer", "body", "headers", "pending")

    def __init__(self, headers: list[tuple[str, str]]) -> None:
        self.headers = headers
        self.body = bytearray()
        self.pending: bytes = b""  # answer body waiting for flow-control window
        self.answer: Answer | None = None  # settled when its last frame is written

    def abandon(self) -> None:
        if self.answer is not None:
            self.answer.settle(False)


class H2ServerProtocol(asyncio.Protocol):
    def __init__(
        self,
        handler: Handler,
        conn: ConnInfo,
        on_close: Callable[[], None],
        behaviour: H2Behaviour,
        on_over_limit: Callable[[bool], None],
    ) -> None:
        self._handler = handler
        self._info = conn
        self._on_close = on_close
        self._behaviour = behaviour
        self._on_over_limit = on_over_limit  # told True when the connection is closed for it
        self._settings_acked = False  # the client acknowledged our SETTINGS (and so the limit)
        self._conn = LeanH2Connection(config=H2_CONFIG)
        self._conn.encoder = PlainEncoder()
        self._conn.forget_at = 2 * behaviour.max_concurrent_streams
        self._transport: asyncio.Transport | None = None
        self._streams: dict[int, _Stream] = {}
        self._waiting = 0  # answers scheduled but not yet sent
        self._flush_scheduled = False
        self._closing = False
        self._goaway_from = 0  # streams from this id on were refused by our GOAWAY
        self._loop = asyncio.get_running_loop()
        self._unread: bytearray | None = None  # what arrived while our SETTINGS were held back

    # -- asyncio.Protocol ---------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, transport)  # uvloop's SSL transport is no subclass
        self._transport = transport
        if self._behaviour.settings_delay > 0:
            self._unread = bytearray()
            self._loop.call_later(self._behaviour.settings_delay, self._start)
        else:
            self._start()

    def _start(self) -> None:
        """Our SETTINGS (the stream limit) go out; then what the client sent is read."""
        if self._transport is None:
            return
        self._conn.local_settings = h2.settings.Settings(
            client=False,
            initial_values={
                h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: (
                    self._behaviour.max_concurrent_streams
                )
            },
        )
        self._conn.initiate_connection()
        self._conn.increment_flow_control_window(CONNECTION_WINDOW)
        self._transport.write(self._conn.data_to_send())
        unread, self._unread = self._unread, None
        if unread:
            self.data_received(bytes(unread))

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        for st in self._streams.values():  # answers still waiting for flow-control window
            st.abandon()
        self._streams.clear()
        self._on_close()

    def data_received(self, data: bytes) -> None:
        if self._transport is None:
            return
        if self._unread is not None:
            self._unread += data
            return
        try:
            events = self._conn.receive_data(data)
        except h2.exceptions.ProtocolError as exc:
            log.info("h2 protocol error from client: %s", exc)
            self._abort_with(h2.errors.ErrorCodes.PROTOCOL_ERROR)
            return
        for event in events:
            if self._transport is None:  # closed by one of these events (strict stream limit)
                return
            self._on_event(event)
        self._flush()

    # -- h2 events ----------------------------------------------------------------------------
    def _on_event(self, event: h2.events.Event) -> None:
        if isinstance(event, h2.events.RequestReceived):
            if len(self._streams) >= self._behaviour.max_concurrent_streams:
                self._over_limit(event.stream_id)
                return
            stream = _Stream(event.headers)  # type: ignore[arg-type]
            self._streams[event.stream_id] = stream
        elif isinstance(event, h2.events.DataReceived):
            sid = event.stream_id
            st = self._streams.get(sid)
            if st is not None and event.data:
                st.body += event.data
            if event.flow_controlled_length:
                self._conn.acknowledge_received_data(event.flow_controlled_length, sid)
        elif isinstance(event, h2.events.StreamEnded):  # h2 emits it after the request's last frame
            self._dispatch(event.stream_id)
        elif isinstance(event, h2.events.StreamReset):
            reset = self._streams.pop(event.stream_id, None)
            if reset is not None:
                reset.abandon()
        elif isinstance(event, h2.events.WindowUpdated):
            self._send_pending()
        elif isinstance(event, h2.events.SettingsAcknowledged):
            self._settings_acked = True
        elif isinstance(event, h2.events.ConnectionTerminated) and self._transport is not None:
            self._transport.close()

    def _over_limit(self, stream_id: int) -> None:
        """A stream beyond SETTINGS_MAX_CONCURRENT_STREAMS: its request is not processed. Its
        DATA frames, already parsed, find no stream here and are only acknowledged."""
        if self._behaviour.strict and self._settings_acked:
            self._on_over_limit(True)
            last_processed = max(stream_id - 2, 0)
            self._abort_with(h2.errors.ErrorCodes.PROTOCOL_ERROR, last_stream_id=last_processed)
            return
        self._on_over_limit(False)
        self._conn.reset_stream(stream_id, h2.errors.ErrorCodes.REFUSED_STREAM)

    def _dispatch(self, stream_id: int) -> None:
        st = self._streams.get(stream_id)
        if st is None or (self._closing and stream_id >= self._goaway_from):
            return
        method = path = ""
        headers: dict[str, str] = {}
        duplicates = False
        for name, value in st.headers:
            if name == ":method":
                method = value
            elif name == ":path":
                path = value
            elif name[0] != ":":
                if name in headers:
                    duplicates = True
                headers[name] = value
        req = Request(method, path, headers, bytes(st.body), self._info, duplicates)
        st.body = bytearray()
        try:
            answer = self._handler(req)
        except Exception:  # a sandbox bug must show as 500, not kill the connection
            log.exception("sandbox handler failed")
            answer = Answer(500, [("content-type", "application/json")], b'{"reason":"Sandbox"}')
        if answer.delay > 0 and answer.action is WireAction.ANSWER:  # faults act at once
            self._waiting += 1
            self._loop.call_later(answer.delay, self._answer_later, stream_id, answer)
        else:
            self._answer(stream_id, answer)

    def _answer_later(self, stream_id: int, answer: Answer) -> None:
        self._waiting -= 1
        if self._transport is None:
            answer.settle(False)  # the client went away while we waited
            return
        self._answer(stream_id, answer)
        self._schedule_flush()

    def _answer(self, stream_id: int, answer: Answer) -> None:
        if answer.action is WireAction.DROP:
            self._drop()
            return
        if answer.action is WireAction.GOAWAY:
            self._goaway(stream_id)
            return
        st = self._streams.get(stream_id)
        if st is None or self._transport is None:
            answer.settle(False)  # the client reset the stream meanwhile, or our GOAWAY did
            return
        headers = [(":status", str(answer.status)), *answer.headers]
        try:
            self._conn.send_headers(stream_id, headers, end_stream=not answer.body)
        except h2.exceptions.StreamClosedError:
            self._streams.pop(stream_id, None)
            answer.settle(False)
            return
        if answer.body:
            st.pending = answer.body
            st.answer = answer
            self._send_body(stream_id, st)
        else:
            del self._streams[stream_id]
            answer.settle(True)
        self._maybe_close()

    # -- flow control -------------------------------------------------------------------------
    def _send_body(self, stream_id: int, st: _Stream) -> None:
        """Send as much of the pending body as the peer's windows allow."""
        while st.pending:
            window = self._conn.local_flow_control_window(stream_id)
            size = min(window, self._conn.max_outbound_frame_size, len(st.pending))
            if size <= 0:
                return  # resumed by WindowUpdated
            chunk, st.pending = st.pending[:size], st.pending[size:]
            self._conn.send_data(stream_id, chunk, end_stream=not st.pending)
        self._streams.pop(stream_id, None)
        if st.answer is not None:
            st.answer.settle(True)

    def _send_pending(self) -> None:
        for sid, st in list(self._streams.items()):
            if st.pending:
                try:
                    self._send_body(sid, st)
                except h2.exceptions.StreamClosedError:
                    self._streams.pop(sid, None)
                    st.abandon()
        self._maybe_close()

    # -- connection-level faults ----------------------------------------------------------------
    def _drop(self) -> None:
        if self._transport is not None:
            self._transport.abort()

    def shut_down(self, action: WireAction) -> None:
        """Closed from the control API, as a gateway going away: a drop, or a GOAWAY whose last
        stream id covers every stream received so far (they are answered, then it closes)."""
        if action is WireAction.DROP or self._unread is not None:
            self._drop()  # (before our SETTINGS went out nothing was read: just close)
        else:
            self._goaway(self._conn.highest_inbound_stream_id + 2)

    def _goaway(self, stream_id: int) -> None:
        """GOAWAY as a server going down: this stream and later ones were not processed
        (``last_stream_id`` is below them), earlier streams still get their answers, then the
        connection closes. The frame is written by hand because h2's ``close_connection``
        moves its state machine to CLOSED, after which it refuses to send those answers."""
        if not self._closing and self._transport is not None:
            self._closing = True
            self._goaway_from = stream_id
            self._flush()
            frame = GoAwayFrame(
                0,
                last_stream_id=stream_id - 1,
                error_code=0,
                additional_data=b'{"reason":"Shutdown"}',
            )
            self._transport.write(frame.serialize())
        for sid in [s for s in self._streams if s >= self._goaway_from]:
            self._streams.pop(sid).abandon()
        self._maybe_close()

    def _maybe_close(self) -> None:
        if (
            self._closing
            and self._waiting == 0
            and not any(s.pending for s in self._streams.values())
        ):
            self._flush()
            if self._transport is not None:
                self._transport.close()

    def _abort_with(self, code: h2.errors.ErrorCodes, last_stream_id: int | None = None) -> None:
        """GOAWAY with an error, then close: streams still waiting for their answer are not
        answered (the client learns only that streams up to ``last_stream_id`` may have been
        processed)."""
        try:
            self._conn.close_connection(code, last_stream_id=last_stream_id)
            self._flush()
        except h2.exceptions.ProtocolError:
            pass  # h2 already closed its side: just close the socket
        finally:
            # Forget the transport now: answers still scheduled must find it gone (and settle
            # as not written) rather than write on a connection h2 considers closed.
            transport, self._transport = self._transport, None
            if transport is not None:
                transport.close()

    # -- writing ------------------------------------------------------------------------------
    def _schedule_flush(self) -> None:
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        data = self._conn.data_to_send()
        if data and self._transport is not None:
            self._transport.write(data)
