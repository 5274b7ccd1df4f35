"""What an operator must look at: dispatches without a final status long after they were
accepted, and webhook events never acknowledged by the customer's receiver.

A dispatch is unfinished when it is still ``queued`` (or ``scheduled`` with its time passed)
``older_than`` after it was due: a worker should have sent or failed it by then. A webhook event
is unacknowledged when it is dead (its retry window ran out) or still pending after at least
one failed attempt and ``older_than``. Both lists are oldest first, each served by an index of
the migrations (``dispatches_app_status``, ``webhook_events_due``, ``webhook_events_dead``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from psycopg import AsyncConnection

_DISPATCHES = """
SELECT d.id::text, d.message_id::text, d.device_token, d.platform, d.lane, d.status,
       d.attempts, d.created_at, d.updated_at, m.schedule_time
FROM dispatches d JOIN messages m ON m.id = d.message_id
WHERE d.app_id = %(app_id)s AND d.status IN ('queued', 'scheduled')
  AND d.created_at < now() - %(older_than)s
  AND (d.status = 'queued' OR m.schedule_time < now() - %(older_than)s)
ORDER BY d.created_at, d.id LIMIT %(limit)s
"""
_WEBHOOKS = """
(SELECT id::text, type, dispatch_id::text, message_id::text, state, attempts, last_error,
        created_at, next_attempt_at, dead_at
 FROM webhook_events WHERE app_id = %(app_id)s AND state = 'dead'
 ORDER BY dead_at LIMIT %(limit)s)
UNION ALL
(SELECT id::text, type, dispatch_id::text, message_id::text, state, attempts, last_error,
        created_at, next_attempt_at, dead_at
 FROM webhook_events WHERE app_id = %(app_id)s AND state = 'pending' AND attempts > 0
   AND created_at < now() - %(older_than)s
 ORDER BY next_attempt_at LIMIT %(limit)s)
"""


@dataclass(frozen=True)
class StuckDispatch:
    id: str
    message_id: str
    device_token: str
    platform: str
    lane: str
    status: str
    attempts: int
    created_at: datetime
    updated_at: datetime
    schedule_time: datetime | None


@dataclass(frozen=True)
class UnacknowledgedWebhook:
    id: str
    type: str
    dispatch_id: str | None
    message_id: str | None
    state: str  # pending (still retried) | dead (given up)
    attempts: int
    last_error: str | None
    created_at: datetime
    next_attempt_at: datetime
    dead_at: datetime | None


@dataclass(frozen=True)
class UnfinishedReport:
    older_than: timedelta
    dispatches: list[StuckDispatch]
    webhooks: list[UnacknowledgedWebhook]


async def unfinished(conn: AsyncConnection[Any], app_id: int, *, older_than: timedelta,
                     limit: int) -> UnfinishedReport:
    """Up to ``limit`` of each kind, oldest first."""
    params = {"app_id": app_id, "older_than": older_than, "limit": limit}
    dispatches = await (await conn.execute(_DISPATCHES, params)).fetchall()
    webhooks = await (await conn.execute(_WEBHOOKS, params)).fetchall()
    return UnfinishedReport(older_than, [StuckDispatch(*r) for r in dispatches],
                            [UnacknowledgedWebhook(*r) for r in webhooks][:limit])
