"""A message's whole story: the message, its dispatches and each one's status history.

Scoped by app: another app's message is not found, like a missing one.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection

_MESSAGE = """
SELECT id, external_id, content, webhook_url, schedule_time, ttl, source, source_ref,
       request_id, created_at
FROM messages WHERE id = %s AND app_id = %s
"""
_DISPATCHES = """
SELECT id, device_token, platform, lane, status, reason, attempts, gateway_id,
       gateway_response, created_at, updated_at
FROM dispatches WHERE message_id = %s AND app_id = %s ORDER BY id
"""
_EVENTS = """
SELECT dispatch_id, status, reason, detail, at FROM dispatch_events
WHERE dispatch_id = ANY(%s::uuid[]) ORDER BY dispatch_id, id
"""


@dataclass(frozen=True)
class StatusEvent:
    """One status a dispatch passed through."""

    status: str
    reason: str | None
    detail: Any  # the gateway's answer (JSON), when the step came from one
    at: datetime


@dataclass(frozen=True)
class DispatchStory:
    id: str
    device_token: str
    platform: str
    lane: str
    status: str
    reason: str | None
    attempts: int
    gateway_id: str | None
    gateway_response: Any
    created_at: datetime
    updated_at: datetime
    history: list[StatusEvent]  # oldest first


@dataclass(frozen=True)
class MessageStory:
    id: str
    external_id: str | None
    content: dict[str, Any]
    webhook_url: str | None
    schedule_time: datetime | None
    ttl: datetime | None
    source: str  # api | automation | campaign
    source_ref: str | None  # the automation rule or campaign behind it
    request_id: str | None
    created_at: datetime
    dispatches: list[DispatchStory]  # by id, i.e. in the order they were created


async def message_story(conn: AsyncConnection[Any], app_id: int, message_id: uuid.UUID
                        ) -> MessageStory | None:
    """The message with every dispatch and its history; None when the app has no such message."""
    row = await (await conn.execute(_MESSAGE, (message_id, app_id))).fetchone()
    if row is None:
        return None
    dispatches = await (await conn.execute(_DISPATCHES, (message_id, app_id))).fetchall()
    events = await (await conn.execute(_EVENTS, ([d[0] for d in dispatches],))).fetchall()
    history: dict[Any, list[StatusEvent]] = {}
    for did, status, reason, detail, at in events:
        history.setdefault(did, []).append(StatusEvent(status, reason, detail, at))
    (mid, external_id, content, webhook_url, schedule_time, ttl, source, source_ref, rid,
     created) = row
    return MessageStory(
        id=str(mid), external_id=external_id, content=content, webhook_url=webhook_url,
        schedule_time=schedule_time, ttl=ttl, source=source, source_ref=source_ref,
        request_id=rid, created_at=created, dispatches=[
            DispatchStory(str(d[0]), d[1], d[2], d[3], d[4], d[5], d[6], d[7], d[8], d[9], d[10],
                          history.get(d[0], []))
            for d in dispatches])
