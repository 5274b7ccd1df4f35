"""Searching an app's dispatches (one per token), newest first.

Every filter combination is served by an index leading with ``app_id`` and ending with
``created_at DESC`` (see the migrations), except ``q``, the one slow filter (below).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection

from shared import statuses

STATUSES = tuple(statuses.RANK)
SOURCES = ("api", "automation", "campaign")

_COLUMNS = """
SELECT d.id, d.message_id, d.external_id, d.device_token, d.platform, d.lane, d.source,
       d.source_ref, d.status, d.reason, d.attempts, d.gateway_id, d.created_at, d.updated_at
FROM dispatches d WHERE d.app_id = %(app_id)s
"""
# q: the message's title or content, or the external id (case-insensitive substring), or the
# exact device token. A substring search cannot use a B-tree: it scans the app's messages (by
# messages_app_created, within the date window when one is given), so it is the one slow filter.
_Q_CONDITION = """(d.device_token = %(q)s OR d.external_id ILIKE %(q_like)s
  OR d.message_id IN (SELECT m.id FROM messages m WHERE m.app_id = %(app_id)s
      AND m.created_at >= coalesce(%(date_from)s, '-infinity'::timestamptz)
      AND m.created_at <= coalesce(%(date_to)s, 'infinity'::timestamptz)
      AND (m.content->>'title' ILIKE %(q_like)s OR m.content->>'content' ILIKE %(q_like)s)))"""
_CONDITIONS = {
    "date_from": "d.created_at >= %(date_from)s", "date_to": "d.created_at <= %(date_to)s",
    "status": "d.status = %(status)s", "platform": "d.platform = %(platform)s",
    "token": "d.device_token = %(token)s", "external_id": "d.external_id = %(external_id)s",
    "source": "d.source = %(source)s", "source_ref": "d.source_ref = %(source_ref)s",
    "q": _Q_CONDITION,
}


@dataclass(frozen=True)
class DispatchFilter:
    """What to look for; None leaves a criterion out."""

    date_from: datetime | None = None
    date_to: datetime | None = None
    status: str | None = None
    platform: str | None = None
    token: str | None = None
    external_id: str | None = None
    source: str | None = None
    source_ref: str | None = None  # the automation rule or campaign
    q: str | None = None  # a word of the title or content, an external id, or a token


@dataclass(frozen=True)
class DispatchRow:
    id: str
    message_id: str
    external_id: str | None
    device_token: str
    platform: str
    lane: str
    source: str
    source_ref: str | None
    status: str
    reason: str | None
    attempts: int
    gateway_id: str | None
    created_at: datetime
    updated_at: datetime


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


async def search(conn: AsyncConnection[Any], app_id: int, f: DispatchFilter, *, offset: int,
                 limit: int) -> list[DispatchRow]:
    filters = {field.name: getattr(f, field.name) for field in fields(f)}
    sql = _COLUMNS + "".join(
        f" AND {_CONDITIONS[name]}" for name, value in filters.items() if value is not None)
    sql += " ORDER BY d.created_at DESC, d.id DESC OFFSET %(offset)s LIMIT %(limit)s"
    params = {**filters, "app_id": app_id, "offset": offset, "limit": limit}
    if f.q is not None:
        params["q_like"] = _like(f.q)
    rows = await (await conn.execute(sql.encode(), params)).fetchall()
    return [DispatchRow(str(r[0]), str(r[1]), *r[2:]) for r in rows]
