"""The pool against the sandbox enforcing a small SETTINGS_MAX_CONCURRENT_STREAMS, as APNs and
FCM do: a burst on a fresh or a warm pool is spread within the announced limit, so no stream is
refused, no connection is closed for it (strict mode), and every send is accepted exactly once
(the sandbox counts accepted sends per device token)."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import Callable, Iterator

import jwt
import pytest

from sandbox.testing import SandboxProcess
from workers.delivery.runtime import new_loop
from workers.h2client import ConnectionPool, Response, tls_context

LIMIT = 10
BURST = 300
POOL_SIZE = 4
APNS_PAYLOAD = b'{"aps":{"alert":{"title":"Hi","body":"there"}}}'

Headers = list[tuple[bytes, bytes]]


@pytest.fixture(params=[False, True], ids=["refusing", "strict"])
def limited(request: pytest.FixtureRequest, sandbox: SandboxProcess) -> Iterator[SandboxProcess]:
    # SETTINGS 50 ms after the handshake, as from a server one round trip away: a client that
    # does not wait for them sends into a limit it does not know yet.
    sandbox.set_http2(max_concurrent_streams=LIMIT, strict=request.param, settings_delay_ms=50)
    sandbox.set_latency(20)  # streams stay open long enough for the burst to hit the limit
    try:
        yield sandbox
    finally:
        sandbox.set_http2(max_concurrent_streams=1000, strict=False, settings_delay_ms=0)
        sandbox.set_latency(0)


def apns_request(sbx: SandboxProcess) -> Callable[[str], tuple[Headers, bytes]]:
    a = sbx.apns
    key = (sbx.credentials_dir / "apns-key.p8").read_text()
    bearer = jwt.encode({"iss": a["teamId"], "iat": int(time.time())}, key, algorithm="ES256",
                        headers={"kid": a["keyId"]})
    authority = sbx.apns_url.removeprefix("https://").encode()

    def build(token: str) -> tuple[Headers, bytes]:
        return [(b":method", b"POST"), (b":scheme", b"https"), (b":authority", authority),
                (b":path", f"/3/device/{token}".encode()), (b"apns-topic", a["topic"].encode()),
                (b"apns-push-type", b"alert"), (b"authorization", f"bearer {bearer}".encode()),
                ], APNS_PAYLOAD
    return build


def fcm_request(sbx: SandboxProcess) -> Callable[[str], tuple[Headers, bytes]]:
    import google.auth.transport.requests
    from google.oauth2 import service_account

    info = json.loads(sbx.service_account_file.read_text())
    creds = service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
        info, scopes=["https://www.googleapis.com/auth/firebase.messaging"])
    creds.refresh(google.auth.transport.requests.Request())
    authority = sbx.fcm_url.removeprefix("https://").encode()
    path = f"/v1/projects/{info['project_id']}/messages:send".encode()

    def build(token: str) -> tuple[Headers, bytes]:
        body = json.dumps({"message": {"token": token, "data": {"k": "v"}}}).encode()
        return [(b":method", b"POST"), (b":scheme", b"https"), (b":authority", authority),
                (b":path", path), (b"content-type", b"application/json"),
                (b"authorization", f"Bearer {creds.token}".encode())], body
    return build


BUILDERS = {"apns": apns_request, "fcm": fcm_request}


def new_tokens(n: int) -> list[str]:
    """``n`` device tokens seen by no other test (APNs and FCM accept them both)."""
    prefix = secrets.token_hex(8)
    return [f"{prefix}{i:056x}" for i in range(n)]


def burst(sbx: SandboxProcess, gateway: str, warm: bool, tokens: list[str] | None = None,
          during: Callable[[], object] | None = None) -> tuple[list[int | str], list[str]]:
    """A send per token (``BURST`` new ones by default) at once on a new pool (``warm``: after
    one send opened a connection), calling ``during`` 0.1 s into it; each send's status or
    exception name, and the tokens."""
    build = BUILDERS[gateway](sbx)
    url = sbx.apns_url if gateway == "apns" else sbx.fcm_url
    tokens = tokens or new_tokens(BURST)

    async def main() -> list[int | str]:
        pool = ConnectionPool(url, tls_context(sbx.ca_file), POOL_SIZE, 5)
        try:
            if warm:
                assert (await pool.request(*build(new_tokens(1)[0]), 5)).status == 200
            sending = asyncio.gather(*(pool.request(*build(t), 10) for t in tokens),
                                     return_exceptions=True)
            if during is not None:
                await asyncio.sleep(0.1)
                await asyncio.to_thread(during)
            answers = await sending
            return [a.status if isinstance(a, Response) else type(a).__name__ for a in answers]
        finally:
            await pool.close()

    with asyncio.Runner(loop_factory=new_loop) as runner:
        return runner.run(main()), tokens


@pytest.mark.parametrize("warm", [False, True], ids=["fresh-pool", "warm-pool"])
@pytest.mark.parametrize("gateway", ["apns", "fcm"])
def test_a_burst_stays_within_the_announced_stream_limit(
    limited: SandboxProcess, gateway: str, warm: bool
) -> None:
    before = limited.stats()[gateway]
    outcomes, tokens = burst(limited, gateway, warm)
    after = limited.stats()[gateway]
    assert outcomes == [200] * BURST  # none refused, none lost
    accepted = after["acceptedByToken"]
    assert [accepted.get(t) for t in tokens] == [1] * BURST  # none sent twice
    assert after["duplicates"] == before["duplicates"]
    assert after["refusedStreams"] == before["refusedStreams"]
    assert after["streamLimitGoaways"] == before["streamLimitGoaways"]
    assert after["connections"] - before["connections"] <= POOL_SIZE


@pytest.mark.parametrize("gateway", ["apns", "fcm"])
def test_a_goaway_mid_burst_loses_and_repeats_nothing(sandbox: SandboxProcess,
                                                      gateway: str) -> None:
    """The sandbox's ``goaway`` fault: streams below the GOAWAY are answered, the later ones
    (the trigger included) were not processed and go out again on a new connection."""
    tokens = new_tokens(100)
    trigger = new_tokens(1)[0]
    tokens[50] = trigger
    sandbox.add_fault(gateway=gateway, kind="goaway", match=trigger[:16], times=1)
    sandbox.set_latency(50)  # the streams before the trigger are still waiting for answers
    try:
        outcomes, _ = burst(sandbox, gateway, warm=False, tokens=tokens)
    finally:
        sandbox.set_latency(0)
        sandbox.clear_faults()
    assert outcomes == [200] * len(tokens)
    accepted = sandbox.stats()[gateway]["acceptedByToken"]
    assert [accepted.get(t) for t in tokens] == [1] * len(tokens)


@pytest.mark.parametrize("gateway", ["apns", "fcm"])
def test_a_gateway_going_away_mid_burst_loses_and_repeats_nothing(
    limited: SandboxProcess, gateway: str
) -> None:
    """Every connection gets a GOAWAY covering the streams it received: those are answered
    (h2 alone would drop the answers), the rest go out on new connections."""
    before = limited.stats()[gateway]
    outcomes, tokens = burst(limited, gateway, warm=False,
                             during=lambda: limited.close_connections(gateway))
    after = limited.stats()[gateway]
    assert outcomes == [200] * BURST
    accepted = after["acceptedByToken"]
    assert [accepted.get(t) for t in tokens] == [1] * BURST
    assert after["duplicates"] == before["duplicates"]
    assert after["connections"] - before["connections"] > POOL_SIZE  # new ones were opened
