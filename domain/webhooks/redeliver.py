"""Sending one webhook event again from the panel: a dead letter (like ``config.replay``) or an
event already delivered (the customer's system lost it) goes back to pending with a fresh retry
window, and the sender delivers it again with the same ``webhook-id``, so a receiver that
deduplicates by it sees a repeat."""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection

_REDELIVER = """
UPDATE webhook_events SET state = 'pending', rounds = 0, retry_from = now(),
    next_attempt_at = now(), dead_at = NULL, delivered_at = NULL
WHERE app_id = %s AND id = %s AND state IN ('dead', 'delivered')
"""


async def redeliver(conn: AsyncConnection[Any], app_id: int, event_id: str) -> bool:
    """True when the event was put back to pending; False when the app has no such event or
    it is pending already."""
    return (await conn.execute(_REDELIVER, (app_id, event_id))).rowcount == 1
