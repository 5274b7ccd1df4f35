"""Sends that wait (a rule's delay, the end of quiet hours), kept in PostgreSQL -- never as long
Celery ETAs, which Redis would redeliver after its visibility timeout.

- ``hold`` stores a rendered send with the time it is due;
- ``cancel_matching`` drops the pending sends an event cancels (same cancel event name and the
  same value of the rule's cancel key);
- ``release_due`` (run periodically by ``workers/automation/release.py``) takes due rows ``FOR
  UPDATE SKIP LOCKED``, submits each and marks it released in the SAME transaction: a process
  killed at any point either committed both (released once) or neither (the row is taken again
  by the next run). Several releasers side by side never take the same row. The tasks are
  published after the commit; the outbox sweeper covers a death in between.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from domain.automation.sending import App, body_for, send_now
from domain.automation.tx import TransactionOutlet
from domain.messages.submit import Outlet
from shared.ids import new_id
from shared.payload import Limits

log = logging.getLogger("pushflow.automation")

RELEASE_BATCH = 100

_HOLD = """
INSERT INTO automation_pending (id, app_id, rule_id, event_id, user_id, due_at, push,
                                cancel_event, cancel_key, cancel_value, why)
VALUES (%s, %s, %s, %s, %s, to_timestamp(%s), %s, %s, %s, %s, %s)
"""
# A cancel event drops the pending sends waiting for it whose key property has the same value.
_CANCEL = """
UPDATE automation_pending p SET state = 'canceled', settled_at = to_timestamp(%(now)s)
FROM jsonb_to_recordset(%(events)s::jsonb) AS e(event_id text, name text, properties jsonb)
WHERE p.app_id = %(app_id)s AND p.state = 'pending' AND p.cancel_event = e.name
  AND p.cancel_value = e.properties #>> string_to_array(p.cancel_key, '.')
RETURNING e.event_id, p.id::text
"""
_DUE = """
SELECT p.id::text, p.app_id, p.rule_id::text, p.event_id, p.push, a.limits
FROM automation_pending p JOIN apps a ON a.id = p.app_id
WHERE p.state = 'pending' AND p.due_at <= to_timestamp(%s)
ORDER BY p.due_at
LIMIT %s
FOR UPDATE OF p SKIP LOCKED
"""
_SETTLE = """
UPDATE automation_pending SET state = %s, message_id = %s, why = coalesce(%s, why),
    settled_at = to_timestamp(%s)
WHERE id = %s
"""


@dataclass(frozen=True)
class Hold:
    app_id: int
    rule_id: str
    event_id: str
    user_id: str | None
    due_at: float
    tokens: list[str]
    body: dict[str, Any]  # rendered, contract names, no tokens
    ttl_seconds: int | None
    why: str  # delay | quiet_hours
    cancel: tuple[str, str, str] | None  # (event, key, value)


async def hold(conn: AsyncConnection[Any], h: Hold) -> str:
    pending_id = new_id()
    event, key, value = h.cancel or (None, None, None)
    await conn.execute(_HOLD, (pending_id, h.app_id, h.rule_id, h.event_id, h.user_id, h.due_at,
                               Jsonb({"tokens": h.tokens, "body": h.body,
                                      "ttlSeconds": h.ttl_seconds}),
                               event, key, value, h.why))
    return pending_id


async def cancel_matching(conn: AsyncConnection[Any], app_id: int,
                          events: Sequence[dict[str, Any]], now: float) -> dict[str, list[str]]:
    """Cancel what ``events`` (``event_id``, ``name``, ``properties``) cancel; the pending ids
    canceled, by event id."""
    cur = await conn.execute(_CANCEL, {"app_id": app_id, "events": Jsonb(list(events)),
                                       "now": now})
    out: dict[str, list[str]] = {}
    for event_id, pending_id in await cur.fetchall():
        out.setdefault(event_id, []).append(pending_id)
    return out


async def release_due(outlet: Outlet, now: float, batch: int = RELEASE_BATCH) -> int:
    """Submit one batch of due sends (see the module docstring); how many rows it settled."""
    async with outlet.pool.connection() as conn:
        tx = TransactionOutlet(outlet, conn)
        async with conn.transaction():
            due = await (await conn.execute(_DUE, (now, batch))).fetchall()
            for pending_id, app_id, rule_id, event_id, push, limits in due:
                app = App(int(app_id), Limits.from_settings(outlet.settings, limits))
                body = body_for(push["body"], event_id, push.get("ttlSeconds"), now)
                sent = await send_now(tx, app, list(push["tokens"]), body, rule_id,
                                      request_id=f"automation:{pending_id}", now=now)
                state = "released" if sent.status == "queued" else "failed"
                await conn.execute(_SETTLE, (state, sent.message_id, sent.reason, now,
                                             pending_id))
        await tx.publish()
    if due:
        log.info("automation released %d pending send(s)", len(due))
    return len(due)
