"""One ``transport.write`` per answer instead of two: uvicorn's httptools protocol writes the
status line and headers as soon as the app sends ``http.response.start`` and the body, in a
second write, on ``http.response.body``. Each write is a ``send`` system call (and usually a TCP
segment of its own); for a 1-token push the two writes were ~17 % of the served API's CPU in a
py-spy profile (docs/benchmarks.md, Intake).

``HeadHoldingTransport`` stands between one request's ``RequestResponseCycle`` and the
connection's transport. It holds the head back only when the answer has a ``Content-Length``
above zero, is not chunked and is not to a ``HEAD`` request: then a body write must follow, and
the head goes out joined with it. Any other call (``close``, another write) sends what is held
first, so nothing is lost or reordered: a cycle that fails after its head still closes the
connection through here. Streaming and chunked answers pass straight through.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import RequestResponseCycle


class HeadHoldingTransport:
    """The transport as one cycle sees it (see the module docstring)."""

    __slots__ = ("_cycle", "_held", "_transport")

    def __init__(self, transport: asyncio.Transport, cycle: RequestResponseCycle) -> None:
        self._transport = transport
        self._cycle = cycle
        self._held: bytes | None = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        held = self._held
        if held is not None:
            self._held = None
            self._transport.write(held + bytes(data))
            return
        cycle = self._cycle
        if (not cycle.response_started or cycle.chunked_encoding is not False
                or cycle.expected_content_length <= 0 or cycle.scope["method"] == "HEAD"):
            self._transport.write(data)
            return
        if cycle.response_complete:  # never held past the answer's end
            self._transport.write(data)
            return
        self._held = bytes(data)

    def flush(self) -> None:
        """Send what is held, if anything."""
        if self._held is not None:
            held, self._held = self._held, None
            self._transport.write(held)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def __getattr__(self, name: str) -> Any:
        self.flush()
        return getattr(self._transport, name)
