"""Reading state: ``GET /v2.1/push/{messageId}`` and the search ``GET /v2.1/push``.

Both are scoped to the caller's app: another app's message is ``404`` like a missing one. The
search lists dispatches (one per token) newest first; every filter combination is served by an
index leading with ``app_id`` and ending with ``created_at DESC, id DESC`` (see 0001_init.sql).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from producer.auth import authenticate
from producer.envelope import ApiError, error_item, respond
from producer.state import get_state
from shared.payload import parse_time
from shared.tokens import PLATFORMS

STATUSES = ("scheduled", "queued", "sent", "delivered", "opened", "failed", "canceled")
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
MAX_OFFSET = 1_000_000
MAX_Q = 200

_MESSAGE = """
SELECT id, external_id, content, webhook_url, schedule_time, ttl, source, request_id, created_at
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
_SEARCH_COLUMNS = """
SELECT d.id, d.message_id, d.external_id, d.device_token, d.platform, d.lane, d.status,
       d.reason, d.attempts, d.gateway_id, d.created_at, d.updated_at
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


def iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _dispatch(row: Any, history: list[dict[str, Any]]) -> dict[str, Any]:
    (did, token, platform, lane, status, reason, attempts, gateway_id, gateway_response,
     created, updated) = row
    return {"dispatchId": str(did), "deviceToken": token, "platform": platform, "lane": lane,
            "status": status, "reason": reason, "attempts": attempts, "gatewayId": gateway_id,
            "gatewayResponse": gateway_response, "createdAt": iso(created),
            "updatedAt": iso(updated), "history": history}


def message_not_found(raw_id: str) -> ApiError:
    return ApiError(404, "NOT_FOUND", "No such message", parameter="messageId", value=raw_id,
                    source="path")


def path_message_id(request: Request) -> uuid.UUID:
    """The path's ``message_id``; 404 when it is not a UUID, like a message that is not there."""
    raw_id = request.path_params["message_id"]
    try:
        return uuid.UUID(raw_id)
    except ValueError:
        raise message_not_found(raw_id) from None


async def get_message(request: Request) -> Response:
    state = get_state(request)
    caller = await authenticate(request, "push:read")
    message_id = path_message_id(request)
    async with state.pool.connection() as conn:
        row = await (await conn.execute(_MESSAGE, (message_id, caller.app_id))).fetchone()
        if row is None:
            raise message_not_found(request.path_params["message_id"])
        dispatches = await (await conn.execute(_DISPATCHES, (message_id, caller.app_id))
                            ).fetchall()
        events = await (await conn.execute(_EVENTS, ([d[0] for d in dispatches],))).fetchall()
    history: dict[Any, list[dict[str, Any]]] = {}
    for did, status, reason, detail, at in events:
        history.setdefault(did, []).append(
            {"status": status, "reason": reason, "detail": detail, "at": iso(at)})
    mid, external_id, content, webhook_url, schedule_time, ttl, source, rid, created = row
    item = {"messageId": str(mid), "externalId": external_id, "content": content,
            "webhookUrl": webhook_url, "scheduleTime": iso(schedule_time),
            "ttl": int(ttl.timestamp()) if ttl else None, "source": source,
            "requestId": rid, "createdAt": iso(created),
            "dispatches": [_dispatch(d, history.get(d[0], [])) for d in dispatches]}
    return respond(request, 200, [item])


class QueryParams:
    """Query-string parsing with one error entry per bad parameter."""

    def __init__(self, params: Mapping[str, str]) -> None:
        self.params = params
        self.errors: list[dict[str, Any]] = []

    def fail(self, code: str, name: str, message: str) -> None:
        self.errors.append(error_item(code, message, parameter=name,
                                      value=self.params.get(name), source="query"))

    def integer(self, name: str, default: int, low: int, high: int) -> int:
        raw = self.params.get(name)
        if raw is None or raw == "":
            return default
        if not raw.isdigit() or not low <= int(raw) <= high:
            self.fail("INVALID_FORMAT", name, f"'{name}' must be an integer from {low} to {high}")
            return default
        return int(raw)

    def time(self, name: str) -> datetime | None:
        raw = self.params.get(name)
        if not raw:
            return None
        try:
            return parse_time(raw)
        except ValueError:
            self.fail("INVALID_FORMAT", name,
                      f"'{name}' must be RFC 3339 or 'YYYY-MM-DD hh:mm:ss'")
            return None

    def choice(self, name: str, options: tuple[str, ...]) -> str | None:
        raw = self.params.get(name)
        if not raw:
            return None
        if raw not in options:
            self.fail("INVALID_FORMAT", name, f"'{name}' must be one of {', '.join(options)}")
            return None
        return raw

    def text(self, name: str, max_chars: int) -> str | None:
        raw = self.params.get(name)
        if not raw:
            return None
        if len(raw) > max_chars:
            self.fail("TOO_LONG", name, f"'{name}' exceeds {max_chars} characters")
            return None
        return raw


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


async def search(request: Request) -> Response:
    state = get_state(request)
    caller = await authenticate(request, "push:read")
    q = QueryParams(request.query_params)
    filters: dict[str, Any] = {
        "date_from": q.time("dateFrom"), "date_to": q.time("dateTo"),
        "status": q.choice("status", STATUSES), "platform": q.choice("platform", PLATFORMS),
        "token": q.text("deviceToken", 4096), "external_id": q.text("externalId", 256),
        "q": q.text("q", MAX_Q),
    }
    offset = q.integer("offset", 0, 0, MAX_OFFSET)
    limit = q.integer("limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    if q.errors:
        raise ApiError.validation(q.errors)
    conditions = {
        "date_from": "d.created_at >= %(date_from)s", "date_to": "d.created_at <= %(date_to)s",
        "status": "d.status = %(status)s", "platform": "d.platform = %(platform)s",
        "token": "d.device_token = %(token)s", "external_id": "d.external_id = %(external_id)s",
        "q": _Q_CONDITION,
    }
    sql = _SEARCH_COLUMNS + "".join(
        f" AND {conditions[name]}" for name, value in filters.items() if value is not None)
    sql += " ORDER BY d.created_at DESC, d.id DESC OFFSET %(offset)s LIMIT %(limit)s"
    params = {**filters, "app_id": caller.app_id, "offset": offset, "limit": limit}
    if filters["q"] is not None:
        params["q_like"] = _like(filters["q"])
    async with state.pool.connection() as conn:
        rows = await (await conn.execute(sql.encode(), params)).fetchall()
    data = [{"dispatchId": str(r[0]), "messageId": str(r[1]), "externalId": r[2],
             "deviceToken": r[3], "platform": r[4], "lane": r[5], "status": r[6],
             "reason": r[7], "attempts": r[8], "gatewayId": r[9], "createdAt": iso(r[10]),
             "updatedAt": iso(r[11])} for r in rows]
    return respond(request, 200, data)
