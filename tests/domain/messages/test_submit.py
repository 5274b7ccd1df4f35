"""``submit`` without an HTTP request, as automation and campaigns call it: lane and source are
stored on the message and its dispatches, the task goes to the lane's queue, idempotency and the
device look-up work the same as through the API."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import psycopg
import pytest
import redis

from domain.messages import configured
from domain.messages.idempotency import StoredAnswer
from domain.messages.standalone import StandaloneOutlet, standalone_outlet
from domain.messages.submit import (
    Idempotency,
    NothingAccepted,
    Source,
    Submitted,
    submit,
)
from shared import credentials, queues
from shared.payload import Limits, PushRequest
from shared.settings import get_settings
from shared.taskmessage import decode_message
from shared.tokens import PLATFORMS


@dataclass(frozen=True)
class App:
    app_id: int
    limits: Limits = field(default_factory=Limits)


@pytest.fixture()
async def outlet(pushflow_env: dict[str, str]) -> AsyncIterator[StandaloneOutlet]:
    get_settings.cache_clear()
    async with standalone_outlet(get_settings()) as opened:
        yield opened


def _queued(client: redis.Redis[bytes], queue: str) -> list[dict[str, Any]]:
    jobs = []
    while (raw := client.rpop(queue)) is not None:
        _task, args, _kwargs, _headers = decode_message(raw)
        jobs.append(args[0])
    return jobs


async def test_a_campaign_push_travels_the_bulk_lane_with_its_source(
    outlet: StandaloneOutlet, make_app: Any, db: psycopg.Connection[Any],
    redis_client: redis.Redis[bytes],
) -> None:
    redis_client.delete(*queues.SEND_QUEUES)
    app = make_app(platforms=PLATFORMS)
    token = secrets.token_hex(32)
    done = await submit(App(app.app_id), PushRequest(tokens=[token], content={"content": "sale"}),
                        outlet=outlet, source=Source("campaign", "cmp_1"), lane="bulk")
    assert isinstance(done, Submitted)
    [dispatch] = done.dispatches
    assert (dispatch.token, dispatch.platform, dispatch.status) == (token, "ios", "queued")
    assert db.execute("SELECT lane, source, source_ref FROM messages WHERE id = %s",
                      (done.message_id,)).fetchone() == ("bulk", "campaign", "cmp_1")
    assert db.execute("SELECT lane, source, source_ref FROM dispatches WHERE id = %s",
                      (dispatch.id,)).fetchone() == ("bulk", "campaign", "cmp_1")
    assert _queued(redis_client, queues.APNS_TX) == []
    [job] = _queued(redis_client, queues.APNS_BULK)
    assert (job["dispatchId"], job["lane"]) == (dispatch.id, "bulk")


async def test_registered_devices_decide_and_refuse(
    outlet: StandaloneOutlet, make_app: Any, db: psycopg.Connection[Any],
    redis_client: redis.Redis[bytes],
) -> None:
    app = make_app(platforms=PLATFORMS)
    odd, dead = "odd-shaped-" + secrets.token_hex(8), secrets.token_hex(32)
    db.execute("INSERT INTO devices (app_id, token, platform) VALUES (%s, %s, 'android')",
               (app.app_id, odd))
    db.execute("INSERT INTO devices (app_id, token, platform, registered_at, invalidated_at)"
               " VALUES (%s, %s, 'ios', now() - interval '1 day', now())", (app.app_id, dead))
    done = await submit(App(app.app_id), PushRequest(tokens=[odd, dead], content={"content": "c"}),
                        outlet=outlet, source=Source("automation", "rule_7"))
    assert isinstance(done, Submitted)
    assert [(d.token, d.platform) for d in done.dispatches] == [(odd, "android")]
    assert [(r.index, r.code) for r in done.rejected] == [(1, "TOKEN_INVALIDATED")]
    with pytest.raises(NothingAccepted):
        await submit(App(app.app_id), PushRequest(tokens=[dead], content={"content": "c"}),
                     outlet=outlet)
    redis_client.delete(*queues.SEND_QUEUES)


async def test_an_idempotency_key_submits_once(
    outlet: StandaloneOutlet, make_app: Any, db: psycopg.Connection[Any],
    redis_client: redis.Redis[bytes],
) -> None:
    app = make_app(platforms=PLATFORMS)
    request = PushRequest(tokens=[secrets.token_hex(32)], content={"content": "once"})
    once = Idempotency("event-1", b"h" * 32, lambda s: b'{"first": "%s"}' % s.message_id.encode())
    first = await submit(App(app.app_id), request, outlet=outlet, idempotency=once)
    again = await submit(App(app.app_id), request, outlet=outlet, idempotency=once)
    assert isinstance(first, Submitted)
    assert again == StoredAnswer(202, {"first": first.message_id})
    assert db.execute("SELECT count(*) FROM messages WHERE app_id = %s",
                      (app.app_id,)).fetchone() == (1,)
    redis_client.delete(*queues.SEND_QUEUES)


async def test_a_platform_without_credentials_is_refused_until_they_are_stored(
    outlet: StandaloneOutlet, make_app: Any, db: psycopg.Connection[Any],
    redis_client: redis.Redis[bytes], gateway_credentials: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(configured, "CACHE_SECONDS", 0.3)
    app = make_app(platforms=("android",))
    request = PushRequest(tokens=[secrets.token_hex(32)], content={"content": "c"})
    with pytest.raises(NothingAccepted) as refused:
        await submit(App(app.app_id), request, outlet=outlet)
    [rejected] = refused.value.rejected
    assert (rejected.index, rejected.code) == (0, "PLATFORM_NOT_CONFIGURED")
    assert "no APNs credentials" in rejected.message
    credentials.store(db, app.app_id, gateway_credentials["ios"], get_settings().fernet_key())
    # The answer is cached per app (no query per submission) ...
    assert outlet.platforms.cached(app.app_id) == frozenset({"android"})
    with pytest.raises(NothingAccepted):
        await submit(App(app.app_id), request, outlet=outlet)
    # ... for a short while only.
    await asyncio.sleep(0.35)
    done = await submit(App(app.app_id), request, outlet=outlet)
    assert isinstance(done, Submitted) and [d.platform for d in done.dispatches] == ["ios"]
    redis_client.delete(*queues.SEND_QUEUES)
