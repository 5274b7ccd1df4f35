"""``GET /v2.1/unfinished`` (scope ``push:read``): the report of ``domain.dispatches.unfinished``
as JSON for scripts and monitoring (the panel's Unfinished page shows the same report)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from domain.dispatches.unfinished import UnfinishedReport, unfinished
from producer import openapi as oa
from producer.auth import authenticate
from producer.envelope import ApiError, respond
from producer.history import QueryParams, iso
from producer.state import get_state

SCOPE = "push:read"
DEFAULT_OLDER_THAN, MAX_OLDER_THAN = 300, 30 * 86400  # seconds
DEFAULT_LIMIT, MAX_LIMIT = 100, 1000


def report_json(report: UnfinishedReport) -> dict[str, Any]:
    return {
        "olderThan": int(report.older_than.total_seconds()),
        "dispatches": [{
            "dispatchId": d.id, "messageId": d.message_id, "deviceToken": d.device_token,
            "platform": d.platform, "lane": d.lane, "status": d.status, "attempts": d.attempts,
            "createdAt": iso(d.created_at), "updatedAt": iso(d.updated_at),
            "scheduleTime": iso(d.schedule_time)} for d in report.dispatches],
        "webhooks": [{
            "eventId": w.id, "type": w.type, "dispatchId": w.dispatch_id,
            "messageId": w.message_id, "state": w.state, "attempts": w.attempts,
            "lastError": w.last_error, "createdAt": iso(w.created_at),
            "nextAttemptAt": iso(w.next_attempt_at), "deadAt": iso(w.dead_at)}
            for w in report.webhooks]}


async def get_unfinished(request: Request) -> Response:
    caller = await authenticate(request, SCOPE)
    q = QueryParams(request.query_params)
    older_than = q.integer("olderThan", DEFAULT_OLDER_THAN, 0, MAX_OLDER_THAN)
    limit = q.integer("limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    if q.errors:
        raise ApiError.validation(q.errors)
    async with get_state(request).pool.connection() as conn:
        report = await unfinished(conn, caller.app_id, older_than=timedelta(seconds=older_than),
                                  limit=limit)
    return respond(request, 200, [report_json(report)])


routes: list[BaseRoute] = [Route("/v2.1/unfinished", get_unfinished, methods=["GET"])]

_STR, _NSTR, _INT = {"type": "string"}, {"type": ["string", "null"]}, {"type": "integer"}
_REPORT = {"type": "object", "properties": {
    "olderThan": _INT,
    "dispatches": {"type": "array", "items": {"type": "object", "properties": {
        "dispatchId": _STR, "messageId": _STR, "deviceToken": _STR, "platform": _STR,
        "lane": _STR, "status": {"type": "string", "enum": ["queued", "scheduled"]},
        "attempts": _INT, "createdAt": _STR, "updatedAt": _STR, "scheduleTime": _NSTR}}},
    "webhooks": {"type": "array", "items": {"type": "object", "properties": {
        "eventId": _STR, "type": _STR, "dispatchId": _NSTR, "messageId": _NSTR,
        "state": {"type": "string", "enum": ["pending", "dead"]}, "attempts": _INT,
        "lastError": _NSTR, "createdAt": _STR, "nextAttemptAt": _STR, "deadAt": _NSTR}}}}}

openapi: dict[str, Any] = {"paths": {"/v2.1/unfinished": {"get": oa.operation(
    "What an operator must look at", scope=SCOPE, ok_schema=_REPORT, errors=(401, 403, 422),
    parameters=[
        oa.query_param("olderThan", {"type": "integer", "minimum": 0, "maximum": MAX_OLDER_THAN,
                                     "default": DEFAULT_OLDER_THAN},
                       "seconds past which a dispatch still queued (or scheduled and due) is "
                       "reported"),
        oa.query_param("limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT,
                                 "default": DEFAULT_LIMIT}, "items of each list")],
    description="Dispatches without a final status `olderThan` seconds after they were due "
                "(oldest first), and webhook events never acknowledged: dead ones (their "
                "retry window ran out; replay them with `POST /v2.1/webhooks/deliveries/"
                "{id}/replay`) and pending ones that failed at least once.")}}}
