"""Writing accepted pushes: one statement stores messages, dispatches, their first status event
and their outbox rows -- for one submission or for many at once (the API groups concurrent
requests into one statement: ``producer.writer.IntakeWriter``).

The statement re-checks each token against the app's registered devices: a message with a token
whose device is registered under another platform, or was invalidated by a gateway, is not
stored (its id is missing from the result) and the submission redoes its plan with the devices'
verdict (``domain.messages.submit``). Submissions with an idempotency key use
``insert_idempotent``: the same statement plus the claim of the key, whose primary key
serialises identical concurrent submissions.

A connection lost during one of these statements leaves its outcome unknown: the server may
have committed before the answer was lost. ``settle`` tells, when the database answers again;
``OutcomeUnknown`` is what a caller gets when nobody can tell yet.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
import psycopg
from psycopg import AsyncConnection

from shared.jobs import SendJob
from shared.queues import Lane

_INPUT = """
WITH m_in AS (
  SELECT * FROM jsonb_to_recordset(%(messages)s::jsonb) AS x(
    id uuid, app_id bigint, external_id text, content jsonb, webhook_url text,
    schedule_time timestamptz, ttl bigint, request_id text, lane text, source text,
    source_ref text)
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
                        request_id, lane, source, source_ref)
  SELECT id, app_id, external_id, content, webhook_url, schedule_time, to_timestamp(ttl),
         request_id, lane, source, source_ref
  FROM m_in WHERE id NOT IN (SELECT message_id FROM conflict) {claimed}
  RETURNING id, lane, source, source_ref
), d AS (
  INSERT INTO dispatches (id, message_id, app_id, device_token, platform, status, external_id,
                          lane, source, source_ref)
  SELECT t.id, t.message_id, t.app_id, t.token, t.platform, t.status, t.external_id,
         m.lane, m.source, m.source_ref
  FROM t JOIN m ON m.id = t.message_id
  RETURNING id, status
), e AS (
  INSERT INTO dispatch_events (dispatch_id, status) SELECT id, status FROM d
), o AS (
  INSERT INTO outbox (dispatch_id, publish_at)
  SELECT t.id, coalesce(t.publish_at, now() + make_interval(secs => %(sweep_after)s))
  FROM t JOIN m ON m.id = t.message_id
), acked AS (
  DELETE FROM outbox WHERE dispatch_id = ANY(%(acked)s::uuid[])
)
SELECT 'inserted', id::text FROM m
"""
_BATCH_SQL = (_INPUT + _WRITE.format(claimed="")).encode()
_IDEMPOTENT_SQL = (
    _INPUT + _IDEMPOTENCY_CLAIM + _WRITE.format(claimed="AND EXISTS (SELECT 1 FROM idem)")
    + "UNION ALL SELECT 'conflict', message_id::text FROM conflict\n"
).encode()


class OutcomeUnknown(Exception):
    """The connection was lost during the statement storing this message, and whether it
    committed cannot be told now: it may be stored (then published by the outbox and
    delivered), or not. A retry with the same idempotency key gets the first answer if it was
    stored; the message id tells the stored message (its ``request_id`` the request) apart."""

    def __init__(self, message_id: str) -> None:
        super().__init__(f"the outcome of storing message {message_id} is unknown")
        self.message_id = message_id


@dataclass
class NewMessage:
    """One accepted submission, ready to store: the message and one dispatch per accepted
    token."""

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
    lane: Lane = "tx"
    source: str = "api"  # api | automation | campaign
    source_ref: str | None = None  # the automation rule or campaign

    def message_row(self) -> dict[str, Any]:
        return {"id": self.message_id, "app_id": self.app_id, "external_id": self.external_id,
                "content": self.content, "webhook_url": self.webhook_url,
                "schedule_time": self.schedule_time, "ttl": self.ttl,
                "request_id": self.request_id, "lane": self.lane, "source": self.source,
                "source_ref": self.source_ref}

    def dispatch_rows(self) -> list[dict[str, Any]]:
        return [{"id": did, "message_id": self.message_id, "app_id": self.app_id,
                 "token": token, "platform": platform, "status": self.status,
                 "external_id": self.external_id, "publish_at": self.schedule_time}
                for did, token, platform in zip(self.dispatch_ids, self.tokens, self.platforms,
                                                strict=True)]


def _params(messages: list[NewMessage], sweep_after: float, acked: Sequence[str] = ()
            ) -> dict[str, Any]:
    dispatches: list[dict[str, Any]] = []
    for message in messages:
        dispatches.extend(message.dispatch_rows())
    # The acknowledged ids as one array literal: our own UUID strings, so no quoting is needed,
    # and one text parameter costs far less to adapt than a list of strings.
    return {"messages": orjson.dumps([m.message_row() for m in messages]).decode(),
            "dispatches": orjson.dumps(dispatches).decode(), "sweep_after": sweep_after,
            "acked": "{" + ",".join(acked) + "}"}


async def insert_batch(conn: AsyncConnection[Any], messages: list[NewMessage],
                       sweep_after: float, acked: Sequence[str] = ()) -> set[str]:
    """Store the messages, and delete the outbox rows of ``acked`` (dispatches whose publish
    was confirmed, see ``OutboxAcks``) in the same statement; the ids of the messages stored
    (the others have a device conflict)."""
    cur = await conn.execute(_BATCH_SQL, _params(messages, sweep_after, acked))
    return {row[1] for row in await cur.fetchall()}


# The lost session ends (if the server still runs it: a cut network closes only our side)
# before we look, so that nothing it still holds can commit after the look.
_END_SESSION = """
SELECT coalesce(bool_and(pg_terminate_backend(pid, %(wait_ms)s)), true) FROM pg_stat_activity
WHERE pid = %(pid)s AND application_name = current_setting('application_name')
"""
_STORED = "SELECT id::text FROM messages WHERE id = ANY(%s::uuid[])"


async def settle(conn: AsyncConnection[Any], lost_backend_pid: int, message_ids: Sequence[str],
                 wait_seconds: float) -> set[str] | None:
    """After a statement was lost with its connection (whose server process was
    ``lost_backend_pid``), on another connection: which of the messages are stored -- for
    good, the lost session having ended -- or None when that session would not end within
    ``wait_seconds`` (its outcome still unknown)."""
    cur = await conn.execute(_END_SESSION, {"pid": lost_backend_pid,
                                            "wait_ms": int(wait_seconds * 1000)})
    row = await cur.fetchone()
    if not (row and row[0]):
        return None
    cur = await conn.execute(_STORED, ("{" + ",".join(message_ids) + "}",))
    return {row[0] for row in await cur.fetchall()}


async def insert_idempotent(conn: AsyncConnection[Any], message: NewMessage, sweep_after: float,
                            key: str, body_hash: bytes, response: bytes, ttl_hours: int) -> str:
    """"inserted", "conflict" (a device disagrees: nothing stored) or "claimed" (the key is
    taken by an earlier or concurrent request: nothing stored). ``OutcomeUnknown`` when the
    connection is lost meanwhile: a retry with the key gets the answer, whatever happened."""
    params = _params([message], sweep_after)
    params.update(idem_key=key, idem_hash=body_hash, response=response.decode(),
                  idem_hours=ttl_hours)
    try:
        cur = await conn.execute(_IDEMPOTENT_SQL, params)
    except psycopg.OperationalError:
        if conn.broken:  # lost with the connection: maybe committed, key claimed and all
            raise OutcomeUnknown(message.message_id) from None
        raise  # the server refused the statement: nothing was stored
    kinds = {row[0] for row in await cur.fetchall()}
    return "inserted" if "inserted" in kinds else "conflict" if kinds else "claimed"
