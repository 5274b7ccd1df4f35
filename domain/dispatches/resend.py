"""Resending a failed dispatch: the same message to the same token as a NEW message, through
``domain.messages.submit`` like every push, linked to the first in ``dispatch_resends``
(migration 0007) so that each dispatch page names the other."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from psycopg import AsyncConnection

from domain.messages.submit import Outlet, SendingApp, Submitted, submit
from shared.jobs import MessageContent
from shared.payload import PushRequest

_FAILED = """
SELECT d.device_token, d.platform, m.content, m.external_id, m.webhook_url,
       extract(epoch FROM m.ttl)::bigint
FROM dispatches d JOIN messages m ON m.id = d.message_id
WHERE d.id = %s AND d.app_id = %s AND d.status = 'failed'
"""
_LINK = """
INSERT INTO dispatch_resends (resent_id, original_id, app_id, resent_by) VALUES (%s, %s, %s, %s)
"""
_LINKS = """
SELECT resent_id::text, original_id::text, resent_by, created_at FROM dispatch_resends
WHERE app_id = %(app_id)s AND (original_id = %(id)s OR resent_id = %(id)s) ORDER BY created_at
"""


class NotResendable(Exception):
    """Not a failed dispatch of this app, or its message's ttl has passed (the message would
    only expire again)."""


@dataclass(frozen=True)
class ResendLink:
    resent_id: str  # the new dispatch
    original_id: str  # the failed one
    resent_by: str
    at: datetime


async def resend(app: SendingApp, outlet: Outlet, dispatch_id: uuid.UUID, *, by: str,
                 request_id: str) -> Submitted:
    """Submit the failed dispatch's message again to its token; the new dispatch's id is in the
    answer. Raises NotResendable, or what ``submit`` raises (the token may be dead by now)."""
    async with outlet.pool.connection() as conn:
        row = await (await conn.execute(_FAILED, (dispatch_id, app.app_id))).fetchone()
    if row is None:
        raise NotResendable("only a failed dispatch of this app can be resent")
    token, platform, content, external_id, webhook_url, ttl = row
    if ttl is not None and ttl <= time.time():
        raise NotResendable("the message's ttl has passed")
    req = PushRequest([token], cast(MessageContent, content), platform, ttl,
                      external_id=external_id, webhook_url=webhook_url)
    submitted = await submit(app, req, outlet=outlet, request_id=request_id)
    assert isinstance(submitted, Submitted)  # no idempotency key: never a stored answer
    async with outlet.pool.connection() as conn:
        await conn.execute(_LINK, (submitted.dispatches[0].id, dispatch_id, app.app_id, by))
    return submitted


async def resend_links(conn: AsyncConnection[Any], app_id: int, dispatch_id: uuid.UUID
                       ) -> list[ResendLink]:
    """The resends of this dispatch, and the dispatch it resends if it is one."""
    rows = await (await conn.execute(_LINKS, {"app_id": app_id, "id": dispatch_id})).fetchall()
    return [ResendLink(*r) for r in rows]
