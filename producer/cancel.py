"""``DELETE /v2.1/push/{messageId}``: cancel the dispatches of a message that are still
``scheduled``.

A scheduled dispatch waits in the outbox until its ``scheduleTime``; the sweeper then locks its
outbox row (``FOR UPDATE SKIP LOCKED``), marks it ``queued``, deletes the row and publishes, in one
transaction (``producer.outbox.sweep_once``). Cancelling takes the same locks in the same order
-- the outbox rows first, then the dispatches -- so the two never interleave and never deadlock:

- if the sweeper holds a row, the cancel waits for it to commit and then finds the dispatch
  ``queued``: it was published, and is reported as such, not as canceled;
- once the cancel holds a row, the sweeper skips it, and the dispatch becomes ``canceled`` with
  its outbox row gone: it can no longer be published by anyone.

Dispatches already ``queued`` or further are left as they are (a queued push may be in a
gateway's hands already). The answer lists every dispatch of the message with its status after
the call, and how many this call canceled; repeating the call changes nothing.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from producer.auth import authenticate
from producer.envelope import respond
from producer.history import message_not_found, path_message_id
from producer.state import get_state

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


async def cancel_message(request: Request) -> Response:
    state = get_state(request)
    caller = await authenticate(request, "push:send")
    message_id = path_message_id(request)
    async with state.pool.connection() as conn:
        message = await (await conn.execute(_MESSAGE, (message_id, caller.app_id))).fetchone()
        if message is None:
            raise message_not_found(request.path_params["message_id"])
        async with conn.transaction():
            locked = await (await conn.execute(_LOCK, (message_id, caller.app_id))).fetchall()
            canceled = 0
            if locked:
                row = await (await conn.execute(
                    _CANCEL, {"ids": [r[0] for r in locked]})).fetchone()
                canceled = int(row[0]) if row else 0
        dispatches = await (await conn.execute(_DISPATCHES, (message_id, caller.app_id))
                            ).fetchall()
    item: dict[str, Any] = {
        "messageId": str(message_id), "externalId": message[0], "canceled": canceled,
        "dispatches": [{"dispatchId": str(did), "deviceToken": token, "platform": platform,
                        "status": status} for did, token, platform, status in dispatches]}
    return respond(request, 200, [item])
