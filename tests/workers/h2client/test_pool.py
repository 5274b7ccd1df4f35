"""The shared raw-h2 client against a tiny local h2 server over TLS that enforces its own
SETTINGS_MAX_CONCURRENT_STREAMS (h2 refuses a stream over the limit as a protocol error): the
client keeps within the server's limit, the pool opens another connection when all are full,
requests the server did not process (refused, above a GOAWAY's last stream) go out again, and
answers that arrived are delivered whatever happens to the connection next."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.settings
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hyperframe.frame import GoAwayFrame

from workers.delivery.runtime import new_loop
from workers.h2client import ConnectionPool, Response, tls_context


def self_signed(tmp: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=1))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = tmp / "cert.pem", tmp / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


@dataclass
class ServerStats:
    max_streams: int
    goaway_first: bool = False  # GOAWAY (nothing processed) on the first connection's request
    refuse: int = 0  # so many of the first streams are refused (RST_STREAM REFUSED_STREAM)
    # On the first connection, once this stream id arrives: GOAWAY with the stream before it
    # as last_stream_id; the streams up to there are answered, then the connection closes.
    goaway_at: int | None = None
    # On the first connection, this many answers, the last together with a malformed frame.
    break_after_answers: int | None = None
    lower_to: int | None = None  # new SETTINGS with this limit on the first request
    connections: int = 0
    open_now: int = 0
    most_open: int = 0
    answered: int = 0
    processed: Counter[bytes] = field(default_factory=Counter)  # :path -> times answered
    errors: list[str] = field(default_factory=list)


class H2Server(asyncio.Protocol):
    def __init__(self, stats: ServerStats) -> None:
        self.stats = stats
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
        self.transport: asyncio.Transport | None = None
        self.number = 0
        self.goaway_sent = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.stats.connections += 1
        self.number = self.stats.connections
        self.conn.local_settings = h2.settings.Settings(client=False, initial_values={
            h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: self.stats.max_streams})
        self.conn.initiate_connection()
        self.transport.write(self.conn.data_to_send())

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        try:
            events = self.conn.receive_data(data)
        except Exception as exc:  # over the limit: h2 raises TooManyStreamsError
            self.stats.errors.append(repr(exc))
            self.transport.close()
            return
        for event in events:
            if isinstance(event, h2.events.RequestReceived):
                first = self.number == 1
                if self.stats.lower_to is not None and event.stream_id == 1:
                    # h2 enforces the new limit from the client's ACK on: a stream over it
                    # is a protocol error (``errors``).
                    self.conn.update_settings(
                        {h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: self.stats.lower_to})
                if self.stats.goaway_first and first:
                    self.conn.close_connection(last_stream_id=0)  # processed nothing
                    break
                if self.stats.refuse > 0:
                    self.stats.refuse -= 1
                    self.conn.reset_stream(event.stream_id, h2.errors.ErrorCodes.REFUSED_STREAM)
                    continue
                if first and event.stream_id == self.stats.goaway_at:
                    # By hand: h2's close_connection would refuse the answers still due.
                    self.goaway_sent = True
                    goaway = GoAwayFrame(0, last_stream_id=event.stream_id - 2, error_code=0)
                    self.transport.write(self.conn.data_to_send() + goaway.serialize())
                if self.goaway_sent and event.stream_id >= (self.stats.goaway_at or 0):
                    continue  # not processed
                self.stats.open_now += 1
                self.stats.most_open = max(self.stats.most_open, self.stats.open_now)
                path = dict(event.headers)[b":path"]
                asyncio.get_running_loop().call_later(0.02, self.answer, event.stream_id, path)
            elif isinstance(event, h2.events.DataReceived):
                self.conn.acknowledge_received_data(event.flow_controlled_length,
                                                    event.stream_id)
        self.transport.write(self.conn.data_to_send())

    def answer(self, stream_id: int, path: bytes) -> None:
        assert self.transport is not None
        self.stats.open_now -= 1
        if self.transport.is_closing():
            return
        self.stats.answered += 1
        self.stats.processed[path] += 1
        self.conn.send_headers(stream_id, [(":status", "200")], end_stream=True)
        data = self.conn.data_to_send()
        if self.stats.answered == self.stats.break_after_answers and self.number == 1:
            # A PING must be 8 bytes long: this one (4) is a protocol error for the client,
            # arriving in the same read as the answer before it.
            self.transport.write(data + b"\x00\x00\x04\x06\x00\x00\x00\x00\x00" + b"\x00" * 4)
            self.transport.close()
            return
        self.transport.write(data)
        if self.goaway_sent and self.stats.open_now == 0:
            self.transport.close()


HEADERS = [(b":method", b"POST"), (b":scheme", b"https"), (b":authority", b"127.0.0.1"),
           (b":path", b"/send"), (b"content-length", b"2")]


def with_server(tmp_path: Path, stats: ServerStats,
                body: Callable[[ConnectionPool], Awaitable[Any]], size: int) -> Any:
    cert, key = self_signed(tmp_path)
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(cert, key)
    server_ctx.set_alpn_protocols(["h2"])

    async def main() -> Any:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: H2Server(stats), "127.0.0.1", 0,
                                          ssl=server_ctx)
        port = server.sockets[0].getsockname()[1]
        pool = ConnectionPool(f"https://127.0.0.1:{port}", tls_context(cert), size, 5)
        try:
            return await body(pool)
        finally:
            await pool.close()
            server.close()

    with asyncio.Runner(loop_factory=new_loop) as runner:
        return runner.run(main())


async def send_all(pool: ConnectionPool, n: int) -> list[int]:
    answers = await asyncio.gather(*(pool.request(HEADERS, b"{}", 5) for _ in range(n)))
    return [a.status for a in answers]


def numbered(i: int) -> list[tuple[bytes, bytes]]:
    return [(k, f"/send/{i}".encode() if k == b":path" else v) for k, v in HEADERS]


async def send_numbered(pool: ConnectionPool, n: int) -> list[int | str]:
    """``n`` requests with distinct paths at once: each one's status, or its exception's name."""
    answers = await asyncio.gather(*(pool.request(numbered(i), b"{}", 5) for i in range(n)),
                                   return_exceptions=True)
    return [a.status if isinstance(a, Response) else type(a).__name__ for a in answers]


def test_keeps_within_the_servers_stream_limit(tmp_path: Path) -> None:
    stats = ServerStats(max_streams=3)
    statuses = with_server(tmp_path, stats, lambda pool: send_all(pool, 30), size=1)
    assert statuses == [200] * 30 and not stats.errors
    assert stats.most_open == 3 and stats.connections == 1


def test_opens_another_connection_when_all_are_full(tmp_path: Path) -> None:
    stats = ServerStats(max_streams=3)
    statuses = with_server(tmp_path, stats, lambda pool: send_all(pool, 12), size=2)
    assert statuses == [200] * 12 and not stats.errors
    assert stats.connections == 2 and stats.most_open == 6


def test_follows_the_server_lowering_its_stream_limit(tmp_path: Path) -> None:
    stats = ServerStats(max_streams=10, lower_to=2)
    statuses = with_server(tmp_path, stats, lambda pool: send_all(pool, 30), size=1)
    assert statuses == [200] * 30 and not stats.errors
    assert stats.connections == 1


def test_a_request_above_goaways_last_stream_goes_out_on_a_new_connection(
    tmp_path: Path,
) -> None:
    stats = ServerStats(max_streams=10, goaway_first=True)

    async def body(pool: ConnectionPool) -> list[int]:
        first = await pool.request(HEADERS, b"{}", 5)  # not processed: sent again at once
        return [first.status, *await send_all(pool, 5)]

    assert with_server(tmp_path, stats, body, size=1) == [200] * 6
    assert stats.connections == 2 and stats.answered == 6


def test_refused_streams_are_sent_again_without_failing(tmp_path: Path) -> None:
    stats = ServerStats(max_streams=100, refuse=8)
    assert with_server(tmp_path, stats, lambda pool: send_numbered(pool, 20), size=1) == [200] * 20
    assert stats.processed == Counter(f"/send/{i}".encode() for i in range(20))


def test_after_goaway_the_streams_below_it_are_answered_and_the_rest_resent(
    tmp_path: Path,
) -> None:
    stats = ServerStats(max_streams=100, goaway_at=11)  # streams 1..9 processed, 11.. not
    assert with_server(tmp_path, stats, lambda pool: send_numbered(pool, 20), size=1) == [200] * 20
    assert stats.processed == Counter(f"/send/{i}".encode() for i in range(20))  # none twice
    assert stats.connections == 2


def test_answers_that_arrived_survive_the_connection_breaking_right_after(
    tmp_path: Path,
) -> None:
    stats = ServerStats(max_streams=100, break_after_answers=5)
    outcomes = with_server(tmp_path, stats, lambda pool: send_numbered(pool, 5), size=1)
    # The fifth answer comes in one write with a malformed frame: it is delivered like the
    # others, not reported lost (which would send it again).
    assert outcomes == [200] * 5
    assert stats.processed == Counter(f"/send/{i}".encode() for i in range(5))
