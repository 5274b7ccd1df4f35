"""POST /connections/close: every open HTTP/2 connection goes away at once, as when a gateway
restarts: GOAWAY (the streams received so far are still answered) or a drop."""

from __future__ import annotations

import asyncio

import pytest

from sandbox.testing import SandboxError, SandboxProcess
from tests.sandbox.conftest import tls_context
from tests.sandbox.h2raw import WireResult, send_on_one_connection
from tests.sandbox.test_apns import PAYLOAD


async def close_mid_flight(
    sandbox: SandboxProcess, headers: dict[str, str], action: str
) -> tuple[WireResult, int]:
    sandbox.set_latency(300)  # five streams waiting for their answers when the close comes
    requests = [(f"/3/device/{i:064x}", headers, PAYLOAD) for i in range(5)]
    sending = asyncio.create_task(
        send_on_one_connection(sandbox.apns_url, tls_context(sandbox), requests)
    )
    await asyncio.sleep(0.15)
    closed = await asyncio.to_thread(sandbox.close_connections, "apns", action)
    result = await sending
    await asyncio.sleep(0.3)  # the latency of dropped answers ends: they count as abandoned
    return result, closed


async def test_goaway_answers_what_it_received_then_closes(
    sandbox: SandboxProcess, apns_headers: dict[str, str]
) -> None:
    result, closed = await close_mid_flight(sandbox, apns_headers, "goaway")
    assert closed == 1
    assert result.goaway is not None and result.goaway.last_stream_id == 10
    assert list(result.statuses.values()) == [200] * 5  # answered after the GOAWAY
    assert result.closed
    stats = sandbox.stats()["apns"]
    assert (stats["accepted"], stats["abandoned"]) == (5, 0)


async def test_drop_answers_nothing(sandbox: SandboxProcess, apns_headers: dict[str, str]) -> None:
    result, closed = await close_mid_flight(sandbox, apns_headers, "drop")
    assert closed == 1
    assert result.closed and result.statuses == {} and result.goaway is None
    stats = sandbox.stats()["apns"]
    assert (stats["accepted"], stats["abandoned"]) == (0, 5)


def test_close_arguments_are_checked(sandbox: SandboxProcess) -> None:
    with pytest.raises(SandboxError, match="action"):
        sandbox.close_connections(action="explode")
    with pytest.raises(SandboxError, match="gateway"):
        sandbox.close_connections("oauth")
