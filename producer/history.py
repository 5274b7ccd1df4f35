"""Reading state: ``GET /v2.1/push/{messageId}`` and the search ``GET /v2.1/push``, thin
callers of ``domain.dispatches`` (``timeline``, ``search``), and the query-string parsing the
API's list endpoints share (``QueryParams``).

Both are scoped to the caller's app: another app's message is ``404`` like a missing one.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, NamedTuple

from starlette.requests import Request
from starlette.responses import Response

from domain.dispatches.search import SOURCES, STATUSES, DispatchFilter
from domain.dispatches.search import search as search_dispatches
from domain.dispatches.timeline import DispatchStory, GatewayAttempt, message_story
from domain.webhooks.config import DELIVERY_STATES, Delivery
from producer import openapi as oa
from producer.auth import authenticate
from producer.envelope import ApiError, error_item, respond
from producer.state import get_state
from shared.payload import parse_time
from shared.statuses import EVENT_TYPES
from shared.tokens import PLATFORMS

# Offset paging of the API's lists (``?offset=&limit=``): read by ``QueryParams.paging``,
# documented by ``paging_params``.
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
MAX_OFFSET = 1_000_000
MAX_Q = 200


def iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _attempt(a: GatewayAttempt) -> dict[str, Any]:
    return {"attempt": a.number, "outcome": a.outcome, "startedAt": iso(a.started_at),
            "answeredAt": iso(a.answered_at), "latencyMs": a.latency_ms,
            "gatewayStatus": a.gateway_status, "gatewayReason": a.gateway_reason,
            "gatewayResponse": a.response, "gatewayId": a.gateway_id, "worker": a.worker,
            "takenAt": iso(a.taken_at), "retryAt": iso(a.retry_at)}


def delivery_json(d: Delivery) -> dict[str, Any]:
    """A webhook event and its HTTP attempts (``DELIVERY_SCHEMA``)."""
    return {"id": d.id, "type": d.type, "state": d.state, "dispatchId": d.dispatch_id,
            "messageId": d.message_id, "attempts": d.attempts,
            "nextAttemptAt": iso(d.next_attempt_at), "lastError": d.last_error,
            "createdAt": iso(d.created_at), "deliveredAt": iso(d.delivered_at),
            "deadAt": iso(d.dead_at), "attemptLog": [
                {"at": a.at, "url": a.url, "statusCode": a.status_code,
                 "latencyMs": a.latency_ms, "error": a.error} for a in d.attempt_log]}


def _dispatch(d: DispatchStory) -> dict[str, Any]:
    return {"dispatchId": d.id, "deviceToken": d.device_token, "platform": d.platform,
            "lane": d.lane, "status": d.status, "reason": d.reason, "attempts": d.attempts,
            "gatewayId": d.gateway_id, "gatewayResponse": d.gateway_response,
            "createdAt": iso(d.created_at), "updatedAt": iso(d.updated_at),
            "history": [{"status": e.status, "reason": e.reason, "detail": e.detail,
                         "at": iso(e.at)} for e in d.history],
            "attemptLog": [_attempt(a) for a in d.attempt_log],
            "webhooks": [delivery_json(w) for w in d.webhooks]}


_TIME_OR_NULL = {"type": ["string", "null"], "format": "date-time"}
DELIVERY_SCHEMA: dict[str, Any] = {"type": "object", "properties": {
    "id": {"type": "string", "description": "the event's id, also its webhook-id"},
    "type": {"type": "string", "enum": list(EVENT_TYPES)},
    "state": {"type": "string", "enum": list(DELIVERY_STATES)},
    "dispatchId": {"type": "string"}, "messageId": {"type": "string"},
    "attempts": {"type": "integer"}, "nextAttemptAt": _TIME_OR_NULL,
    "lastError": {"type": ["string", "null"]}, "createdAt": _TIME_OR_NULL,
    "deliveredAt": _TIME_OR_NULL, "deadAt": _TIME_OR_NULL,
    "attemptLog": {"type": "array", "items": {"type": "object", "properties": {
        "at": {"type": "string"}, "url": {"type": "string"},
        "statusCode": {"type": ["integer", "null"]}, "latencyMs": {"type": ["number", "null"]},
        "error": {"type": ["string", "null"]}}}}}}
ATTEMPT_SCHEMA: dict[str, Any] = {"type": "object", "properties": {
    "attempt": {"type": "integer", "description": "1 for the first"},
    "outcome": {"type": "string", "enum": ["sent", "failed", "retried"]},
    "startedAt": {"type": "string", "format": "date-time"},
    "answeredAt": {"type": "string", "format": "date-time"},
    "latencyMs": {"type": "number"},
    "gatewayStatus": {"type": ["integer", "null"],
                      "description": "the gateway's HTTP status; 0: no answer (transport)"},
    "gatewayReason": {"type": ["string", "null"],
                      "description": "APNs reason, FCM error status, or the transport failure"},
    "gatewayResponse": {"type": ["object", "null"]},
    "gatewayId": {"type": ["string", "null"],
                  "description": "the apns-id, or the FCM message name once accepted"},
    "worker": {"type": ["string", "null"], "description": "the send worker (gateway-host-pid)"},
    "takenAt": _TIME_OR_NULL, "retryAt": _TIME_OR_NULL}}


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
        story = await message_story(conn, caller.app_id, message_id)
    if story is None:
        raise message_not_found(request.path_params["message_id"])
    item = {"messageId": story.id, "externalId": story.external_id, "content": story.content,
            "webhookUrl": story.webhook_url, "scheduleTime": iso(story.schedule_time),
            "ttl": int(story.ttl.timestamp()) if story.ttl else None, "source": story.source,
            "sourceRef": story.source_ref, "requestId": story.request_id,
            "createdAt": iso(story.created_at),
            "dispatches": [_dispatch(d) for d in story.dispatches]}
    return respond(request, 200, [item])


class Paging(NamedTuple):
    offset: int
    limit: int


def paging_params(items: str) -> list[dict[str, Any]]:
    """The ``offset`` and ``limit`` parameters of a list of ``items``, for ``/openapi.json``."""
    return [oa.query_param("offset", {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET},
                           f"{items} to skip (default 0)"),
            oa.query_param("limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT,
                                     "default": DEFAULT_LIMIT}, f"{items} to return")]


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

    def paging(self) -> Paging:
        return Paging(self.integer("offset", 0, 0, MAX_OFFSET),
                      self.integer("limit", DEFAULT_LIMIT, 1, MAX_LIMIT))

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


async def search(request: Request) -> Response:
    state = get_state(request)
    caller = await authenticate(request, "push:read")
    q = QueryParams(request.query_params)
    f = DispatchFilter(
        date_from=q.time("dateFrom"), date_to=q.time("dateTo"),
        status=q.choice("status", STATUSES), platform=q.choice("platform", PLATFORMS),
        token=q.text("deviceToken", 4096), external_id=q.text("externalId", 256),
        source=q.choice("source", SOURCES), source_ref=q.text("sourceRef", 256),
        q=q.text("q", MAX_Q))
    offset, limit = q.paging()
    if q.errors:
        raise ApiError.validation(q.errors)
    async with state.pool.connection() as conn:
        rows = await search_dispatches(conn, caller.app_id, f, offset=offset, limit=limit)
    data = [{"dispatchId": r.id, "messageId": r.message_id, "externalId": r.external_id,
             "deviceToken": r.device_token, "platform": r.platform, "lane": r.lane,
             "source": r.source, "sourceRef": r.source_ref, "status": r.status,
             "reason": r.reason, "attempts": r.attempts, "gatewayId": r.gateway_id,
             "createdAt": iso(r.created_at), "updatedAt": iso(r.updated_at)} for r in rows]
    return respond(request, 200, data)
