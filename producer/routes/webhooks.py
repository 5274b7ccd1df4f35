"""``/v2.1/webhooks``: the app's delivery-report webhooks (scope ``admin``).

- ``GET``: the configuration (never the secret). ``PUT`` (or ``POST``): create or replace it;
  the signing secret is returned once, when the configuration is first created.
- ``POST /v2.1/webhooks/secret/rotate``: a new secret; the old one keeps signing during the
  overlap (``overlapHours``, default ``webhook_secret_overlap_hours``).
- ``DELETE``: remove the configuration and its secrets.
- ``GET /v2.1/webhooks/deliveries``: events with every attempt, newest first, with filters.
- ``POST /v2.1/webhooks/deliveries/{id}/replay`` and ``/v2.1/webhooks/deliveries/replay``:
  dead letters back into the queue, one or all.
"""

from __future__ import annotations

import uuid
from typing import Any

from cryptography.fernet import Fernet
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from domain.webhooks import config as admin
from domain.webhooks.urls import UrlRejected, check_url
from producer import openapi as oa
from producer.auth import authenticate
from producer.body import read_model
from producer.envelope import ApiError, error_item, respond
from producer.history import DELIVERY_SCHEMA as _DELIVERY
from producer.history import QueryParams as Query
from producer.history import delivery_json as _delivery
from producer.history import iso, paging_params
from producer.schemas import RotateBody, WebhooksBody
from producer.state import get_state
from shared.observability import metrics
from shared.statuses import EVENT_TYPES

SCOPE = "admin"


def _config(c: admin.WebhookConfig) -> dict[str, Any]:
    return {"primaryUrl": c.primary_url, "secondaryUrl": c.secondary_url,
            "eventTypes": c.event_types, "signingSecrets": c.signing_secrets,
            "previousSecretValidUntil": iso(c.previous_secret_valid_until),
            "createdAt": iso(c.created_at), "updatedAt": iso(c.updated_at)}


def _fernet(request: Request) -> Fernet:
    return Fernet(get_state(request).settings.fernet_key())


async def _url(request: Request, value: str | None, name: str,
               errors: list[dict[str, Any]]) -> str | None:
    if value is None:
        return None
    s = get_state(request).settings
    try:
        await check_url(value, allow_http=s.webhook_allow_http,
                        allow_private=s.webhook_allow_private)
    except UrlRejected as exc:
        errors.append(error_item("INVALID_FORMAT", f"'{name}' {exc}", parameter=name,
                                 value=value))
        return None
    return value


async def save_webhooks(request: Request) -> Response:
    caller = await authenticate(request, SCOPE)
    body = await read_model(request, WebhooksBody, whole_fields=True)
    errors: list[dict[str, Any]] = []
    primary = await _url(request, body.primary_url, "primaryUrl", errors)
    secondary = await _url(request, body.secondary_url, "secondaryUrl", errors)
    events = list(dict.fromkeys(body.event_types))
    if errors:
        raise ApiError.validation(errors)
    async with get_state(request).pool.connection() as conn:
        secret = await admin.save_config(conn, caller.app_id, primary_url=primary,
                                         secondary_url=secondary, event_types=events,
                                         fernet=_fernet(request))
        config = await admin.get_config(conn, caller.app_id)
    assert config is not None
    if secret is not None:
        return respond(request, 201, [{**_config(config), "secret": secret}])
    return respond(request, 200, [_config(config)])


async def get_webhooks(request: Request) -> Response:
    caller = await authenticate(request, SCOPE)
    async with get_state(request).pool.connection() as conn:
        config = await admin.get_config(conn, caller.app_id)
    if config is None:
        raise ApiError(404, "NOT_FOUND", "No webhooks configured for this app", source="path")
    return respond(request, 200, [_config(config)])


async def delete_webhooks(request: Request) -> Response:
    caller = await authenticate(request, SCOPE)
    async with get_state(request).pool.connection() as conn:
        if not await admin.delete_config(conn, caller.app_id):
            raise ApiError(404, "NOT_FOUND", "No webhooks configured for this app", source="path")
    return respond(request, 200, [{"deleted": True}])


async def rotate_secret(request: Request) -> Response:
    caller = await authenticate(request, SCOPE)
    body = await read_model(request, RotateBody, empty={})
    overlap = body.overlap_hours
    if overlap is None:
        overlap = get_state(request).settings.webhook_secret_overlap_hours
    async with get_state(request).pool.connection() as conn:
        rotation = await admin.rotate_secret(conn, caller.app_id, overlap_hours=float(overlap),
                                             fernet=_fernet(request))
    if rotation is None:
        raise ApiError(404, "NOT_FOUND", "No webhooks configured for this app", source="path")
    return respond(request, 200, [{
        "secret": rotation.secret,
        "previousSecretValidUntil": iso(rotation.previous_valid_until)}])


def _uuid(q: Query, name: str) -> str | None:
    raw = q.text(name, 64)
    if raw is None:
        return None
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        q.fail("INVALID_FORMAT", name, f"'{name}' must be a UUID")
        return None


async def list_deliveries(request: Request) -> Response:
    caller = await authenticate(request, SCOPE)
    q = Query(request.query_params)
    f = admin.DeliveryFilter(
        state=q.choice("state", admin.DELIVERY_STATES), type=q.choice("type", EVENT_TYPES),
        dispatch_id=_uuid(q, "dispatchId"), message_id=_uuid(q, "messageId"),
        date_from=q.time("dateFrom"), date_to=q.time("dateTo"))
    offset, limit = q.paging()
    if q.errors:
        raise ApiError.validation(q.errors)
    async with get_state(request).pool.connection() as conn:
        rows = await admin.list_deliveries(conn, caller.app_id, f, offset=offset, limit=limit)
    return respond(request, 200, [_delivery(d) for d in rows])


async def replay_one(request: Request) -> Response:
    caller = await authenticate(request, SCOPE)
    raw = request.path_params["event_id"]
    try:
        event_id = str(uuid.UUID(raw))
    except ValueError:
        event_id = None
    n = 0
    if event_id is not None:
        async with get_state(request).pool.connection() as conn:
            n = await admin.replay(conn, caller.app_id, event_id)
    metrics.WEBHOOK_REPLAYS.inc(n)
    if n == 0:
        raise ApiError(404, "NOT_FOUND", "No dead-lettered delivery with this id",
                       parameter="id", value=raw, source="path")
    return respond(request, 200, [{"replayed": n}])


async def replay_all(request: Request) -> Response:
    caller = await authenticate(request, SCOPE)
    async with get_state(request).pool.connection() as conn:
        n = await admin.replay(conn, caller.app_id)
    metrics.WEBHOOK_REPLAYS.inc(n)
    return respond(request, 200, [{"replayed": n}])


routes: list[BaseRoute] = [
    Route("/v2.1/webhooks", get_webhooks, methods=["GET"]),
    Route("/v2.1/webhooks", save_webhooks, methods=["PUT", "POST"]),
    Route("/v2.1/webhooks", delete_webhooks, methods=["DELETE"]),
    Route("/v2.1/webhooks/secret/rotate", rotate_secret, methods=["POST"]),
    Route("/v2.1/webhooks/deliveries", list_deliveries, methods=["GET"]),
    Route("/v2.1/webhooks/deliveries/replay", replay_all, methods=["POST"]),
    Route("/v2.1/webhooks/deliveries/{event_id}/replay", replay_one, methods=["POST"]),
]

_URL = {"type": ["string", "null"], "format": "uri"}
_CONFIG: dict[str, Any] = {"type": "object", "properties": {
    "primaryUrl": _URL, "secondaryUrl": _URL,
    "eventTypes": {"type": "array", "items": {"type": "string", "enum": list(EVENT_TYPES)}},
    "signingSecrets": {"type": "integer"}, "secret": {"type": "string"},
    "previousSecretValidUntil": {"type": ["string", "null"]}}}
_ROTATED: dict[str, Any] = {"type": "object", "properties": {
    "secret": {"type": "string", "description": "the new signing secret (shown once)"},
    "previousSecretValidUntil": {"type": ["string", "null"]}}}
_REPLAYED = {"type": "object", "properties": {
    "replayed": {"type": "integer", "description": "deliveries queued again"}}}
_ADMIN_ERRORS = (401, 403, 404, 422)
_SAVE = oa.operation(
    "Create or replace the webhook configuration", scope=SCOPE, ok=(201, 200), ok_schema=_CONFIG,
    errors=(400, 401, 403, 422), body=oa.body_schema(WebhooksBody),
    description="201 with `secret` (shown once) when created; 200 when replaced. PUT and POST "
                "are the same.")
openapi: dict[str, Any] = {"paths": {
    "/v2.1/webhooks": {
        "get": oa.operation("The app's webhook configuration", scope=SCOPE, ok_schema=_CONFIG,
                            errors=_ADMIN_ERRORS),
        "put": _SAVE,
        "post": _SAVE,
        "delete": oa.operation("Remove the webhook configuration", scope=SCOPE,
                               errors=_ADMIN_ERRORS, ok_schema={"type": "object", "properties": {
                                   "deleted": {"type": "boolean"}}}),
    },
    "/v2.1/webhooks/secret/rotate": {"post": oa.operation(
        "Rotate the signing secret", scope=SCOPE, errors=(400, *_ADMIN_ERRORS), ok_schema=_ROTATED,
        body=oa.body_schema(RotateBody),
        description="Both secrets sign until `previousSecretValidUntil`.")},
    "/v2.1/webhooks/deliveries": {"get": oa.operation(
        "Webhook deliveries and their attempts", scope=SCOPE, errors=(401, 403, 422),
        ok_schema=_DELIVERY,
        parameters=[oa.query_param("state", {"enum": list(admin.DELIVERY_STATES)},
                                   "still being tried, delivered, or dead-lettered"),
                    oa.query_param("type", {"enum": list(EVENT_TYPES)}, "the event type"),
                    oa.query_param("dispatchId", {"type": "string", "format": "uuid"},
                                   "events of this dispatch"),
                    oa.query_param("messageId", {"type": "string", "format": "uuid"},
                                   "events of this message's dispatches"),
                    oa.query_param("dateFrom", oa.TIME, "events created at or after this time"),
                    oa.query_param("dateTo", oa.TIME, "events created at or before this time"),
                    *paging_params("deliveries")])},
    "/v2.1/webhooks/deliveries/replay": {"post": oa.operation(
        "Replay every dead-lettered delivery", scope=SCOPE, ok_schema=_REPLAYED)},
    "/v2.1/webhooks/deliveries/{event_id}/replay": {"post": oa.operation(
        "Replay one dead-lettered delivery", scope=SCOPE, errors=_ADMIN_ERRORS,
        ok_schema=_REPLAYED,
        parameters=[oa.path_param("event_id", "The delivery's id (also its webhook-id)")])},
}}
