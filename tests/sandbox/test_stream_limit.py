"""SETTINGS_MAX_CONCURRENT_STREAMS enforced as real servers do: a stream over the limit is
refused (RST_STREAM REFUSED_STREAM, not processed); in strict mode a client that knew the limit
and exceeded it loses the connection (GOAWAY PROTOCOL_ERROR)."""

from __future__ import annotations

import asyncio
import time

import h2.errors
import pytest

from sandbox.testing import SandboxError, SandboxProcess
from tests.sandbox.conftest import tls_context
from tests.sandbox.h2raw import WireResult, send_on_one_connection
from tests.sandbox.test_apns import PAYLOAD

REFUSED = int(h2.errors.ErrorCodes.REFUSED_STREAM)


def _requests(n: int, headers: dict[str, str]) -> list[tuple[str, dict[str, str], bytes]]:
    return [(f"/3/device/{i:064x}", headers, PAYLOAD) for i in range(n)]


async def _strict_burst(
    sandbox: SandboxProcess, headers: dict[str, str], n: int, latency_ms: float
) -> WireResult:
    """``n`` streams at once on one connection to a strict sandbox with a limit of 10, sent
    after the client acknowledged that limit."""
    sandbox.set_http2(max_concurrent_streams=10, strict=True)
    sandbox.set_latency(latency_ms)
    ctx = tls_context(sandbox)
    return await send_on_one_connection(
        sandbox.apns_url, ctx, _requests(n, headers), after_settings=True
    )


async def test_streams_over_the_limit_are_refused_and_not_processed(
    sandbox: SandboxProcess, apns_headers: dict[str, str]
) -> None:
    sandbox.set_http2(max_concurrent_streams=10)
    sandbox.set_latency(300)  # the first ten are still open when the others arrive
    result = await send_on_one_connection(
        sandbox.apns_url, tls_context(sandbox), _requests(25, apns_headers)
    )
    assert result.remote_max_streams == 10
    assert sorted(result.statuses) == list(range(1, 21, 2))  # the first ten streams answered
    assert set(result.statuses.values()) == {200}
    assert result.resets == dict.fromkeys(range(21, 51, 2), REFUSED)
    assert result.goaway is None and not result.closed
    stats = sandbox.stats()["apns"]
    assert (stats["requests"], stats["accepted"], stats["refusedStreams"]) == (10, 10, 15)
    assert stats["streamLimitGoaways"] == 0


async def test_strict_mode_closes_a_connection_that_knew_the_limit(
    sandbox: SandboxProcess, apns_headers: dict[str, str]
) -> None:
    result = await _strict_burst(sandbox, apns_headers, 11, latency_ms=300)
    assert result.goaway is not None
    assert result.goaway.error_code == h2.errors.ErrorCodes.PROTOCOL_ERROR
    assert result.goaway.last_stream_id == 19  # the ten streams before the offending one
    assert result.closed and result.statuses == {}  # closed at once: no answer went out
    await asyncio.sleep(0.5)  # the ten answers' latency ends: they find the connection gone
    stats = sandbox.stats()["apns"]
    assert (stats["streamLimitGoaways"], stats["accepted"], stats["abandoned"]) == (1, 0, 10)


async def test_strict_mode_refuses_streams_sent_before_the_limit_was_known(
    sandbox: SandboxProcess, apns_headers: dict[str, str]
) -> None:
    sandbox.set_http2(max_concurrent_streams=10, strict=True)
    sandbox.set_latency(300)
    result = await send_on_one_connection(  # all leave before the server's SETTINGS are read
        sandbox.apns_url, tls_context(sandbox), _requests(12, apns_headers)
    )
    assert len(result.statuses) == 10 and result.resets == {21: REFUSED, 23: REFUSED}
    assert result.goaway is None and not result.closed


async def test_strict_mode_leaves_a_client_within_the_limit_alone(
    sandbox: SandboxProcess, apns_headers: dict[str, str]
) -> None:
    result = await _strict_burst(sandbox, apns_headers, 10, latency_ms=100)
    assert list(result.statuses.values()) == [200] * 10
    assert result.goaway is None and result.resets == {}


async def test_held_back_settings_arrive_late_and_requests_are_read_after_them(
    sandbox: SandboxProcess, apns_headers: dict[str, str]
) -> None:
    sandbox.set_http2(max_concurrent_streams=10, settings_delay_ms=200)
    started = time.monotonic()
    result = await send_on_one_connection(
        sandbox.apns_url, tls_context(sandbox), _requests(12, apns_headers), after_settings=True
    )
    assert time.monotonic() - started >= 0.2
    assert result.remote_max_streams == 10 and list(result.statuses.values()) == [200] * 12


def test_http2_settings_are_checked_and_reset(sandbox: SandboxProcess) -> None:
    for bad in (0, 100_001, "10", True):
        with pytest.raises(SandboxError, match="maxConcurrentStreams"):
            sandbox.set_http2(max_concurrent_streams=bad)
    with pytest.raises(SandboxError, match="settingsDelayMs"):
        sandbox.set_http2(settings_delay_ms=-1)
    with pytest.raises(SandboxError, match="strict"):
        sandbox.set_http2(strict="yes")
    with pytest.raises(SandboxError, match="unknown field"):
        sandbox.set_http2(limit=10)
    sandbox.set_http2(max_concurrent_streams=7, strict=True)
    sandbox.set_http2(settings_delay_ms=5)  # the others stay
    expected = {"maxConcurrentStreams": 7, "strict": True, "settingsDelayMs": 5.0}
    assert sandbox.stats()["http2"] == expected
    sandbox.reset()
    expected = {"maxConcurrentStreams": 1000, "strict": False, "settingsDelayMs": 0.0}
    assert sandbox.stats()["http2"] == expected
