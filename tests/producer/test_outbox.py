"""Nothing accepted is lost between commit and publish: Redis down still answers 202 and the
outbox sweeper publishes later, exactly once; several sweepers never publish a row twice."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import psycopg
import redis
from starlette.applications import Starlette

from producer.app import create_app
from producer.outbox import sweep_once
from producer.state import AppState
from shared import queues
from shared.settings import get_settings
from tests.producer.conftest import IN_PROCESS_SETTINGS, drain, ios_token
from tests.services import free_port


def _outbox_rows(db: psycopg.Connection[Any], ids: list[str]) -> int:
    row = db.execute("SELECT count(*) FROM outbox WHERE dispatch_id = ANY(%s::uuid[])",
                     (ids,)).fetchone()
    assert row is not None
    return int(row[0])


async def test_redis_down_still_accepts_and_the_sweeper_publishes_later(
    make_app: Any, clean_queues: redis.Redis[bytes], db: psycopg.Connection[Any], state: AppState
) -> None:
    dead_redis = f"redis://127.0.0.1:{free_port()}/0"
    settings = get_settings().model_copy(update={**IN_PROCESS_SETTINGS, "redis_url": dead_redis})
    broken: Starlette = create_app(settings)
    app = make_app()
    async with broken.router.lifespan_context(broken):
        transport = httpx.ASGITransport(app=broken)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            responses = [await client.post("/v2.1/push", headers=app.headers(), json={
                "device_tokens": [ios_token(), ios_token()], "content": f"c{i}"})
                for i in range(2)]
            assert [r.status_code for r in responses] == [202, 202]
    ids = [d["dispatchId"] for r in responses for d in r.json()["data"][0]["dispatches"]]
    assert _outbox_rows(db, ids) == 4
    assert clean_queues.llen(queues.APNS_TX) == 0
    # Redis is back (the healthy instance): its sweeper publishes them once their time comes.
    deadline = asyncio.get_running_loop().time() + 10
    published: list[str] = []
    while len(published) < 4:
        assert asyncio.get_running_loop().time() < deadline, published
        await sweep_once(state)
        published += [p[1][0]["dispatchId"] for p in drain(clean_queues, queues.APNS_TX)]
        await asyncio.sleep(0.05)
    assert sorted(published) == sorted(ids)
    assert _outbox_rows(db, ids) == 0
    await sweep_once(state)
    assert drain(clean_queues, queues.APNS_TX) == []  # never twice


async def test_concurrent_sweepers_publish_each_row_once(
    make_app: Any, clean_queues: redis.Redis[bytes], db: psycopg.Connection[Any], state: AppState
) -> None:
    app = make_app()
    message_id = "01a21bca-0000-7000-8000-" + ios_token()[:12]
    ids = [f"01a21bca-0001-7000-8000-{i:012x}" for i in range(1200)]
    db.execute("INSERT INTO messages (id, app_id, content) VALUES (%s, %s, '{}')",
               (message_id, app.app_id))
    db.execute(
        "INSERT INTO dispatches (id, message_id, app_id, device_token, platform, status)"
        " SELECT id, %s, %s, md5(id::text) || md5(id::text), 'ios', 'queued'"
        " FROM unnest(%s::uuid[]) AS id", (message_id, app.app_id, ids))
    db.execute("INSERT INTO outbox (dispatch_id, publish_at) SELECT id, now()"
               " FROM unnest(%s::uuid[]) AS id", (ids,))
    # Three sweepers (as three API instances would run) at once.
    while _outbox_rows(db, ids):
        await asyncio.gather(*(sweep_once(state) for _ in range(3)))
    published = [p[1][0]["dispatchId"] for p in drain(clean_queues, queues.APNS_TX)]
    assert sorted(published) == sorted(ids)
