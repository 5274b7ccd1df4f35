"""The client's h2 tuning still hooks into the installed h2: its overrides are of private
methods, and an h2 that stopped calling them would silently bring back the cost (stream count)
or the lost answers (GOAWAY, bad frame)."""

from __future__ import annotations

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import pytest
from hyperframe.frame import GoAwayFrame, HeadersFrame, SettingsFrame

from workers.h2client.h2state import CONFIG, LeanH2Connection

HEADERS = [(b":method", b"POST"), (b":scheme", b"https"), (b":authority", b"127.0.0.1"),
           (b":path", b"/send")]


def client_with_two_streams() -> tuple[LeanH2Connection, h2.connection.H2Connection]:
    client = LeanH2Connection(CONFIG)
    client.initiate_connection()
    server = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
    server.initiate_connection()
    server.receive_data(client.data_to_send())
    client.receive_data(server.data_to_send())
    client.send_headers(1, HEADERS, end_stream=True)
    client.send_headers(3, HEADERS, end_stream=True)
    server.receive_data(client.data_to_send())
    server.data_to_send()
    return client, server


def test_lean_stream_count_still_hooks_into_h2() -> None:
    """The connection overrides h2's private ``_open_streams`` (an O(streams) scan it runs on
    every new stream)."""
    assert "_open_streams" in vars(h2.connection.H2Connection)
    calls: list[int] = []

    class Counting(LeanH2Connection):
        def _open_streams(self, remainder: int) -> int:
            calls.append(remainder)
            return super()._open_streams(remainder)

    conn = Counting(CONFIG)
    conn.initiate_connection()
    conn.send_headers(1, HEADERS, end_stream=True)
    assert calls and conn.open_outbound_streams == 1


def test_answers_below_a_goaway_are_still_read() -> None:
    client, server = client_with_two_streams()
    answer = server.encoder.encode([(":status", "200")])
    wire = GoAwayFrame(0, last_stream_id=1).serialize()
    wire += HeadersFrame(1, answer, flags=["END_HEADERS", "END_STREAM"]).serialize()
    events = client.receive_data(wire)
    assert [type(e) for e in events] == [h2.events.ConnectionTerminated,
                                         h2.events.ResponseReceived, h2.events.StreamEnded]
    plain = h2.connection.H2Connection(CONFIG)  # what h2 alone does with the same frames
    plain.initiate_connection()
    plain.receive_data(SettingsFrame(0).serialize())
    plain.send_headers(1, HEADERS, end_stream=True)
    with pytest.raises(h2.exceptions.ProtocolError):
        plain.receive_data(wire)


def test_events_before_a_bad_frame_are_kept() -> None:
    client, server = client_with_two_streams()
    server.send_headers(1, [(":status", "200")], end_stream=True)
    bad_ping = b"\x00\x00\x04\x06\x00\x00\x00\x00\x00" + b"\x00" * 4
    client.received.clear()
    with pytest.raises(h2.exceptions.ProtocolError):
        client.receive_data(server.data_to_send() + bad_ping)
    assert [type(e) for e in client.received] == [h2.events.ResponseReceived,
                                                  h2.events.StreamEnded]
