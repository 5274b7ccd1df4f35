"""``POST /v2.1/push/receipts`` (scope ``receipts:write``): device receipts from the mobile app.

Body: one ``{"dispatchId", "event": "delivered" | "opened", "at"}`` or a list of up to 1000.
Each valid receipt moves its dispatch forward (never back) and fires the matching webhook,
through the same single statement as the DLR worker (``domain.dispatches.record``). Answer: one
``data`` entry per recorded receipt, one ``errors`` entry per bad or unknown one (another app's
dispatch is unknown); 200 when at least one receipt was valid, else 422 (404 when all were unknown).
``at`` is optional (default: now); a time in the future is taken as now (device clocks drift).
"""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from domain.dispatches.record import Outcome, record_receipts
from producer import openapi as oa
from producer.auth import authenticate
from producer.body import read_json
from producer.envelope import ApiError, error_item, field_items, respond
from producer.schemas import MAX_RECEIPTS, ReceiptBody, Receipts
from producer.state import get_state
from shared.validation import validate

SCOPE = "receipts:write"


def _parse_item(item: Any, prefix: str, app_id: int, now: float,
                errors: list[dict[str, Any]]) -> Outcome | None:
    receipt, problems = validate(ReceiptBody, item, prefix=prefix)
    errors.extend(field_items(problems))
    if receipt is None:
        return None
    at = now if receipt.at is None else min(now, receipt.at.timestamp())
    return Outcome(dispatch_id=receipt.dispatch_id, app_id=app_id, status=receipt.event, at=at)


async def post_receipts(request: Request) -> Response:
    caller = await authenticate(request, SCOPE)
    state = get_state(request)
    body = await read_json(request, state.settings.max_body_bytes)
    single = not isinstance(body, list)
    items = [body] if single else body
    if not items or len(items) > MAX_RECEIPTS:
        code = "REQUIRED" if not items else "TOO_MANY"
        raise ApiError.validation([error_item(code, f"Send 1 to {MAX_RECEIPTS} receipts",
                                              parameter="body", value=len(items))])
    now = time.time()
    errors: list[dict[str, Any]] = []
    parsed: list[tuple[int, Outcome]] = []
    for i, item in enumerate(items):
        outcome = _parse_item(item, "" if single else f"[{i}].", caller.app_id, now, errors)
        if outcome is not None:
            parsed.append((i, outcome))
    data: list[dict[str, Any]] = []
    if parsed:
        async with state.pool.connection() as conn:
            recorded = await record_receipts(conn, caller.app_id, [o for _, o in parsed])
        for i, o in parsed:
            known = recorded.get(o.dispatch_id)
            if known is None:
                errors.append(error_item(
                    "NOT_FOUND", "No such dispatch for this app",
                    parameter=("" if single else f"[{i}].") + "dispatchId", value=o.dispatch_id))
                continue
            data.append({"dispatchId": o.dispatch_id, "event": o.status,
                         "status": known.status, "changed": known.changed})
    if data:
        return respond(request, 200, data, errors)
    status = 404 if errors and all(e["code"] == "NOT_FOUND" for e in errors) else 422
    code = "NOT_FOUND" if status == 404 else "VALIDATION_ERROR"
    raise ApiError(status, code, "No receipt was recorded", errors=errors)


routes: list[BaseRoute] = [Route("/v2.1/push/receipts", post_receipts, methods=["POST"])]

openapi: dict[str, Any] = {"paths": {"/v2.1/push/receipts": {"post": oa.operation(
    "Record device receipts (delivered / opened)", scope=SCOPE, errors=(400, 401, 403, 404, 422),
    body=oa.body_schema(Receipts),
    ok_schema={"type": "object", "properties": {
        "dispatchId": {"type": "string"}, "event": {"type": "string"},
        "status": {"type": "string"}, "changed": {"type": "boolean"}}},
    description="Statuses only move forward; a repeated receipt changes nothing.")}}}
