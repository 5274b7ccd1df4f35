"""Writing accepted pushes: one statement stores messages, dispatches, their first status event
and their outbox rows -- for many requests at once.

Concurrent requests are grouped (``IntakeWriter``): a few writer tasks each take every request
waiting when they become free and store them in ONE statement (one round trip, one commit, one
WAL flush), then publish all their tasks with one Redis round trip. Under load this is what makes
the intake cheap per request; alone, a request waits for nobody.

The statement re-checks each token against the app's registered devices: a message with a token
whose device is registered under another platform, or was invalidated by a gateway, is not
stored (its id is missing from the result) and the request redoes its plan with the devices'
verdict. Requests with an ``Idempotency-Key`` use ``insert_idempotent``: the same statement plus
the claim of the key, whose primary key serialises identical concurrent requests.
"""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson
from psycopg import AsyncConnection
from redis.exceptions import RedisError

from producer.outbox import publish, task_message
from shared.jobs import SendJob

if TYPE_CHECKING:
    from producer.state import AppState

log = logging.getLogger("pushflow.intake")

MAX_BATCH_MESSAGES = 200
MAX_BATCH_TOKENS = 20_000
WRITERS = 8  # batches in flight at once: PostgreSQL overlaps their commits (WAL flushes)

_INPUT = """
WITH m_in AS (
  SELECT * FROM jsonb_to_recordset(%(messages)s::jsonb) AS x(
    id uuid, app_id bigint, external_id text, content jsonb, webhook_url text,
    schedule_time timestamptz, ttl bigint, request_id text)
), t AS (
  SELECT * FROM jsonb_to_recordset(%(dispatches)s::jsonb) AS y(
    id uuid, message_id uuid, app_id bigint, token text, platform text, status text,
    external_id text, publish_at timestamptz)
), conflict AS (
  SELECT DISTINCT t.message_id FROM devices d JOIN t ON d.app_id = t.app_id AND d.token = t.token
  WHERE d.platform <> t.platform
     OR (d.invalidated_at IS NOT NULL AND d.registered_at < d.invalidated_at)
)"""
_IDEMPOTENCY_CLAIM = """, idem AS (
  INSERT INTO idempotency_keys AS k (app_id, key, request_hash, status_code, response)
  SELECT app_id, %(idem_key)s, %(idem_hash)s, 202, %(response)s::jsonb FROM m_in
  WHERE NOT EXISTS (SELECT 1 FROM conflict)
  ON CONFLICT (app_id, key) DO UPDATE
    SET request_hash = EXCLUDED.request_hash, status_code = EXCLUDED.status_code,
        response = EXCLUDED.response, created_at = now()
    WHERE k.created_at < now() - make_interval(hours => %(idem_hours)s)
  RETURNING 1
)"""
_WRITE = """, m AS (
  INSERT INTO messages (id, app_id, external_id, content, webhook_url, schedule_time, ttl,
                        request_id)
  SELECT id, app_id, external_id, content, webhook_url, schedule_time, to_timestamp(ttl),
         request_id
  FROM m_in WHERE id NOT IN (SELECT message_id FROM conflict) {claimed}
  RETURNING id
), d AS (
  INSERT INTO dispatches (id, message_id, app_id, device_token, platform, status, external_id)
  SELECT t.id, t.message_id, t.app_id, t.token, t.platform, t.status, t.external_id
  FROM t JOIN m ON m.id = t.message_id
  RETURNING id, status
), e AS (
  INSERT INTO dispatch_events (dispatch_id, status) SELECT id, status FROM d
), o AS (
  INSERT INTO outbox (dispatch_id, publish_at)
  SELECT t.id, coalesce(t.publish_at, now() + make_interval(secs => %(sweep_after)s))
  FROM t JOIN m ON m.id = t.message_id
)
SELECT 'inserted', id FROM m
"""
_BATCH_SQL = (_INPUT + _WRITE.format(claimed="")).encode()
_IDEMPOTENT_SQL = (
    _INPUT + _IDEMPOTENCY_CLAIM + _WRITE.format(claimed="AND EXISTS (SELECT 1 FROM idem)")
    + "UNION ALL SELECT 'conflict', message_id FROM conflict\n"
).encode()


@dataclass
class NewMessage:
    """One accepted request, ready to store: the message and one dispatch per accepted token."""

    app_id: int
    message_id: str
    external_id: str | None
    content: dict[str, Any]
    webhook_url: str | None
    schedule_time: datetime | None  # set only when in the future (status "scheduled")
    ttl: int | None
    request_id: str
    status: str
    dispatch_ids: list[str]
    tokens: list[str]
    platforms: list[str]
    jobs: list[SendJob]  # empty when scheduled: the sweeper publishes at scheduleTime

    def message_row(self) -> dict[str, Any]:
        return {"id": self.message_id, "app_id": self.app_id, "external_id": self.external_id,
                "content": self.content, "webhook_url": self.webhook_url,
                "schedule_time": self.schedule_time, "ttl": self.ttl,
                "request_id": self.request_id}

    def dispatch_rows(self) -> list[dict[str, Any]]:
        return [{"id": did, "message_id": self.message_id, "app_id": self.app_id,
                 "token": token, "platform": platform, "status": self.status,
                 "external_id": self.external_id, "publish_at": self.schedule_time}
                for did, token, platform in zip(self.dispatch_ids, self.tokens, self.platforms,
                                                strict=True)]


def _params(messages: list[NewMessage], sweep_after: float) -> dict[str, Any]:
    dispatches: list[dict[str, Any]] = []
    for message in messages:
        dispatches.extend(message.dispatch_rows())
    return {"messages": orjson.dumps([m.message_row() for m in messages]).decode(),
            "dispatches": orjson.dumps(dispatches).decode(), "sweep_after": sweep_after}


async def insert_batch(conn: AsyncConnection[Any], messages: list[NewMessage],
                       sweep_after: float) -> set[str]:
    """Store the messages; the ids of those stored (the others have a device conflict)."""
    cur = await conn.execute(_BATCH_SQL, _params(messages, sweep_after))
    return {str(row[1]) for row in await cur.fetchall()}


async def insert_idempotent(conn: AsyncConnection[Any], message: NewMessage, sweep_after: float,
                            key: str, body_hash: bytes, response: bytes, ttl_hours: int) -> str:
    """"inserted", "conflict" (a device disagrees: nothing stored) or "claimed" (the key is
    taken by an earlier or concurrent request: nothing stored)."""
    params = _params([message], sweep_after)
    params.update(idem_key=key, idem_hash=body_hash, response=response.decode(),
                  idem_hours=ttl_hours)
    cur = await conn.execute(_IDEMPOTENT_SQL, params)
    kinds = {row[0] for row in await cur.fetchall()}
    return "inserted" if "inserted" in kinds else "conflict" if kinds else "claimed"


async def publish_messages(state: AppState, messages: list[NewMessage]) -> None:
    """Publish the tasks of stored messages; on failure the outbox sweeper publishes later."""
    jobs = [job for m in messages for job in m.jobs]
    if not jobs:
        return
    try:
        await publish(state.redis, [task_message(job) for job in jobs])
    except (RedisError, OSError) as exc:
        log.warning("publish of %d task(s) failed, the outbox will retry: %s", len(jobs), exc)
        return
    state.acks.add([job["dispatchId"] for job in jobs])


class IntakeWriter:
    """Groups concurrent requests into one statement and one publish."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[tuple[NewMessage, asyncio.Future[bool]]] = asyncio.Queue()

    async def store(self, message: NewMessage) -> bool:
        """True once stored and published (or left to the outbox); False on a device conflict."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self.queue.put_nowait((message, future))
        return await future

    def _take(self, first: tuple[NewMessage, asyncio.Future[bool]]
              ) -> list[tuple[NewMessage, asyncio.Future[bool]]]:
        batch = [first]
        tokens = len(first[0].tokens)
        while (not self.queue.empty() and len(batch) < MAX_BATCH_MESSAGES
               and tokens < MAX_BATCH_TOKENS):
            item = self.queue.get_nowait()
            batch.append(item)
            tokens += len(item[0].tokens)
        return batch

    async def _write_one_batch(self, state: AppState) -> None:
        batch = self._take(await self.queue.get())
        try:
            await self._write(state, batch)
        except Exception as exc:
            # Whatever went wrong, every waiting request gets an answer (503 for a database
            # outage, else a 500 envelope) and this writer goes on with the next batch.
            log.warning("intake batch of %d failed: %r", len(batch), exc)
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)

    async def _write(self, state: AppState,
                     batch: list[tuple[NewMessage, asyncio.Future[bool]]]) -> None:
        messages = [m for m, _ in batch]  # a cancelled request's message is stored all the same
        async with state.pool.connection() as conn:
            stored = await insert_batch(conn, messages,
                                        state.settings.outbox_sweep_after_seconds)
        if state.exit_after_commit:
            os._exit(17)  # test hook: die between commit and publish (see producer.state)
        await publish_messages(state, [m for m in messages if m.message_id in stored])
        for message, future in batch:
            if not future.done():
                future.set_result(message.message_id in stored)

    async def _loop(self, state: AppState) -> None:
        while True:
            await self._write_one_batch(state)

    async def run(self, state: AppState) -> None:
        await asyncio.gather(*(self._loop(state) for _ in range(WRITERS)))
