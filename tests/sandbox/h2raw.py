"""A bare h2 client for tests that must see frames as they are on the wire (GOAWAY, drops)."""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass, field

import h2.config
import h2.connection
import h2.errors
import h2.events
from hyperframe.frame import Frame, HeadersFrame


class _Unchecked(h2.connection.H2Connection):
    """h2 refuses to open more streams than the server allows; these tests must be able to."""

    def _open_streams(self, remainder: int) -> int:
        return 0


@dataclass
class WireResult:
    statuses: dict[int, int] = field(default_factory=dict)  # stream id -> :status
    resets: dict[int, int] = field(default_factory=dict)  # stream id -> RST_STREAM error code
    goaway: h2.events.ConnectionTerminated | None = None
    closed: bool = False  # the server closed the TCP connection
    remote_max_streams: int | None = None  # the server's SETTINGS_MAX_CONCURRENT_STREAMS
    answered_after_goaway: list[int] = field(default_factory=list)


async def send_on_one_connection(
    url: str,
    ctx: ssl.SSLContext,
    requests: list[tuple[str, dict[str, str], bytes]],
    gap: float = 0.0,
    timeout: float = 10.0,
    after_settings: bool = False,
) -> WireResult:
    """Send each (path, headers, body) as a stream on ONE connection, ``gap`` seconds apart,
    and read until every stream ended or was reset, or the server closed the connection.
    Answers that arrive after a GOAWAY are still recorded (h2 itself would refuse them). With
    ``after_settings``, nothing is sent before the server's SETTINGS arrived and were
    acknowledged; otherwise the requests leave at once, as a client that does not wait."""
    host, port = url.removeprefix("https://").rsplit(":", 1)
    ctx.set_alpn_protocols(["h2"])
    reader, writer = await asyncio.open_connection(host, int(port), ssl=ctx)
    conn = _Unchecked(h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    result = WireResult()
    pending: set[int] = set()

    raw = bytearray()  # after a GOAWAY h2 refuses every frame, so frames are parsed by hand

    def on_bytes(data: bytes) -> None:
        if result.goaway is None:
            for ev in conn.receive_data(data):
                if isinstance(ev, h2.events.ResponseReceived):
                    result.statuses[ev.stream_id] = int(dict(ev.headers)[b":status"])
                elif isinstance(ev, h2.events.StreamEnded):
                    pending.discard(ev.stream_id)
                elif isinstance(ev, h2.events.ConnectionTerminated):
                    result.goaway = ev
                elif isinstance(ev, h2.events.StreamReset):
                    result.resets[ev.stream_id] = int(ev.error_code)
                    pending.discard(ev.stream_id)
                elif isinstance(ev, h2.events.RemoteSettingsChanged):
                    result.remote_max_streams = conn.remote_settings.max_concurrent_streams
                    settings.set()
            writer.write(conn.data_to_send())
            return
        raw.extend(data)
        while len(raw) >= 9:
            frame, length = Frame.parse_frame_header(memoryview(raw[:9]))
            if len(raw) < 9 + length:
                return
            frame.parse_body(memoryview(raw[9 : 9 + length]))
            del raw[: 9 + length]
            if isinstance(frame, HeadersFrame):
                status = dict(conn.decoder.decode(frame.data, raw=True))[b":status"]
                result.statuses[frame.stream_id] = int(status)
                result.answered_after_goaway.append(frame.stream_id)

    async def read_until(done: asyncio.Event) -> None:
        while True:
            try:
                data = await reader.read(65536)
            except (OSError, ssl.SSLError):  # a reset is how an aborted TLS connection may end
                data = b""
            if not data:
                result.closed = True
                done.set()
                return
            on_bytes(data)
            if not pending and len(result.statuses) + len(result.resets) == len(requests):
                done.set()

    done = asyncio.Event()
    settings = asyncio.Event()
    reading = asyncio.create_task(read_until(done))
    if after_settings:
        await asyncio.wait_for(settings.wait(), timeout)
        await writer.drain()  # our SETTINGS ACK left with the read loop's write
    for i, (path, headers, body) in enumerate(requests):
        if i and gap:
            await asyncio.sleep(gap)
        sid = conn.get_next_available_stream_id()
        hdrs = [
            (":method", "POST"),
            (":scheme", "https"),
            (":authority", host),
            (":path", path),
            *headers.items(),
        ]
        conn.send_headers(sid, hdrs)
        conn.send_data(sid, body, end_stream=True)
        pending.add(sid)
        writer.write(conn.data_to_send())
    try:
        await asyncio.wait_for(done.wait(), timeout)
    finally:
        reading.cancel()
        writer.close()
    return result


async def send_then_cancel(
    url: str,
    ctx: ssl.SSLContext,
    cancelled: tuple[str, dict[str, str], bytes],
    kept: tuple[str, dict[str, str], bytes] | None,
    timeout: float = 10.0,
) -> int | None:
    """Send ``cancelled`` and reset its stream (RST_STREAM CANCEL) at once; then send ``kept``
    on the same connection and return its status. Without ``kept``, close the connection instead
    (a client that died): returns None."""
    host, port = url.removeprefix("https://").rsplit(":", 1)
    ctx.set_alpn_protocols(["h2"])
    reader, writer = await asyncio.open_connection(host, int(port), ssl=ctx)
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()

    def send(path: str, headers: dict[str, str], body: bytes) -> int:
        sid = conn.get_next_available_stream_id()
        base = [(":method", "POST"), (":scheme", "https"), (":authority", host), (":path", path)]
        conn.send_headers(sid, [*base, *headers.items()])
        conn.send_data(sid, body, end_stream=True)
        return sid

    try:
        first = send(*cancelled)
        if kept is None:
            writer.write(conn.data_to_send())
            await writer.drain()
            return None
        conn.reset_stream(first, h2.errors.ErrorCodes.CANCEL)
        second = send(*kept)
        writer.write(conn.data_to_send())
        async with asyncio.timeout(timeout):
            while True:
                data = await reader.read(65536)
                if not data:
                    raise ConnectionError("sandbox closed the connection")
                for ev in conn.receive_data(data):
                    if isinstance(ev, h2.events.ResponseReceived) and ev.stream_id == second:
                        return int(dict(ev.headers)[b":status"])
                writer.write(conn.data_to_send())
    finally:
        writer.close()
