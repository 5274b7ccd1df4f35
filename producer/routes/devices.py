"""Devices: ``POST /v2.1/devices`` and ``DELETE /v2.1/devices/{token}`` (scope ``push:send``),
``GET /v2.1/devices`` (scope ``push:read``): request checks and answers around
``domain.devices.registry`` (what a registration means is described there).
"""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from domain.devices import registry
from producer import openapi as oa
from producer.auth import authenticate
from producer.body import read_json
from producer.envelope import ApiError, error_item, respond
from producer.history import QueryParams as Query
from producer.history import iso
from producer.state import get_state
from shared.tokens import PLATFORMS, Platform, detect_platform, is_valid_for

WRITE_SCOPE, READ_SCOPE = "push:send", "push:read"
MAX_TOKEN, MAX_USER_ID, MAX_TAGS, MAX_TAG = 4096, 256, 100, 64
DEFAULT_LIMIT, MAX_LIMIT, MAX_OFFSET = 100, 1000, 1_000_000
_LANGUAGE = re.compile(r"[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8}){0,3}")


def _device(d: registry.Device) -> dict[str, Any]:
    return {"token": d.token, "platform": d.platform, "userId": d.user_id,
            "language": d.language, "tags": d.tags, "registeredAt": iso(d.registered_at),
            "invalidatedAt": iso(d.invalidated_at), "invalidReason": d.invalid_reason,
            "valid": d.valid}


def _validate(body: Any) -> tuple[list[dict[str, Any]], registry.Registration | None]:
    errors: list[dict[str, Any]] = []

    def fail(code: str, name: str, message: str, value: Any = None) -> None:
        errors.append(error_item(code, message, parameter=name, value=value))

    if not isinstance(body, dict):
        fail("INVALID_FORMAT", "body", "The body must be a JSON object", body)
        return errors, None
    token = body.get("token")
    user_id, language, tags = body.get("userId"), body.get("language"), body.get("tags", [])
    platform: Platform | None = body.get("platform")
    if platform not in PLATFORMS:
        fail("REQUIRED" if platform is None else "INVALID_FORMAT", "platform",
             "'platform' must be 'ios' or 'android'", platform)
    if not isinstance(token, str) or not token:
        fail("REQUIRED", "token", "'token' is required", token)
    elif len(token) > MAX_TOKEN:
        fail("TOO_LONG", "token", f"'token' exceeds {MAX_TOKEN} characters")
    elif platform in PLATFORMS:
        detected = detect_platform(token)
        if detected not in (None, platform) or not (detected or is_valid_for(token, platform)):
            fail("INVALID_DEVICE_TOKEN", "token", f"Not a valid {platform} device token", token)
    if user_id is not None and (not isinstance(user_id, str) or not 0 < len(user_id)
                                <= MAX_USER_ID):
        fail("INVALID_FORMAT", "userId", f"'userId' must be a string of 1-{MAX_USER_ID} chars",
             user_id)
    if language is not None and (not isinstance(language, str)
                                 or not _LANGUAGE.fullmatch(language)):
        fail("INVALID_FORMAT", "language", "'language' must be a language tag like 'en-GB'",
             language)
    if (not isinstance(tags, list) or len(tags) > MAX_TAGS
            or any(not isinstance(t, str) or not 0 < len(t) <= MAX_TAG for t in tags)):
        fail("INVALID_FORMAT", "tags",
             f"'tags' must be a list of at most {MAX_TAGS} strings of 1-{MAX_TAG} chars", tags)
        tags = []
    if errors or platform is None:
        return errors, None
    return errors, registry.Registration(str(token), platform, user_id, language, tuple(tags))


async def register_device(request: Request) -> Response:
    caller = await authenticate(request, WRITE_SCOPE)
    state = get_state(request)
    errors, registration = _validate(await read_json(request, state.settings.max_body_bytes))
    if registration is None:
        raise ApiError.validation(errors)
    async with state.pool.connection() as conn:
        device, created = await registry.register(conn, caller.app_id, registration)
    return respond(request, 201 if created else 200, [_device(device)])


async def delete_device(request: Request) -> Response:
    caller = await authenticate(request, WRITE_SCOPE)
    token = request.path_params["token"]
    async with get_state(request).pool.connection() as conn:
        device = await registry.forget(conn, caller.app_id, token[:MAX_TOKEN + 1])
    if device is None:
        raise ApiError(404, "NOT_FOUND", "No such device for this app", parameter="token",
                       value=token, source="path")
    return respond(request, 200, [_device(device)])


async def list_devices(request: Request) -> Response:
    caller = await authenticate(request, READ_SCOPE)
    q = Query(request.query_params)
    f = registry.DeviceFilter(
        user_id=q.text("userId", MAX_USER_ID), platform=q.choice("platform", PLATFORMS),
        tag=q.text("tag", MAX_TAG), token=q.text("token", MAX_TOKEN))
    offset = q.integer("offset", 0, 0, MAX_OFFSET)
    limit = q.integer("limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    if q.errors:
        raise ApiError.validation(q.errors)
    async with get_state(request).pool.connection() as conn:
        rows = await registry.list_devices(conn, caller.app_id, f, offset=offset, limit=limit)
    return respond(request, 200, [_device(r) for r in rows])


routes: list[BaseRoute] = [
    Route("/v2.1/devices", register_device, methods=["POST"]),
    Route("/v2.1/devices", list_devices, methods=["GET"]),
    Route("/v2.1/devices/{token}", delete_device, methods=["DELETE"]),
]

_DEVICE: dict[str, Any] = {"type": "object", "properties": {
    "token": {"type": "string"}, "platform": {"type": "string", "enum": list(PLATFORMS)},
    "userId": {"type": ["string", "null"]}, "language": {"type": ["string", "null"]},
    "tags": {"type": "array", "items": {"type": "string"}},
    "registeredAt": {"type": ["string", "null"]}, "invalidatedAt": {"type": ["string", "null"]},
    "invalidReason": {"type": ["string", "null"]}, "valid": {"type": "boolean"}}}
openapi: dict[str, Any] = {"paths": {
    "/v2.1/devices": {
        "post": oa.operation(
            "Register (or re-register) a device token", scope=WRITE_SCOPE, ok=201,
            ok_schema=_DEVICE, errors=(400, 401, 403, 422),
            body={"type": "object", "required": ["token", "platform"], "properties": {
                "token": {"type": "string"}, "platform": _DEVICE["properties"]["platform"],
                "userId": {"type": "string"}, "language": {"type": "string"},
                "tags": {"type": "array", "items": {"type": "string"}}}},
            description="201 when new, 200 when it existed. Re-registering a token that a "
                        "gateway reported dead makes it valid again."),
        "get": oa.operation(
            "List devices", scope=READ_SCOPE, ok_schema=_DEVICE, errors=(401, 403, 422),
            parameters=[oa.query_param("userId", {"type": "string"}),
                        oa.query_param("platform", {"enum": list(PLATFORMS)}),
                        oa.query_param("tag", {"type": "string"}),
                        oa.query_param("token", {"type": "string"}),
                        oa.query_param("offset", {"type": "integer"}),
                        oa.query_param("limit", {"type": "integer", "maximum": MAX_LIMIT})]),
    },
    "/v2.1/devices/{token}": {"delete": oa.operation(
        "Forget a device token", scope=WRITE_SCOPE, ok_schema=_DEVICE,
        errors=(401, 403, 404), parameters=[oa.path_param("token")])},
}}
