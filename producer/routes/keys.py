"""``/v2.1/keys``: the app's API keys, for scripts (scope ``admin``). The panel's API keys page
does the same (``producer/panel/keys.py``).

- ``GET``: every key, revoked ones included, newest first: prefix, scopes, created, last use.
- ``POST`` ``{"scopes": [...]}``: a new key; its secret is in this answer only (201).
- ``DELETE /v2.1/keys/{prefix}``: revoke the live keys whose secret starts with the prefix (the
  first ten characters, as listed); every API process refuses them at once
  (``domain.keys.announce``). 404 when none matched.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from domain.keys import store as keys
from producer import openapi as oa
from producer.auth import authenticate
from producer.body import read_model
from producer.envelope import ApiError, respond
from producer.history import iso
from producer.state import AppState, get_state
from producer.sync_db import with_sync_connection
from shared.validation import refuse

SCOPE = "admin"


def _known_scope(scope: str) -> str:
    if scope not in keys.SCOPES:
        refuse("INVALID_FORMAT", f"unknown scope (known: {', '.join(keys.SCOPES)})")
    return scope


# The one list is domain.keys.store.SCOPES, for validation and for the schema.
ScopeName = Annotated[str, AfterValidator(_known_scope),
                      WithJsonSchema({"type": "string", "enum": list(keys.SCOPES)})]


class KeyBody(BaseModel):
    """``POST /v2.1/keys``."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    scopes: list[ScopeName] = Field(min_length=1, max_length=len(keys.SCOPES),
                                description="What the key may do; `admin` implies every scope.")


def key_view(k: keys.ApiKey) -> dict[str, Any]:
    return {"prefix": k.prefix, "scopes": list(k.scopes), "createdAt": iso(k.created_at),
            "lastUsedAt": iso(k.last_used_at), "revokedAt": iso(k.revoked_at)}


async def list_keys(request: Request) -> Response:
    caller = await authenticate(request, SCOPE)
    found = await with_sync_connection(get_state(request).settings,
                                       lambda conn: keys.list_keys(conn, caller.app_key))
    return respond(request, 200, [key_view(k) for k in found])


async def create_key(request: Request) -> Response:
    caller = await authenticate(request, SCOPE)
    body = await read_model(request, KeyBody)
    scopes = list(dict.fromkeys(body.scopes))
    new = await with_sync_connection(get_state(request).settings,
                                     lambda conn: keys.create_key(conn, caller.app_key, scopes))
    return respond(request, 201, [{"prefix": new.secret[:keys.PREFIX_CHARS],
                                   "secret": new.secret, "scopes": list(new.scopes)}])


async def revoke(state: AppState, app_key: str, prefix: str) -> int:
    """Revoke the app's live keys with this prefix (how many), announced to every API process;
    this one forgets its cached keys of the app before answering, so the key is refused from
    the very next request here, whatever the announcement's delay."""
    if len(prefix) != keys.PREFIX_CHARS:
        return 0
    settings = state.settings
    n = await with_sync_connection(settings, lambda conn: keys.revoke_key(
        conn, prefix, app_key, redis_url=settings.redis_url))
    if n:
        state.keys.expire_app(app_key)
    return n


async def revoke_key(request: Request) -> Response:
    caller = await authenticate(request, SCOPE)
    prefix = str(request.path_params["prefix"])
    n = await revoke(get_state(request), caller.app_key, prefix)
    if n == 0:
        raise ApiError(404, "NOT_FOUND", "No live key of this app with this prefix",
                       parameter="prefix", value=prefix, source="path")
    return respond(request, 200, [{"revoked": n}])


routes: list[BaseRoute] = [
    Route("/v2.1/keys", list_keys, methods=["GET"]),
    Route("/v2.1/keys", create_key, methods=["POST"]),
    Route("/v2.1/keys/{prefix}", revoke_key, methods=["DELETE"]),
]

_TIME = {"type": ["string", "null"], "format": "date-time"}
_KEY: dict[str, Any] = {"type": "object", "properties": {
    "prefix": {"type": "string", "description": "the secret's first characters"},
    "scopes": {"type": "array", "items": {"type": "string", "enum": list(keys.SCOPES)}},
    "createdAt": _TIME, "lastUsedAt": _TIME, "revokedAt": _TIME}}
_NEW_KEY: dict[str, Any] = {"type": "object", "properties": {
    "prefix": {"type": "string"},
    "secret": {"type": "string", "description": "the key's secret: shown this once"},
    "scopes": {"type": "array", "items": {"type": "string", "enum": list(keys.SCOPES)}}}}
openapi: dict[str, Any] = {"paths": {
    "/v2.1/keys": {
        "get": oa.operation("The app's API keys", scope=SCOPE, ok_schema=_KEY,
                            description="Newest first, revoked ones included; secrets are "
                                        "never shown again."),
        "post": oa.operation("Create an API key", scope=SCOPE, ok=201, ok_schema=_NEW_KEY,
                             errors=(400, 401, 403, 422), body=oa.body_schema(KeyBody),
                             description="The secret is in this answer only."),
    },
    "/v2.1/keys/{prefix}": {"delete": oa.operation(
        "Revoke an API key", scope=SCOPE, errors=(401, 403, 404),
        ok_schema={"type": "object", "properties": {"revoked": {"type": "integer"}}},
        parameters=[oa.path_param("prefix", "The key's prefix, as listed (10 characters)")],
        description="Effective at once in every API process.")},
}}
