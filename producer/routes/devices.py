"""Devices: ``POST /v2.1/devices`` and ``DELETE /v2.1/devices/{token}`` (scope ``push:send``),
``GET /v2.1/devices`` (scope ``push:read``): request checks and answers around
``domain.devices.registry`` (what a registration means is described there).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from domain.devices import registry
from producer import openapi as oa
from producer.auth import authenticate
from producer.body import read_model
from producer.envelope import ApiError, respond
from producer.history import QueryParams as Query
from producer.history import iso, paging_params
from producer.schemas import MAX_TAG, MAX_TOKEN, MAX_USER_ID, DeviceBody
from producer.state import get_state
from shared.tokens import PLATFORMS

WRITE_SCOPE, READ_SCOPE = "push:send", "push:read"


def _device(d: registry.Device) -> dict[str, Any]:
    return {"token": d.token, "platform": d.platform, "userId": d.user_id,
            "language": d.language, "timeZone": d.time_zone, "tags": d.tags,
            "registeredAt": iso(d.registered_at),
            "invalidatedAt": iso(d.invalidated_at), "invalidReason": d.invalid_reason,
            "valid": d.valid}


async def register_device(request: Request) -> Response:
    caller = await authenticate(request, WRITE_SCOPE)
    state = get_state(request)
    d = await read_model(request, DeviceBody, whole_fields=True)
    registration = registry.Registration(d.token, d.platform, d.user_id, d.language,
                                         tuple(dict.fromkeys(d.tags)), d.time_zone)
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
    offset, limit = q.paging()
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
    "timeZone": {"type": ["string", "null"]},
    "tags": {"type": "array", "items": {"type": "string"}},
    "registeredAt": {"type": ["string", "null"]}, "invalidatedAt": {"type": ["string", "null"]},
    "invalidReason": {"type": ["string", "null"]}, "valid": {"type": "boolean"}}}
openapi: dict[str, Any] = {"paths": {
    "/v2.1/devices": {
        "post": oa.operation(
            "Register (or re-register) a device token", scope=WRITE_SCOPE, ok=(201, 200),
            ok_schema=_DEVICE, errors=(400, 401, 403, 422),
            body=oa.body_schema(DeviceBody),
            description="201 when new, 200 when it existed. Re-registering a token that a "
                        "gateway reported dead makes it valid again."),
        "get": oa.operation(
            "List devices", scope=READ_SCOPE, ok_schema=_DEVICE, errors=(401, 403, 422),
            parameters=[oa.query_param("userId", {"type": "string"}, "devices of this user"),
                        oa.query_param("platform", {"enum": list(PLATFORMS)},
                                       "devices of this platform"),
                        oa.query_param("tag", {"type": "string"}, "devices carrying this tag"),
                        oa.query_param("token", {"type": "string"}, "one device token, exactly"),
                        *paging_params("devices")]),
    },
    "/v2.1/devices/{token}": {"delete": oa.operation(
        "Forget a device token", scope=WRITE_SCOPE, ok_schema=_DEVICE,
        errors=(401, 403, 404),
        parameters=[oa.path_param("token", "the device token, URL-encoded")])},
}}
