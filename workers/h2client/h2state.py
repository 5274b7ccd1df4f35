"""The ``h2`` client state machine as the push connection uses it: cheaper where profiling
showed h2's generality cost CPU, and able to read the answers a GOAWAY still lets through."""

from __future__ import annotations

from typing import Any

import h2.config
import h2.connection
import h2.events
import hpack

# Measured (cProfile, 5,000 pushes): h2's outbound header normalisation/validation and HPACK's
# Huffman coding were over half of the client's CPU. Our headers are built lowercase and valid by
# the gateways' request modules, so both checks are skipped; header values go out as literals.
CONFIG = h2.config.H2Configuration(
    client_side=True, header_encoding=None, validate_outbound_headers=False,
    normalize_outbound_headers=False, validate_inbound_headers=False)


class PlainEncoder(hpack.Encoder):
    """HPACK without Huffman: a few more bytes per request, a fraction of the CPU."""

    def encode(self, headers: Any, huffman: bool = False) -> bytes:
        return super().encode(headers, huffman=False)


class LeanH2Connection(h2.connection.H2Connection):
    """h2 counts open streams by scanning every stream it knows on each new stream: O(streams in
    flight) per request. Profiled at 1,000 in flight it was a quarter of a worker's CPU. Below
    the server's limit the dict's size (open plus not yet forgotten closed streams) is an upper
    bound that passes the same check; the full scan (which also forgets the closed streams) runs
    only when the dict reaches the limit."""

    def __init__(self, config: h2.config.H2Configuration) -> None:
        super().__init__(config)
        # The events of the frames read so far in one ``receive_data`` call: h2 raises on a bad
        # frame and drops the events of the good frames before it, answers among them.
        self.received: list[h2.events.Event] = []

    def _open_streams(self, remainder: int) -> int:
        if len(self.streams) < (self.remote_settings.max_concurrent_streams or 0):
            return len(self.streams)
        return super()._open_streams(remainder)

    def forget(self, stream_id: int) -> None:
        """Forget a stream as soon as it is closed, as the full scan would (it remembers how it
        closed, for late frames). Without this the dict keeps closed streams until it reaches
        the server's limit, and a window as large as the limit (1,000 sends on one connection
        announcing 1,000) then stays there: the scan ran on every new stream."""
        stream = self.streams.get(stream_id)
        if stream is not None and stream.closed:
            del self.streams[stream_id]
            self._closed_streams[stream_id] = stream.closed_by

    def _receive_frame(self, frame: Any) -> list[h2.events.Event]:
        events = super()._receive_frame(frame)
        self.received.extend(events)
        return events

    def _receive_goaway_frame(self, frame: Any) -> tuple[list[Any], list[h2.events.Event]]:
        """h2 closes its state machine on GOAWAY and then refuses every later frame, so the
        answers of streams at or below ``last_stream_id``, which the server still sends (RFC
        9113 section 6.8), would be lost and their sends (already processed) made again. The
        state is kept open to read them; H2ClientProtocol opens no new stream after a GOAWAY.
        h2 also drops its unsent output here: H2ClientProtocol fails those requests NotSent."""
        state = self.state_machine.state
        frames, events = super()._receive_goaway_frame(frame)
        if state is not h2.connection.ConnectionState.CLOSED:
            self.state_machine.state = state
        return frames, events
