"""``POST /v2.1/push``: the HTTP side of ``domain.messages.submit``.

In the common case a request costs a share of one PostgreSQL round trip and of one Redis
round trip (``producer.writer.IntakeWriter`` groups concurrent requests):

1. Authentication, the ``Idempotency-Key`` header (a repeat is answered from the stored answer
   before validation: a repeat gets the first answer even if, say, its ttl has passed since),
   validation (``shared.payload``).
2. ``submit`` plans the tokens, stores the message and publishes its tasks (see there); the 202
   answer, ids included, is rendered from what it returns -- and stored with the idempotency
   key, in the same statement, when there is one.
3. The domain's refusals become the contract's errors: every token refused is 422, a platform
   limit exceeded 422, a concurrent change 503, an outcome lost with the database connection
   503 ``OUTCOME_UNKNOWN`` (docs/operations.md, What a 503 means for a push).
"""

from __future__ import annotations

import time
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from domain.messages import idempotency
from domain.messages.idempotency import IdempotencyConflict, StoredAnswer
from domain.messages.plan import RejectedToken
from domain.messages.rows import OutcomeUnknown
from domain.messages.submit import (
    Idempotency,
    LimitsExceeded,
    NothingAccepted,
    Submitted,
    TryAgain,
    submit,
)
from producer.auth import authenticate
from producer.body import read_json
from producer.envelope import (
    RETRY_AFTER_SECONDS,
    ApiError,
    envelope,
    error_item,
    field_items,
    header,
    json_response,
    request_id,
)
from producer.state import get_state
from shared.payload import parse_push

MAX_IDEMPOTENCY_KEY = 255


def _token_errors(rejected: list[RejectedToken]) -> list[dict[str, Any]]:
    return [error_item(r.code, r.message, parameter=r.parameter or f"device_tokens[{r.index}]",
                       value=r.token) for r in rejected]


def _answer(request: Request, submitted: Submitted) -> dict[str, Any]:
    return envelope(request, 202, [{
        "messageId": submitted.message_id, "externalId": submitted.external_id, "dispatches": [
            {"dispatchId": d.id, "deviceToken": d.token, "platform": d.platform,
             "status": d.status} for d in submitted.dispatches]}],
        _token_errors(submitted.rejected))


def _replayed(request: Request, stored: StoredAnswer) -> Response:
    return json_response(request, stored.status_code, stored.body,
                         {"Idempotent-Replayed": "true"})


def _idempotency_key(request: Request) -> str | None:
    key = header(request, b"idempotency-key")
    if key is None:
        return None
    if not key or len(key) > MAX_IDEMPOTENCY_KEY:
        raise ApiError.validation([error_item(
            "TOO_LONG" if key else "REQUIRED",
            f"Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} characters",
            parameter="Idempotency-Key", value=key, source="header")])
    return key


def _outcome_unknown(message_id: str) -> ApiError:
    return ApiError(503, "OUTCOME_UNKNOWN",
                    "The database connection was lost while this push was being stored: it may "
                    "have been accepted. Retry with the same Idempotency-Key (a repeat gets the "
                    "first answer), or look the message up by this id once the API answers",
                    parameter="messageId", value=message_id, source="server",
                    headers={"Retry-After": RETRY_AFTER_SECONDS})


def _conflict(key: str) -> ApiError:
    return ApiError(409, "IDEMPOTENCY_CONFLICT",
                    "This Idempotency-Key was used with a different body",
                    parameter="Idempotency-Key", value=key, source="header")


async def accept_push(request: Request) -> Response:
    state = get_state(request)
    caller = await authenticate(request, "push:send", intake=True)
    idem_key = _idempotency_key(request)
    body = await read_json(request, state.settings.max_body_bytes)
    once = None
    if idem_key is not None:
        once = Idempotency(idem_key, idempotency.body_hash(body),
                           lambda submitted: orjson.dumps(_answer(request, submitted)))
        try:
            async with state.pool.connection() as conn:
                first = await idempotency.stored_answer(
                    conn, caller.app_id, idem_key, once.request_hash,
                    state.settings.idempotency_ttl_hours)
        except IdempotencyConflict:
            raise _conflict(idem_key) from None
        if first is not None:
            return _replayed(request, first)
    now = time.time()
    req, field_errors = parse_push(body, caller.limits, now,
                                   allow_http_webhook=state.settings.webhook_allow_http,
                                   allow_private_webhook=state.settings.webhook_allow_private)
    if req is None:
        raise ApiError.validation(field_items(field_errors))
    try:
        outcome = await submit(caller, req, outlet=state, idempotency=once,
                               request_id=request_id(request), now=now)
    except NothingAccepted as exc:
        raise ApiError(422, "VALIDATION_ERROR", "", errors=_token_errors(exc.rejected)) from None
    except LimitsExceeded as exc:
        raise ApiError.validation(field_items(exc.errors)) from None
    except TryAgain as exc:
        raise ApiError.unavailable(str(exc)) from None
    except OutcomeUnknown as exc:
        raise _outcome_unknown(exc.message_id) from None
    if isinstance(outcome, StoredAnswer):
        return _replayed(request, outcome)
    return json_response(request, 202, _answer(request, outcome))
