"""Grouped writes (producer.writer): concurrent pushes share statements, each is stored and
published exactly once, and confirmed publishes leave the outbox with the next statement."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import psycopg
import redis

from domain.messages.rows import NewMessage, insert_batch
from producer import writer as writer_module
from producer.state import AppState
from producer.writer import IntakeWriter
from shared import queues
from shared.ids import new_id
from tests.producer.conftest import drain, ios_token


def _message(app_id: int) -> NewMessage:
    return NewMessage(app_id=app_id, message_id=new_id(), external_id=None,
                      content={"content": "c"}, webhook_url=None, schedule_time=None, ttl=None,
                      request_id="test", status="queued", dispatch_ids=[new_id()],
                      tokens=[ios_token()], platforms=["ios"], jobs=[])


def test_a_group_in_flight_makes_newcomers_wait_until_enough_of_them() -> None:
    writer = IntakeWriter()
    assert not writer._should_start()  # nothing waiting
    future: Any = object()
    writer._enqueue((_message(1), future))
    assert writer._should_start()  # nothing in flight: go at once
    writer.in_flight = 1
    assert not writer._should_start()  # wait for the group in flight...
    for _ in range(writer_module.GROUP_TARGET_MESSAGES - 1):
        writer._enqueue((_message(1), future))
    assert writer._should_start()  # ...unless enough are waiting to make a group of their own
    assert len(writer._take()) == writer_module.GROUP_TARGET_MESSAGES
    assert not writer.waiting and writer.waiting_tokens == 0


async def test_concurrent_pushes_are_each_stored_and_published_once(
    api: httpx.AsyncClient, make_app: Any, clean_queues: redis.Redis[bytes],
    db: psycopg.Connection[Any], state: AppState,
) -> None:
    headers = make_app().headers()
    responses = await asyncio.gather(*(
        api.post("/v2.1/push", json={"device_tokens": [ios_token()], "content": f"c{i}"},
                 headers=headers) for i in range(40)))
    assert [r.status_code for r in responses] == [202] * 40
    ids = [r.json()["data"][0]["dispatches"][0]["dispatchId"] for r in responses]
    stored = db.execute("SELECT count(*) FROM dispatches WHERE id = ANY(%s::uuid[])",
                        (ids,)).fetchone()
    assert stored == (40,)
    published = drain(clean_queues, queues.APNS_TX)
    assert sorted(job[2]["id"] for job in published) == sorted(ids)
    deadline = time.monotonic() + 10
    while db.execute("SELECT count(*) FROM outbox WHERE dispatch_id = ANY(%s::uuid[])",
                     (ids,)).fetchone() != (0,):
        assert time.monotonic() < deadline, "outbox rows never acknowledged"
        await asyncio.sleep(0.05)


async def test_acknowledged_outbox_rows_are_deleted_by_the_next_statement(
    make_app: Any, db: psycopg.Connection[Any], state: AppState,
) -> None:
    app_id = make_app().app_id
    first, second = _message(app_id), _message(app_id)
    async with state.pool.connection() as conn:
        assert await insert_batch(conn, [first], 60.0) == {first.message_id}
        assert await insert_batch(conn, [second], 60.0, first.dispatch_ids) == {
            second.message_id}
    left = db.execute("SELECT dispatch_id::text FROM outbox WHERE dispatch_id = ANY(%s::uuid[])",
                      (first.dispatch_ids + second.dispatch_ids,)).fetchall()
    assert left == [(second.dispatch_ids[0],)]
