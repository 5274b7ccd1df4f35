"""Request limits (``producer.ratelimit``): the intake's per-app rate, shared by every API process
through Redis, and the throttling of repeated wrong secrets; 429 ``RATE_LIMITED`` envelopes with
``Retry-After``."""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import httpx
import orjson
import psycopg
from redis.asyncio import Redis
from starlette.applications import Starlette

from producer.app import create_app
from producer.envelope import ApiError
from producer.ratelimit import IntakeRate, Limiter, note_wrong_secret
from shared.settings import get_settings
from tests.producer.conftest import IN_PROCESS_SETTINGS, assert_envelope, error_codes, ios_token
from tests.services import free_port

BODY = {"device_tokens": [ios_token()], "content": "c"}


@asynccontextmanager
async def _client(app: Starlette, address: str = "127.0.0.1") -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


def _assert_rate_limited(response: httpx.Response, parameter: str | None) -> int:
    assert response.status_code == 429, response.text
    assert error_codes(assert_envelope(response)) == [("RATE_LIMITED", parameter)]
    retry_after = int(response.headers["retry-after"])
    assert retry_after >= 1
    return retry_after


async def test_an_apps_own_intake_rate_answers_429_past_its_burst(
    api: httpx.AsyncClient, make_app: Any, db: psycopg.Connection[Any]
) -> None:
    limited, other = make_app(), make_app()
    db.execute("UPDATE apps SET limits = %s WHERE app_key = %s", (orjson.dumps(
        {"intake_requests_per_second": 0.1, "intake_request_burst": 3}).decode(),
        limited.app_key))
    for _ in range(3):
        assert (await api.post("/v2.1/push", json=BODY, headers=limited.headers())
                ).status_code == 202
    refused = await api.post("/v2.1/push", json=BODY, headers=limited.headers())
    assert 5 <= _assert_rate_limited(refused, None) <= 10  # one request per 10 s
    # Another app, the reads of the same app: not counted against it.
    assert (await api.post("/v2.1/push", json=BODY, headers=other.headers())).status_code == 202
    assert (await api.get("/v2.1/push", headers=limited.headers())).status_code == 200


async def test_the_default_rate_is_shared_by_every_api_process(
    make_app: Any, intake_app: Starlette
) -> None:
    # Two API apps (as two processes would be) with the same Redis and a default of 2 at once.
    settings = get_settings().model_copy(update={
        **IN_PROCESS_SETTINGS, "intake_requests_per_second": 0.1, "intake_request_burst": 2})
    caller = make_app()
    async with AsyncExitStack() as stack:
        clients = []
        for _ in range(2):
            app = create_app(settings)
            await stack.enter_async_context(app.router.lifespan_context(app))
            clients.append(await stack.enter_async_context(_client(app)))
        for client in clients:
            assert (await client.post("/v2.1/push", json=BODY, headers=caller.headers())
                    ).status_code == 202
        for client in clients:
            _assert_rate_limited(
                await client.post("/v2.1/push", json=BODY, headers=caller.headers()), None)


async def test_repeated_wrong_secrets_are_429_before_the_secret_is_checked(
    intake_app: Starlette, make_app: Any
) -> None:
    target, neighbour = make_app(), make_app()
    limit = get_settings().auth_failure_limit
    async with _client(intake_app, "192.0.2.7") as attacker, \
            _client(intake_app, "192.0.2.8") as bystander:
        # The right secret, cached by this request: later it must not skip the throttle.
        assert (await attacker.get("/v2.1/push", headers=target.headers())).status_code == 200
        wrong = {**target.headers(), "Authorization": "pf_wrong"}
        for _ in range(limit):
            assert (await attacker.get("/v2.1/push", headers=wrong)).status_code == 401
        for headers in (wrong, target.headers()):
            retry_after = _assert_rate_limited(
                await attacker.post("/v2.1/push", json=BODY, headers=headers), "Authorization")
            assert retry_after > get_settings().auth_failure_window_seconds - 10
        # The same key from another address, another app's key from this one: not throttled.
        assert (await bystander.get("/v2.1/push", headers=target.headers())).status_code == 200
        assert (await attacker.get("/v2.1/push", headers=neighbour.headers())).status_code == 200


async def test_with_redis_unreachable_the_limits_are_not_enforced() -> None:
    settings = get_settings()
    nowhere = Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=0.5)
    try:
        await Limiter().admit(nowhere, settings, "app_x", "192.0.2.1", app_id=1,
                              rate=IntakeRate(0.1, 1))
        await note_wrong_secret(nowhere, settings, "app_x", "192.0.2.1")
    finally:
        await nowhere.aclose()  # type: ignore[attr-defined]  # stubs predate 5.0


async def test_leases_never_let_processes_past_the_apps_burst(redis_client: Any) -> None:
    """Each process takes a lease of the app's rate at once; together they still get no more
    than the bucket holds (here a burst of 20 within well under a second, at 100/s)."""
    settings = get_settings()
    rate = IntakeRate(100.0, 20)
    redis = Redis.from_url(settings.redis_url)
    processes = [Limiter(), Limiter(), Limiter()]
    admitted = 0
    started = time.monotonic()
    try:
        for _ in range(15):
            for limiter in processes:
                try:
                    await limiter.admit(redis, settings, "app_lease", "192.0.2.9", app_id=987654,
                                        rate=rate)
                    admitted += 1
                except ApiError as exc:
                    assert exc.status == 429
        elapsed = time.monotonic() - started
    finally:
        await redis.aclose()  # type: ignore[attr-defined]  # stubs predate 5.0
    # At most the bucket plus what refilled meanwhile; at least the first lease.
    assert 10 <= admitted <= 20 + math.ceil(rate.per_second * elapsed) + 1
