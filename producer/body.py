"""The parsing boundary of every route: the JSON body under the size limit, and the refusal of
input the database cannot store or the answer cannot echo.

Use from a route module::

    from producer.body import read_json, read_model
    body = await read_json(request, get_state(request).settings.max_body_bytes)
    device = await read_model(request, DeviceBody)          # 422 with the model's errors

413 ``PAYLOAD_TOO_LARGE`` when the body is over the limit (decided from ``Content-Length`` when
given, else while streaming, so a huge body is never held in memory), 400 ``INVALID_JSON`` when
it is not JSON (naming a non-JSON ``Content-Type``), 422 ``INVALID_FORMAT`` naming the parameter
for a NUL character (PostgreSQL text cannot hold it) or for nesting deeper than
``MAX_JSON_DEPTH`` (no body of the contract nests; deep values cannot be echoed back).
``RefuseNul`` applies the NUL rule to every route's path and query string.
"""

from __future__ import annotations

from typing import Any, TypeVar
from urllib.parse import parse_qsl

import orjson
from pydantic import BaseModel
from starlette.requests import Request
from starlette.routing import Match
from starlette.types import ASGIApp, Receive, Scope, Send

from producer.envelope import ApiError, error_item, field_items, header, respond
from producer.state import get_state
from shared.validation import validate

M = TypeVar("M", bound=BaseModel)
MAX_JSON_DEPTH = 32
_NUL_ESCAPE = b"\\u0000"  # the only way a NUL can be written inside a JSON string


def _too_large(limit: int) -> ApiError:
    return ApiError(413, "PAYLOAD_TOO_LARGE", f"The request body exceeds {limit} bytes",
                    parameter="body", value=limit)


async def read_body(request: Request, limit: int) -> bytes:
    declared = header(request, b"content-length")
    if declared is not None:
        if not declared.isdigit():
            raise ApiError(400, "INVALID_FORMAT", "Invalid Content-Length header",
                           parameter="Content-Length", value=declared, source="header")
        if int(declared) > limit:
            raise _too_large(limit)
    # Straight from ``receive``: Starlette's ``request.body()`` goes through an async generator,
    # a visible cost on the hot route. The body is read once; nothing re-reads it.
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await request.receive()
        if message["type"] != "http.request":  # http.disconnect
            raise ApiError(400, "INVALID_JSON", "The request body was cut short",
                           parameter="body")
        chunk = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > limit:  # no (or a false) Content-Length: never hold a huge body
                raise _too_large(limit)
            chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _path(parent: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{parent}[{key}]"
    return f"{parent}.{key}" if parent else key


def _unstorable(value: Any, path: str = "", depth: int = 0) -> tuple[str, str] | None:
    """(parameter, why) of the first NUL or over-deep value, or None."""
    if depth > MAX_JSON_DEPTH:
        return path.split(".", 1)[0].split("[", 1)[0] or "body", "deep"
    if isinstance(value, str):
        return (path or "body", "nul") if "\x00" in value else None
    items: Any = value.items() if isinstance(value, dict) else (
        enumerate(value) if isinstance(value, list) else ())
    for key, item in items:
        if isinstance(key, str) and "\x00" in key:
            return path or "body", "nul"
        found = _unstorable(item, _path(path, key), depth + 1)
        if found is not None:
            return found
    return None


def _refuse_unstorable(raw: bytes, body: Any) -> None:
    # Both scans are C-speed byte searches; the walk runs only when one of them might hit.
    if _NUL_ESCAPE not in raw and raw.count(b"[") + raw.count(b"{") <= MAX_JSON_DEPTH:
        return
    found = _unstorable(body)
    if found is None:
        return
    parameter, why = found
    message = (f"'{parameter}' contains a NUL character (\\u0000)" if why == "nul" else
               f"'{parameter}' is nested more than {MAX_JSON_DEPTH} levels deep")
    raise ApiError.validation([error_item("INVALID_FORMAT", message, parameter=parameter)])


async def read_json(request: Request, limit: int) -> Any:
    raw = await read_body(request, limit)
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        kind = (header(request, b"content-type") or "").split(";", 1)[0].strip().lower()
        sent = "" if kind == "application/json" or kind.endswith("+json") else (
            f" (it was sent as {kind!r}: send JSON with 'Content-Type: application/json')"
            if kind else " (it was sent without a Content-Type)")
        raise ApiError(400, "INVALID_JSON", f"The body is not valid JSON: {exc}{sent}",
                       parameter="body") from None
    _refuse_unstorable(raw, body)
    return body


async def read_model(request: Request, model: type[M], *, empty: Any = ...,
                     whole_fields: bool = False) -> M:
    """The body validated by ``model``; 422 with one entry per bad field. ``empty``: the JSON
    value an empty body stands for (default: an empty body is invalid JSON)."""
    limit = get_state(request).settings.max_body_bytes
    if empty is not ... and header(request, b"content-length") in (None, "0"):
        body = empty
    else:
        body = await read_json(request, limit)
    value, errors = validate(model, body, whole_fields=whole_fields)
    if value is None:
        raise ApiError.validation(field_items(errors))
    return value


def _nul_parameter(scope: Scope) -> tuple[str, str, str] | None:
    """(parameter, value, source) of a NUL in the path or the query string, or None."""
    if "\x00" in scope["path"]:
        for route in scope["app"].router.routes:
            match, child = route.matches(scope)
            if match != Match.NONE:
                for name, value in child.get("path_params", {}).items():
                    if "\x00" in str(value):
                        return name, str(value), "path"
        return "path", scope["path"], "path"
    query = scope.get("query_string", b"")
    if b"%00" in query or b"\x00" in query:
        for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
            if "\x00" in name or "\x00" in value:
                return name.replace("\x00", "") or "query", value, "query"
    return None


class RefuseNul:
    """422 ``INVALID_FORMAT`` naming the path or query parameter that holds a NUL character,
    before any route sees it (PostgreSQL text cannot hold one)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        found = _nul_parameter(scope) if scope["type"] == "http" else None
        if found is None:
            await self.app(scope, receive, send)
            return
        parameter, value, source = found
        response = respond(Request(scope, receive), 422, errors=[error_item(
            "INVALID_FORMAT", f"'{parameter}' contains a NUL character (\\u0000)",
            parameter=parameter, value=value, source=source)])
        await response(scope, receive, send)
