"""Devices: ``POST /v2.1/devices`` and ``DELETE /v2.1/devices/{token}`` (scope ``push:send``),
``GET /v2.1/devices`` (scope ``push:read``).

A registration is the device's full state (omitted ``userId``/``language``/``tags`` are cleared)
and stamps ``registered_at = now()``. A token is invalid while ``invalidated_at >
registered_at`` (the intake's ``TOKEN_INVALIDATED`` rule), so registering a token again after a
gateway reported it dead re-validates it; the DLR worker only invalidates devices registered
before the gateway's timestamp. Tokens first seen in a gateway report (never registered here)
carry ``registered_at = epoch`` and are shown with ``registeredAt: null``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from producer import openapi as oa
from producer.auth import authenticate
from producer.body import read_model
from producer.envelope import ApiError, respond
from producer.history import QueryParams as Query
from producer.schemas import MAX_TAG, MAX_TOKEN, MAX_USER_ID, DeviceBody
from producer.state import get_state
from shared.tokens import PLATFORMS

WRITE_SCOPE, READ_SCOPE = "push:send", "push:read"
DEFAULT_LIMIT, MAX_LIMIT, MAX_OFFSET = 100, 1000, 1_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

_COLUMNS = ("token, platform, user_id, language, tags, registered_at, invalidated_at,"
            " invalid_reason")
_UPSERT = f"""
INSERT INTO devices (app_id, token, platform, user_id, language, tags, registered_at)
VALUES (%s, %s, %s, %s, %s, %s, now())
ON CONFLICT (app_id, token) DO UPDATE SET platform = excluded.platform,
    user_id = excluded.user_id, language = excluded.language, tags = excluded.tags,
    registered_at = now()
RETURNING {_COLUMNS}, xmax = 0
"""


def _device(row: Any) -> dict[str, Any]:
    def iso(v: datetime | None) -> str | None:
        return None if v is None or v <= _EPOCH else v.isoformat().replace("+00:00", "Z")

    registered, invalidated = row[5], row[6]
    return {"token": row[0], "platform": row[1], "userId": row[2], "language": row[3],
            "tags": list(row[4]), "registeredAt": iso(registered),
            "invalidatedAt": iso(invalidated), "invalidReason": row[7],
            "valid": invalidated is None or invalidated <= registered}


async def register_device(request: Request) -> Response:
    caller = await authenticate(request, WRITE_SCOPE)
    state = get_state(request)
    d = await read_model(request, DeviceBody, whole_fields=True)
    values = (d.token, d.platform, d.user_id, d.language, list(dict.fromkeys(d.tags)))
    async with state.pool.connection() as conn:
        row = await (await conn.execute(_UPSERT, (caller.app_id, *values))).fetchone()
    assert row is not None
    return respond(request, 201 if row[8] else 200, [_device(row)])


async def delete_device(request: Request) -> Response:
    caller = await authenticate(request, WRITE_SCOPE)
    token = request.path_params["token"]
    async with get_state(request).pool.connection() as conn:
        row = await (await conn.execute(
            f"DELETE FROM devices WHERE app_id = %s AND token = %s RETURNING {_COLUMNS}",
            (caller.app_id, token[:MAX_TOKEN + 1]))).fetchone()
    if row is None:
        raise ApiError(404, "NOT_FOUND", "No such device for this app", parameter="token",
                       value=token, source="path")
    return respond(request, 200, [_device(row)])


async def list_devices(request: Request) -> Response:
    caller = await authenticate(request, READ_SCOPE)
    q = Query(request.query_params)
    filters = {"user_id": q.text("userId", MAX_USER_ID), "platform": q.choice("platform",
               PLATFORMS), "tag": q.text("tag", MAX_TAG), "token": q.text("token", MAX_TOKEN)}
    offset = q.integer("offset", 0, 0, MAX_OFFSET)
    limit = q.integer("limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    if q.errors:
        raise ApiError.validation(q.errors)
    conditions = {"user_id": "user_id = %(user_id)s", "platform": "platform = %(platform)s",
                  "tag": "tags @> ARRAY[%(tag)s]::text[]", "token": "token = %(token)s"}
    sql = f"SELECT {_COLUMNS} FROM devices WHERE app_id = %(app_id)s" + "".join(
        f" AND {conditions[k]}" for k, v in filters.items() if v is not None)
    sql += " ORDER BY registered_at DESC, token OFFSET %(offset)s LIMIT %(limit)s"
    async with get_state(request).pool.connection() as conn:
        rows = await (await conn.execute(sql.encode(), {
            **filters, "app_id": caller.app_id, "offset": offset, "limit": limit})).fetchall()
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
            "Register (or re-register) a device token", scope=WRITE_SCOPE, ok=(201, 200),
            ok_schema=_DEVICE, errors=(400, 401, 403, 422),
            body=oa.body_schema(DeviceBody),
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
