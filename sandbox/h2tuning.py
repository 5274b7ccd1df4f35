"""The ``h2`` server state machine tuned for the sandbox: the sandbox shares the CPU with the
clients it measures, so what profiling showed h2 and hpack spending per request is cut here."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import h2.config
import h2.connection
import hpack
import hpack.hpack

# Header validation is off: h2 re-checks every character of every header in Python (~15% of
# the sandbox's CPU), and the clients under test are h2/httpx, which validate what they send.
H2_CONFIG = h2.config.H2Configuration(
    client_side=False,
    header_encoding="utf-8",
    validate_inbound_headers=False,
    validate_outbound_headers=False,
    normalize_outbound_headers=False,
)


class LeanH2Connection(h2.connection.H2Connection):
    """h2 enforces SETTINGS_MAX_CONCURRENT_STREAMS by raising for the whole connection, which
    leaves no way to refuse just the one stream: ``H2ServerProtocol`` enforces the limit itself,
    so h2's check is told no stream is open. h2's count is also a scan of every stream it knows
    (O(streams in flight) per request, more than answering costs at 1,000 in flight); the scan
    is still needed because it forgets closed streams, so it runs once the dict holds
    ``forget_at`` streams, which is twice the limit: amortised O(1) per stream."""

    forget_at = 2000

    def _open_streams(self, remainder: int) -> int:
        if len(self.streams) >= self.forget_at:
            super()._open_streams(remainder)
        return 0


class PlainEncoder(hpack.Encoder):
    """HPACK without Huffman coding for answers: our values (apns-id, ids) are unique, so the
    pure-Python Huffman encoder would cost CPU on every answer for a few bytes of loopback."""

    def encode(self, headers: Any, huffman: bool = True) -> bytes:
        return super().encode(headers, huffman=False)


def install_huffman_cache() -> None:
    """Memoise hpack's pure-Python Huffman decoder in this process.

    h2 clients send ``authorization`` as a never-indexed literal (RFC 7541 section 7.1.3), so the
    ~200-character provider JWT arrives Huffman-coded on every request and decoding it was over
    half of the sandbox's CPU per request. The same JWT repeats for up to an hour, so a small
    cache turns that into a dict lookup. Only the sandbox process calls this.
    """
    original: Callable[[bytes], bytes] | None = getattr(hpack.hpack, "decode_huffman", None)
    if original is None or getattr(original, "cache_info", None) is not None:
        return  # another hpack layout (only slower), or already installed

    decode = original

    @functools.lru_cache(maxsize=4096)
    def cached(data: bytes) -> bytes:
        return decode(data)

    def decode_huffman(data: bytes | memoryview) -> bytes:
        return cached(bytes(data))

    decode_huffman.cache_info = cached.cache_info  # type: ignore[attr-defined]
    setattr(hpack.hpack, "decode_huffman", decode_huffman)  # noqa: B010
