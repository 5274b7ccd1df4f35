"""``POST /v2.1/events`` (scope ``events:send``): events from the customer's system, which fire
the app's automation rules (``domain.automation.fire``); ``GET /v2.1/events`` (scope
``push:read``): the stored events, newest first, with what each caused.

The body is one event or a list of up to 100; every event is validated first and one bad event
refuses the request (422, nothing stored). The answer has one entry per event, in the order
sent: the rules it matched and the messages each created or scheduled, or why a rule did not
fire. A repeated ``eventId`` gets its first answer again and changes nothing.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

from pydantic import Field
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from domain.automation import events as stored_events
from domain.automation.cache import RuleCache
from domain.automation.events import MAX_EVENTS, EventBody
from domain.automation.fire import fire
from domain.messages.rows import OutcomeUnknown
from domain.messages.submit import TryAgain
from producer import openapi as oa
from producer.auth import authenticate
from producer.body import read_json
from producer.envelope import ApiError, error_item, field_items, request_id, respond
from producer.history import QueryParams, iso, paging_params
from producer.state import get_state
from shared.validation import validate

SCOPE, READ_SCOPE = "events:send", "push:read"
Events = EventBody | Annotated[list[EventBody], Field(min_length=1, max_length=MAX_EVENTS)]


def _cache(request: Request) -> RuleCache:
    """This process's compiled rules (kept with the app, like ``AppState``)."""
    app_state = request.scope["app"].state
    cache = getattr(app_state, "automation_rules", None)
    if not isinstance(cache, RuleCache):
        cache = RuleCache()
        app_state.automation_rules = cache
    return cache


def _parse(body: Any) -> list[EventBody]:
    single = not isinstance(body, list)
    items = [body] if single else body
    if not items or len(items) > MAX_EVENTS:
        raise ApiError.validation([error_item(
            "REQUIRED" if not items else "TOO_MANY", f"Send 1 to {MAX_EVENTS} events",
            parameter="body", value=len(items))])
    parsed: list[EventBody] = []
    errors: list[dict[str, Any]] = []
    for i, item in enumerate(items):
        event, problems = validate(EventBody, item, prefix="" if single else f"[{i}].")
        errors.extend(field_items(problems))
        if event is not None:
            parsed.append(event)
    if errors:
        raise ApiError.validation(errors)
    return parsed


async def post_events(request: Request) -> Response:
    caller = await authenticate(request, SCOPE)
    state = get_state(request)
    batch = _parse(await read_json(request, state.settings.max_body_bytes))
    try:
        answers = await fire(state, caller, batch, cache=_cache(request),
                             request_id=request_id(request), now=time.time())
    except (TryAgain, OutcomeUnknown) as exc:
        raise ApiError.unavailable(f"{exc}; nothing was stored, retry with the same eventId"
                                   ) from None
    return respond(request, 200, answers)


async def list_events(request: Request) -> Response:
    caller = await authenticate(request, READ_SCOPE)
    q = QueryParams(request.query_params)
    offset, limit = q.paging()
    if q.errors:
        raise ApiError.validation(q.errors)
    async with get_state(request).pool.connection() as conn:
        found = await stored_events.recent(conn, caller.app_id, offset=offset, limit=limit)
    return respond(request, 200, [{**e.answer, "eventId": e.event_id, "name": e.name,
                                   "userId": e.user_id, "event": e.body,
                                   "receivedAt": iso(e.received_at)} for e in found])


routes: list[BaseRoute] = [
    Route("/v2.1/events", post_events, methods=["POST"]),
    Route("/v2.1/events", list_events, methods=["GET"]),
]

_STR = {"type": "string"}
_MESSAGE = {"type": "object", "properties": {
    "messageId": {"type": ["string", "null"]}, "status": {"enum": ["queued", "failed"]},
    "dispatches": {"type": "integer"}, "language": _STR, "reason": _STR,
    "detail": {"type": ["string", "null"]}}}
_SCHEDULED = {"type": "object", "properties": {
    "pendingId": _STR, "sendAt": _STR, "why": {"enum": ["delay", "quiet_hours"]},
    "devices": {"type": "integer"}, "language": _STR}}
_ANSWER = {"type": "object", "properties": {
    "eventId": _STR, "name": _STR,
    "canceled": {"type": "array", "items": _STR,
                 "description": "pending sends this event canceled"},
    "rules": {"type": "array", "items": {"type": "object", "properties": {
        "ruleId": _STR, "ruleName": _STR, "fired": {"type": "boolean"},
        "reason": {"enum": ["condition_false", "no_devices", "cooldown", "cap",
                            "template_error"]},
        "messages": {"type": "array", "items": _MESSAGE},
        "scheduled": {"type": "array", "items": _SCHEDULED}}}}}}
openapi: dict[str, Any] = {"paths": {"/v2.1/events": {
    "post": oa.operation(
        "Send events that fire automation rules", scope=SCOPE, ok_schema=_ANSWER,
        errors=(400, 401, 403, 413, 422), body=oa.body_schema(Events),
        description="One event or a list of up to 100. Each matching enabled rule sends to the "
                    "event's user's devices (and its `deviceTokens`), rendered in each device's "
                    "language; the answer lists per event and rule what was created or "
                    "scheduled, or why not. A repeated `eventId` gets the first answer again."),
    "get": oa.operation(
        "Stored events with what they caused", scope=READ_SCOPE, ok_schema=_ANSWER,
        errors=(401, 403, 422), parameters=[
            *paging_params("events")],
        description="Newest first."),
}}}
