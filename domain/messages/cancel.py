"""Cancelling the dispatches of a message that are still ``scheduled`` (``DELETE
/v2.1/push/{messageId}``).

A scheduled dispatch waits in the outbox until its ``scheduleTime``; the sweeper then locks its
outbox row (``FOR UPDATE SKIP LOCKED``), marks it ``queued``, deletes the row and publishes, in one
transaction (``domain.messages.outbox.sweep``). Cancelling takes the same locks in the same order
-- the outbox rows first, then the dispatches -- so the two never interleave and never deadlock:

- if the sweeper holds a row, the cancel waits for it to commit and then finds the dispatch
  ``queued``: it was published, and is reported as such, not as canceled;
- once the cancel holds a row, the sweeper skips it, and the dispatch becomes ``canceled`` with
  its outbox row gone: it can no longer be published by anyone.

Dispatches already ``queued`` or further are left as they are (a queued push may be in a
gateway's hands already). ``cancel_scheduled`` returns every dispatch of the message with its
status after the call, and how many this call canceled; repeating the call changes nothing.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection

from domain.messages.submit import Dispatch

_MESSAGE = "SELECT external_id FROM messages WHERE id = %s AND app_id = %s"
# The outbox rows of the message's scheduled dispatches, locked as the sweeper locks them.
_LOCK = """
SELECT o.dispatch_id FROM outbox o JOIN dispatches d ON d.id = o.dispatch_id
WHERE d.message_id = %s AND d.app_id = %s AND d.status = 'scheduled'
FOR UPDATE OF o
"""
_CANCEL = """
WITH c AS (
  UPDATE dispatches SET status = 'canceled', updated_at = now()
  WHERE id = ANY(%(ids)s::uuid[]) AND status = 'scheduled'
  RETURNING id
), e AS (
  INSERT INTO dispatch_events (dispatch_id, status) SELECT id, 'canceled' FROM c
), o AS (
  DELETE FROM outbox WHERE dispatch_id IN (SELECT id FROM c)
)
SELECT count(*) FROM c
"""
_DISPATCHES = """
SELECT id, device_token, platform, status FROM dispatches
WHERE message_id = %s AND app_id = %s ORDER BY id
"""


@dataclass(frozen=True)
class Canceled:
    message_id: str
    external_id: str | None
    canceled: int  # dispatches this call canceled
    dispatches: list[Dispatch]  # every dispatch of the message, as it is now


async def cancel_scheduled(conn: AsyncConnection[Any], app_id: int, message_id: uuid.UUID
                           ) -> Canceled | None:
    """Cancel what is still scheduled of the app's message; None when it has no such message."""
    message = await (await conn.execute(_MESSAGE, (message_id, app_id))).fetchone()
    if message is None:
        return None
    async with conn.transaction():
        locked = await (await conn.execute(_LOCK, (message_id, app_id))).fetchall()
        canceled = 0
        if locked:
            row = await (await conn.execute(_CANCEL, {"ids": [r[0] for r in locked]})).fetchone()
            canceled = int(row[0]) if row else 0
    dispatches = await (await conn.execute(_DISPATCHES, (message_id, app_id))).fetchall()
    return Canceled(str(message_id), message[0], canceled,
                    [Dispatch(str(did), token, platform, status)
                     for did, token, platform, status in dispatches])
