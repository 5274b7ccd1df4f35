"""``POST /v2.1/push``: validate, persist, publish.

In the common case a request costs a share of one PostgreSQL round trip and of one Redis
round trip (``producer.writer.IntakeWriter`` groups concurrent requests):

1. Validation (``shared.payload``) and each token's platform from its shape (``shared.tokens``);
   tokens of no known shape are first looked up among the app's registered devices.
2. The 202 answer is built here, ids included, so it can be stored with an Idempotency-Key.
3. One statement stores the message, its dispatches, their first status event and their outbox
   rows -- or nothing when a registered device disagrees with the platform guessed from the
   shape or was invalidated by a gateway; then the tokens are looked up and the plan redone.
4. One LPUSH per queue; the outbox rows of confirmed publishes are deleted by the next group's
   statement (or in the background). If Redis is down the 202 still stands: the outbox sweeper
   publishes later.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import orjson
from prometheus_client import Counter
from starlette.requests import Request
from starlette.responses import Response

from producer.auth import Caller, authenticate
from producer.body import read_json
from producer.envelope import ApiError, envelope, error_item, header, json_response, request_id
from producer.outbox import build_job
from producer.persist import NewMessage, insert_idempotent, publish_messages
from producer.state import AppState, get_state
from shared.ids import new_id
from shared.observability import metrics
from shared.payload import FieldError, PushRequest, check_platform_limits, parse_push
from shared.tokens import PLATFORMS, Platform, detect_platform, is_valid_for

MAX_IDEMPOTENCY_KEY = 255
MAX_TOKEN_CHARS = 4096
_DEVICE_ROUNDS = 3  # devices can change between our look-up and the insert; retry a little
# Metric children resolved once: ``.labels()`` hashes and locks on every call.
_DISPATCHES_TX: Mapping[str, Counter] = MappingProxyType(
    {platform: metrics.INTAKE_DISPATCHES.labels(platform, "tx") for platform in PLATFORMS})

_DEVICES = """
SELECT token, platform, invalidated_at IS NOT NULL AND registered_at < invalidated_at
FROM devices WHERE app_id = %s AND token = ANY(%s)
"""
_IDEMPOTENCY = """
SELECT request_hash, status_code, response FROM idempotency_keys
WHERE app_id = %s AND key = %s AND created_at >= now() - make_interval(hours => %s)
"""


@dataclass
class Plan:
    """Which tokens go where: (index, token, platform) accepted, and per-token errors."""

    accepted: list[tuple[int, str, Platform]]
    errors: list[dict[str, Any]]


def _token_error(code: str, index: int, token: Any, message: str) -> dict[str, Any]:
    return error_item(code, message, parameter=f"device_tokens[{index}]", value=token)


def token_shapes(tokens: list[str]) -> list[Platform | None]:
    """The platform each token's shape reveals (None: unknown shape, or too long to test),
    computed once per request and shared by the device look-up decision and the planning."""
    return [detect_platform(t) if len(t) <= MAX_TOKEN_CHARS else None for t in tokens]


def plan_tokens(req: PushRequest, devices: dict[str, tuple[Platform, bool]] | None,
                shapes: list[Platform | None]) -> Plan:
    """Each token's platform: registered device, else shape, else the request's ``platform``.
    ``devices`` None means "not looked up yet": shape and hint only; unknown tokens are None.
    ``shapes`` is ``token_shapes(req.tokens)``."""
    accepted: list[tuple[int, str, Platform]] = []
    errors: list[dict[str, Any]] = []
    for i, token in enumerate(req.tokens):
        device = devices.get(token) if devices is not None else None
        if device is not None and device[1]:
            errors.append(_token_error("TOKEN_INVALIDATED", i, token,
                                       "A gateway reported this token as no longer valid"))
            continue
        platform: Platform | None = device[0] if device is not None else None
        if platform is None and len(token) <= MAX_TOKEN_CHARS:
            platform = shapes[i]
            if platform is None and req.platform and is_valid_for(token, req.platform):
                platform = req.platform
        if platform is None:
            errors.append(_token_error(
                "INVALID_DEVICE_TOKEN", i, token,
                "Not an APNs or FCM token, and not a registered device"
                + ("" if req.platform else "; set 'platform' for tokens of another shape")))
            continue
        accepted.append((i, token, platform))
    return Plan(accepted, errors)


def _field_errors(errors: list[FieldError]) -> ApiError:
    return ApiError.validation(
        [error_item(e.code, e.message, parameter=e.parameter, value=e.value) for e in errors])


async def _devices(state: AppState, app_id: int, tokens: list[str]
                   ) -> dict[str, tuple[Platform, bool]]:
    async with state.pool.connection() as conn:
        cur = await conn.execute(_DEVICES, (app_id, tokens))
        return {row[0]: (row[1], bool(row[2])) for row in await cur.fetchall()}


async def _replay(state: AppState, request: Request, caller: Caller, key: str,
                  body_hash: bytes) -> Response | None:
    """The stored answer for a repeated Idempotency-Key, 409 for another body, or None."""
    async with state.pool.connection() as conn:
        cur = await conn.execute(_IDEMPOTENCY,
                                 (caller.app_id, key, state.settings.idempotency_ttl_hours))
        row = await cur.fetchone()
    if row is None:
        return None
    if bytes(row[0]) != body_hash:
        raise ApiError(409, "IDEMPOTENCY_CONFLICT",
                       "This Idempotency-Key was used with a different body",
                       parameter="Idempotency-Key", value=key, source="header")
    return json_response(request, int(row[1]), row[2], {"Idempotent-Replayed": "true"})


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


async def accept_push(request: Request) -> Response:
    state = get_state(request)
    caller = await authenticate(request, "push:send")
    idem_key = _idempotency_key(request)
    body = await read_json(request, state.settings.max_body_bytes)
    body_hash = b""
    if idem_key is not None:
        # Before validation: a repeat gets the first answer even if, say, its ttl has passed.
        body_hash = hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).digest()
        replayed = await _replay(state, request, caller, idem_key, body_hash)
        if replayed is not None:
            return replayed
    now = time.time()
    req, field_errors = parse_push(body, caller.limits, now,
                                   allow_http_webhook=state.settings.webhook_allow_http,
                                   allow_private_webhook=state.settings.webhook_allow_private)
    if req is None:
        raise _field_errors(field_errors)
    shapes = token_shapes(req.tokens)
    # Only tokens whose shape says nothing can be decided by a registered device's platform.
    needs_lookup = any(shape is None for shape in shapes)
    devices = await _devices(state, caller.app_id, req.tokens) if needs_lookup else None
    scheduled = req.schedule_time is not None and req.schedule_time.timestamp() > now
    rid = request_id(request)
    for _round in range(_DEVICE_ROUNDS):
        plan = plan_tokens(req, devices, shapes)
        if not plan.accepted:
            raise ApiError(422, "VALIDATION_ERROR", "", errors=plan.errors)
        limit_errors = check_platform_limits(req.content, {p for _, _, p in plan.accepted},
                                             caller.limits)
        if limit_errors:
            raise _field_errors(limit_errors)
        message = _new_message(req, caller, plan, rid, scheduled)
        answer = envelope(request, 202, [{
            "messageId": message.message_id, "externalId": req.external_id, "dispatches": [
                {"dispatchId": did, "deviceToken": token, "platform": platform,
                 "status": message.status}
                for did, token, platform in zip(message.dispatch_ids, message.tokens,
                                                message.platforms, strict=True)]}],
            plan.errors)
        if idem_key is None:
            if await state.writer.store(message):
                _count(message, plan)
                return json_response(request, 202, answer)
        else:
            outcome = await _store_idempotent(state, message, idem_key, body_hash, answer)
            if outcome == "inserted":
                _count(message, plan)
                return json_response(request, 202, answer)
            if outcome == "claimed":  # an identical request got there first (or concurrently)
                replayed = await _replay(state, request, caller, idem_key, body_hash)
                if replayed is None:
                    raise ApiError.unavailable("Concurrent request with this Idempotency-Key")
                return replayed
        devices = await _devices(state, caller.app_id, req.tokens)
    raise ApiError.unavailable("Registered devices changed during the request; retry")


def _count(message: NewMessage, plan: Plan) -> None:
    counters = _DISPATCHES_TX
    if len(message.platforms) == 1:
        counters[message.platforms[0]].inc()
    else:
        for platform in set(message.platforms):
            counters[platform].inc(message.platforms.count(platform))
    for error in plan.errors:
        metrics.INTAKE_REJECTED_TOKENS.labels(error["code"]).inc()


def _new_message(req: PushRequest, caller: Caller, plan: Plan, rid: str, scheduled: bool
                 ) -> NewMessage:
    message_id = new_id()
    ids = [new_id() for _ in plan.accepted]
    tokens = [t for _, t, _ in plan.accepted]
    platforms = [p for _, _, p in plan.accepted]
    jobs = [] if scheduled else [
        build_job(did, message_id, caller.app_id, token, platform, req.content, req.ttl, rid)
        for did, token, platform in zip(ids, tokens, platforms, strict=True)]
    return NewMessage(
        app_id=caller.app_id, message_id=message_id, external_id=req.external_id,
        content=dict(req.content), webhook_url=req.webhook_url,
        schedule_time=req.schedule_time if scheduled else None, ttl=req.ttl, request_id=rid,
        status="scheduled" if scheduled else "queued", dispatch_ids=ids, tokens=tokens,
        platforms=list(platforms), jobs=jobs)


async def _store_idempotent(state: AppState, message: NewMessage, key: str, body_hash: bytes,
                            answer: dict[str, Any]) -> str:
    async with state.pool.connection() as conn:
        outcome = await insert_idempotent(
            conn, message, state.settings.outbox_sweep_after_seconds, key, body_hash,
            orjson.dumps(answer), state.settings.idempotency_ttl_hours)
    if outcome == "inserted":
        if state.exit_after_commit:
            os._exit(17)  # test hook: die between commit and publish (see producer.state)
        await publish_messages(state, [message])
    return outcome
