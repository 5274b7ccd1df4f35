"""Fault injection, latency and connection-level faults, seen by real clients."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest

from sandbox.testing import SandboxError, SandboxProcess
from tests.sandbox.conftest import HEX_TOKEN, tls_context
from tests.sandbox.h2raw import send_on_one_connection, send_then_cancel
from tests.sandbox.test_apns import PAYLOAD, push

OTHER_TOKEN = "cd" * 32

APNS_KINDS = [
    ("bad_device_token", 400, "BadDeviceToken"),
    ("device_token_not_for_topic", 400, "DeviceTokenNotForTopic"),
    ("unregistered", 410, "Unregistered"),
    ("payload_too_large", 413, "PayloadTooLarge"),
    ("bad_collapse_id", 400, "BadCollapseId"),
    ("bad_expiration_date", 400, "BadExpirationDate"),
    ("too_many_requests", 429, "TooManyRequests"),
    ("internal", 500, "InternalServerError"),
    ("unavailable", 503, "ServiceUnavailable"),
    ("expired_provider_token", 403, "ExpiredProviderToken"),
    ("invalid_provider_token", 403, "InvalidProviderToken"),
    ("bad_certificate", 403, "BadCertificate"),
]


@pytest.mark.parametrize(("kind", "status", "reason"), APNS_KINDS)
def test_each_apns_fault_kind(
    sandbox: SandboxProcess,
    apns_client: httpx.Client,
    apns_headers: dict[str, str],
    kind: str,
    status: int,
    reason: str,
) -> None:
    sandbox.add_fault(gateway="apns", kind=kind, match=HEX_TOKEN[:6])
    resp = push(apns_client, apns_headers)
    assert (resp.status_code, resp.json()["reason"]) == (status, reason)
    assert "apns-id" in resp.headers
    assert ("timestamp" in resp.json()) == (status == 410)
    assert push(apns_client, apns_headers, token=OTHER_TOKEN).status_code == 200


def test_times_applies_to_first_matching_requests_only(
    sandbox: SandboxProcess, apns_client: httpx.Client, apns_headers: dict[str, str]
) -> None:
    sandbox.add_fault(gateway="apns", kind="too_many_requests", match="ab", times=2, retryAfter=3)
    assert push(apns_client, apns_headers, token=OTHER_TOKEN).status_code == 200
    first = push(apns_client, apns_headers)
    assert first.status_code == 429
    assert first.headers["retry-after"] == "3"
    assert push(apns_client, apns_headers).status_code == 429
    assert push(apns_client, apns_headers).status_code == 200
    stats = sandbox.stats()["apns"]
    assert (stats["requests"], stats["accepted"], stats["rejected"]) == (4, 2, 2)
    assert stats["acceptedByToken"] == {HEX_TOKEN: 1, OTHER_TOKEN: 1}


def test_faults_only_hit_otherwise_valid_requests(
    sandbox: SandboxProcess, apns_client: httpx.Client, apns_headers: dict[str, str]
) -> None:
    sandbox.add_fault(gateway="apns", kind="unregistered", times=1)
    no_topic = {k: v for k, v in apns_headers.items() if k != "apns-topic"}
    assert push(apns_client, no_topic).json()["reason"] == "MissingTopic"
    assert push(apns_client, apns_headers).status_code == 410  # the rule was still there
    assert push(apns_client, apns_headers).status_code == 200


def test_percent(
    sandbox: SandboxProcess, apns_client: httpx.Client, apns_headers: dict[str, str]
) -> None:
    sandbox.add_fault(gateway="apns", kind="internal", percent=50)
    codes = [push(apns_client, apns_headers).status_code for _ in range(100)]
    assert set(codes) == {200, 500}  # all-or-nothing would happen with probability 2^-99
    sandbox.clear_faults()
    sandbox.add_fault(gateway="apns", kind="internal", percent=0)
    assert push(apns_client, apns_headers).status_code == 200


@pytest.mark.parametrize(
    "rule",
    [
        {"gateway": "gcm", "kind": "internal"},
        {"gateway": "apns", "kind": "quota_exceeded"},
        {"gateway": "apns", "kind": "internal", "percent": 120},
        {"gateway": "apns", "kind": "internal", "times": 0},
        {"gateway": "apns", "kind": "internal", "colour": "red"},
    ],
)
def test_bad_fault_rules_are_refused(sandbox: SandboxProcess, rule: dict[str, Any]) -> None:
    with pytest.raises(SandboxError, match="400"):
        sandbox.add_fault(**rule)


async def test_latency_delays_answers_without_blocking_the_loop(
    sandbox: SandboxProcess, apns_headers: dict[str, str]
) -> None:
    sandbox.set_latency(1000)  # long enough that slow polling on a busy machine still wins
    async with httpx.AsyncClient(
        http2=True, verify=tls_context(sandbox), base_url=sandbox.apns_url
    ) as client:
        started = time.monotonic()
        sends = [
            asyncio.create_task(
                client.post(f"/3/device/{i:064x}", headers=apns_headers, content=PAYLOAD)
            )
            for i in range(1, 11)
        ]
        # All ten reach the sandbox (and its control API keeps answering) while none is answered.
        deadline = time.monotonic() + 10
        while (await asyncio.to_thread(sandbox.stats))["apns"]["requests"] < 10:
            assert time.monotonic() < deadline, "requests did not all arrive"
            await asyncio.sleep(0.02)
        answered_early = [t for t in sends if t.done()]
        responses = await asyncio.gather(*sends)
        elapsed = time.monotonic() - started
    assert answered_early == []
    assert [r.status_code for r in responses] == [200] * 10
    assert elapsed >= 1.0


def test_goaway_with_httpx_is_a_connection_error(
    sandbox: SandboxProcess, apns_client: httpx.Client, apns_headers: dict[str, str]
) -> None:
    sandbox.add_fault(gateway="apns", kind="goaway", times=1)
    with pytest.raises(httpx.RemoteProtocolError):
        push(apns_client, apns_headers)
    assert push(apns_client, apns_headers).status_code == 200  # a new connection works
    stats = sandbox.stats()["apns"]
    assert stats["connections"] == 2
    assert stats["acceptedByToken"] == {HEX_TOKEN: 1}


async def test_goaway_on_the_wire_answers_earlier_streams_only(
    sandbox: SandboxProcess, apns_headers: dict[str, str]
) -> None:
    sandbox.set_latency(300)
    sandbox.add_fault(gateway="apns", kind="goaway", match=OTHER_TOKEN, times=1)
    result = await send_on_one_connection(
        sandbox.apns_url,
        tls_context(sandbox),
        [
            (f"/3/device/{HEX_TOKEN}", apns_headers, PAYLOAD),
            (f"/3/device/{OTHER_TOKEN}", apns_headers, PAYLOAD),
        ],
        gap=0.05,
    )
    assert result.goaway is not None
    assert result.goaway.last_stream_id in (1, 2)  # stream 3 was not processed: safe to retry
    assert result.goaway.error_code == 0
    assert result.statuses == {1: 200}
    assert result.answered_after_goaway == [1]  # GOAWAY came at once, stream 1's answer later
    assert result.closed


async def test_drop_closes_the_connection_without_an_answer(
    sandbox: SandboxProcess, apns_headers: dict[str, str]
) -> None:
    sandbox.add_fault(gateway="apns", kind="drop", times=1)
    result = await send_on_one_connection(
        sandbox.apns_url, tls_context(sandbox), [(f"/3/device/{HEX_TOKEN}", apns_headers, PAYLOAD)]
    )
    assert result.closed
    assert result.statuses == {}
    assert result.goaway is None


def test_drop_with_httpx_is_a_connection_error(
    sandbox: SandboxProcess, apns_client: httpx.Client, apns_headers: dict[str, str]
) -> None:
    sandbox.add_fault(gateway="apns", kind="drop", times=1)
    with pytest.raises(httpx.TransportError):
        push(apns_client, apns_headers)
    assert push(apns_client, apns_headers).status_code == 200


async def test_a_thousand_concurrent_streams_on_one_connection(
    sandbox: SandboxProcess, apns_headers: dict[str, str]
) -> None:
    """The advertised SETTINGS_MAX_CONCURRENT_STREAMS (1000) is really available."""
    sandbox.set_latency(200)  # keeps all of them open at once
    tokens = [f"{i:064x}" for i in range(1000)]
    result = await send_on_one_connection(
        sandbox.apns_url,
        tls_context(sandbox),
        [(f"/3/device/{t}", apns_headers, PAYLOAD) for t in tokens],
        timeout=60,
    )
    assert list(result.statuses.values()) == [200] * 1000
    assert result.remote_max_streams == 1000
    stats = sandbox.stats()["apns"]
    assert stats["connections"] == 1
    assert set(stats["acceptedByToken"]) == set(tokens)
    assert all(r["http"] == "h2" for r in sandbox.requests("apns", limit=5))


async def test_streams_after_goaway_do_not_break_the_server(
    sandbox: SandboxProcess, apns_headers: dict[str, str]
) -> None:
    sandbox.add_fault(gateway="apns", kind="goaway", times=1)
    result = await send_on_one_connection(
        sandbox.apns_url,
        tls_context(sandbox),
        [(f"/3/device/{HEX_TOKEN}", apns_headers, PAYLOAD)] * 3,  # all sent before the GOAWAY
    )
    assert result.goaway is not None and result.statuses == {}
    assert result.closed
    with httpx.Client(http2=True, verify=tls_context(sandbox), base_url=sandbox.apns_url) as c:
        assert push(c, apns_headers).status_code == 200


async def test_an_answer_the_client_never_gets_is_abandoned_not_accepted(
    sandbox: SandboxProcess, apns_headers: dict[str, str]
) -> None:
    """A 2xx counts as accepted only once it is written to a live stream: a stream reset or a
    connection closed while the answer waits (latency) makes it ``abandoned``."""
    sandbox.set_latency(200)
    ctx = tls_context(sandbox)
    status = await send_then_cancel(
        sandbox.apns_url, ctx,
        (f"/3/device/{HEX_TOKEN}", apns_headers, PAYLOAD),
        (f"/3/device/{OTHER_TOKEN}", apns_headers, PAYLOAD),
    )
    assert status == 200
    third = "ef" * 32
    await send_then_cancel(
        sandbox.apns_url, ctx, (f"/3/device/{third}", apns_headers, PAYLOAD), None
    )
    deadline = time.monotonic() + 10
    while sandbox.stats()["apns"]["abandoned"] < 2:
        assert time.monotonic() < deadline, sandbox.stats()
        await asyncio.sleep(0.05)
    stats = sandbox.stats()["apns"]
    assert (stats["requests"], stats["accepted"], stats["abandoned"]) == (3, 1, 2)
    assert stats["acceptedByToken"] == {OTHER_TOKEN: 1}
    by_token = {r["token"]: r for r in sandbox.requests("apns")}
    assert by_token[HEX_TOKEN]["abandoned"] and by_token[third]["abandoned"]
    assert not by_token[OTHER_TOKEN]["abandoned"]
    kept = by_token[OTHER_TOKEN]
    assert kept["answeredAt"] - kept["time"] >= 0.15  # counted when answered, not when received
