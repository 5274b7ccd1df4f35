"""The hpack/h2 tuning the sandbox relies on for speed still applies to the installed versions
(a renamed internal would silently make the sandbox ~2x slower, not wrong)."""

from __future__ import annotations

import inspect
from typing import Any

import h2.config
import h2.connection
import hpack
import hpack.hpack
import pytest
from hpack.struct import NeverIndexedHeaderTuple

from sandbox.h2tuning import LeanH2Connection, install_huffman_cache


def test_huffman_cache_decodes_never_indexed_jwt_once(monkeypatch: pytest.MonkeyPatch) -> None:
    original = getattr(hpack.hpack, "decode_huffman")  # noqa: B009 - not in hpack's public API
    monkeypatch.setattr(hpack.hpack, "decode_huffman", original)  # restored after the test
    install_huffman_cache()
    decode: Any = getattr(hpack.hpack, "decode_huffman")  # noqa: B009
    assert decode is not original
    jwt_value = "bearer eyJhbGciOiJFUzI1NiIsImtpZCI6IkFCQ0RFRkdISUoifQ." + "x" * 150
    encoder, decoder = hpack.Encoder(), hpack.Decoder()
    for _ in range(3):
        block = encoder.encode([NeverIndexedHeaderTuple("authorization", jwt_value)])
        assert list(decoder.decode(block, raw=True)) == [(b"authorization", jwt_value.encode())]
    info = decode.cache_info()
    assert info.hits >= 2 and info.misses >= 1


def test_stream_count_shortcut_hooks_into_h2() -> None:
    # h2 must still count inbound streams through the method the sandbox overrides, and check
    # them only in the place H2ServerProtocol takes over (a new HEADERS frame).
    source = inspect.getsource(vars(h2.connection.H2Connection)["open_inbound_streams"].fget)
    assert "self._open_streams(" in source
    conn = LeanH2Connection(h2.config.H2Configuration(client_side=False))
    conn.forget_at = 20
    conn.streams = dict.fromkeys(range(1, 2 * conn.forget_at, 2))  # type: ignore[assignment]
    with pytest.raises(AttributeError):  # at forget_at the real scan runs (None has no .open)
        _ = conn.open_inbound_streams
    conn.streams = dict.fromkeys(range(1, 21, 2))  # type: ignore[assignment]
    assert conn.open_inbound_streams == 0  # below it no scan, and h2's own limit never trips
