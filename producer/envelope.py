"""The response envelope of the contract, and the errors that become one.

Every JSON answer of the API is::

    {"meta": {"numberOfErrors": 0, "numberOfData": 1, "status": 202, "uniqId": "8c1e0f3a2b"},
     "data": [...],
     "errors": [{"title", "message", "code", "meta": {"parameter", "value", "source"}}]}

with the same ``uniqId`` in the ``X-Request-Id`` header.

Use from a route module::

    from producer.envelope import ApiError, error_item, respond

    async def handler(request: Request) -> Response:
        if bad:
            raise ApiError(404, "NOT_FOUND", "No such message")          # -> envelope, 404
        errors = [error_item("REQUIRED", "'name' is required", parameter="name")]
        raise ApiError.validation(errors)                              # -> 422 VALIDATION_ERROR
        return respond(request, 200, data=[{...}])                      # success envelope

``request_id(request)`` gives the request's ``uniqId`` (for logs and task messages). Exceptions
that are not ``ApiError`` never reach the client as a bare 500: ``install_handlers`` (called by
``producer.app``) answers an envelope for every one of them (``UNAVAILABLE`` 503 with
``Retry-After`` when PostgreSQL is unreachable).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any

import orjson
import psycopg
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from shared.ids import request_id as new_request_id
from shared.validation import FieldError

log = logging.getLogger("pushflow.api")

# Default titles per error code: the machine-readable code is the contract, the title a label.
TITLES: Mapping[str, str] = {
    "UNAUTHORIZED": "Unauthorized",
    "FORBIDDEN": "Forbidden",
    "NOT_FOUND": "Not found",
    "METHOD_NOT_ALLOWED": "Method not allowed",
    "VALIDATION_ERROR": "Validation error",
    "REQUIRED": "Required field missing",
    "TOO_LONG": "Value too long",
    "TOO_MANY": "Too many values",
    "INVALID_FORMAT": "Invalid format",
    "INVALID_IMAGE": "Invalid image",
    "PAYLOAD_TOO_LARGE": "Payload too large",
    "TTL_IN_PAST": "TTL in the past",
    "INVALID_DEVICE_TOKEN": "Invalid device token",
    "TOKEN_INVALIDATED": "Token invalidated",
    "PLATFORM_NOT_CONFIGURED": "Platform not configured",
    "NO_DEVICES": "No devices",
    "INVALID_TEMPLATE": "Invalid template",
    "IDEMPOTENCY_CONFLICT": "Idempotency conflict",
    "STATE_CONFLICT": "Not in this state",
    "EMPTY_AUDIENCE": "No recipients",
    "FINISH_BY_UNREACHABLE": "Cannot finish in time",
    "UNSUPPORTED_MEDIA_TYPE": "Unsupported media type",
    "RATE_LIMITED": "Rate limited",
    "INVALID_JSON": "Invalid JSON",
    "UNAVAILABLE": "Service unavailable",
    "OUTCOME_UNKNOWN": "Outcome unknown",
    "INTERNAL_ERROR": "Internal error",
}
# What an unknown error code is called; keeps error_item total.
_DEFAULT_TITLE = "Error"
_MAX_VALUE_CHARS = 256  # echoed values are truncated so a huge input does not come back whole
RETRY_AFTER_SECONDS = "5"


def request_id(request: Request) -> str:
    """The request's ``uniqId``, created on first use and kept in the ASGI scope."""
    rid = request.scope.get("pushflow.request_id")
    if rid is None:
        rid = new_request_id()
        request.scope["pushflow.request_id"] = rid
    return str(rid)


def header(request: Request, name: bytes) -> str | None:
    """A request header by lower-case name. The raw headers are indexed once per request:
    Starlette's ``request.headers.get`` rescans and decodes the whole list on every call."""
    index = request.scope.get("pushflow.headers")
    if index is None:
        index = dict(request.scope["headers"])
        request.scope["pushflow.headers"] = index
    value = index.get(name)
    return value.decode("latin-1") if value is not None else None


def _safe_value(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float):
        return value
    try:
        text = value if isinstance(value, str) else orjson.dumps(value, default=str).decode()
    except orjson.JSONEncodeError:  # nested past orjson's depth limit: an echo never fails
        text = f"({type(value).__name__} too deeply nested to show)"
    return text if len(text) <= _MAX_VALUE_CHARS else text[:_MAX_VALUE_CHARS] + "…"


def error_item(
    code: str,
    message: str,
    *,
    parameter: str | None = None,
    value: Any = None,
    source: str = "body",
    title: str | None = None,
) -> dict[str, Any]:
    """One entry of ``errors``."""
    return {
        "title": title or TITLES.get(code, _DEFAULT_TITLE),
        "message": message,
        "code": code,
        "meta": {"parameter": parameter, "value": _safe_value(value), "source": source},
    }


def field_items(errors: Iterable[FieldError]) -> list[dict[str, Any]]:
    """The ``errors`` entries of a body's validation errors (``shared.validation``)."""
    return [error_item(e.code, e.message, parameter=e.parameter, value=e.value) for e in errors]


def envelope(
    request: Request, status: int, data: Sequence[Any] = (), errors: Sequence[Any] = ()
) -> dict[str, Any]:
    return {
        "meta": {
            "numberOfErrors": len(errors),
            "numberOfData": len(data),
            "status": status,
            "uniqId": request_id(request),
        },
        "data": list(data),
        "errors": list(errors),
    }


class JSONAnswer(Response):
    """A JSON ``Response`` whose headers are built directly as raw pairs: Starlette's
    ``init_headers`` re-encodes and rescans a header dict on every answer, a measurable share of
    a 1-token push (docs/benchmarks.md, Intake)."""

    media_type = "application/json"

    def __init__(self, body: bytes, status: int, raw_headers: list[tuple[bytes, bytes]]) -> None:
        self.status_code = status
        self.background = None
        self.body = body
        self.raw_headers = raw_headers


def json_response(
    request: Request, status: int, body: Any, headers: Mapping[str, str] | None = None
) -> Response:
    """A JSON response carrying ``X-Request-Id`` (body already shaped as an envelope)."""
    content = orjson.dumps(body)
    raw = [(b"content-type", b"application/json"),
           (b"content-length", str(len(content)).encode()),
           (b"x-request-id", request_id(request).encode())]
    if headers:
        raw.extend((k.lower().encode("latin-1"), v.encode("latin-1"))
                   for k, v in headers.items())
    return JSONAnswer(content, status, raw)


def respond(
    request: Request,
    status: int,
    data: Sequence[Any] = (),
    errors: Sequence[Any] = (),
    headers: Mapping[str, str] | None = None,
) -> Response:
    return json_response(request, status, envelope(request, status, data, errors), headers)


class ApiError(Exception):
    """An error answered as an envelope. Either one error (code/message/parameter...) or, with
    ``errors``, a list of entries under an overall status (e.g. 422 with one entry per field)."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        parameter: str | None = None,
        value: Any = None,
        source: str = "body",
        title: str | None = None,
        errors: Iterable[dict[str, Any]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.headers = dict(headers or {})
        self.errors = list(errors) if errors is not None else [
            error_item(code, message, parameter=parameter, value=value, source=source,
                       title=title)
        ]

    @classmethod
    def validation(cls, errors: Iterable[dict[str, Any]], status: int = 422) -> ApiError:
        """422 VALIDATION_ERROR carrying one entry per offending field."""
        return cls(status, "VALIDATION_ERROR", "The request is invalid", errors=errors)

    @classmethod
    def unavailable(cls, message: str = "A backing service is unavailable; nothing was accepted"
                    ) -> ApiError:
        return cls(503, "UNAVAILABLE", message, source="server",
                   headers={"Retry-After": RETRY_AFTER_SECONDS})


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return respond(request, exc.status, errors=exc.errors, headers=exc.headers)


_HTTP_CODES = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 401: "UNAUTHORIZED",
               403: "FORBIDDEN", 413: "PAYLOAD_TOO_LARGE", 400: "INVALID_FORMAT"}


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, "INVALID_FORMAT" if exc.status_code < 500
                           else "INTERNAL_ERROR")
    headers = dict(exc.headers or {})
    return respond(request, exc.status_code, errors=[
        error_item(code, str(exc.detail), parameter=request.url.path, source="path")
    ], headers=headers)


async def _database_down(request: Request, exc: Exception) -> Response:
    # The connection could not be had or was lost mid-request: the transaction did not commit
    # (a statement runs in one transaction), so nothing was accepted and the client may retry.
    log.warning("database unavailable (request %s): %s", request_id(request),
                str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)
    state = getattr(request.app.state, "pf", None)
    if state is not None:
        state.discard_dead_connections()
    err = ApiError.unavailable("The database is unavailable; nothing was accepted")
    return respond(request, err.status, errors=err.errors, headers=err.headers)


async def _internal(request: Request, exc: Exception) -> Response:
    log.exception("internal error (request %s)", request_id(request), exc_info=exc)
    return respond(request, 500, errors=[error_item(
        "INTERNAL_ERROR", f"Internal error; quote request id {request_id(request)}",
        source="server")])


# Most specific first. A database outage is an expected, answered condition (handled inside
# ExceptionMiddleware, not re-raised); connection-level failures only: SQL errors are bugs.
_HANDLERS: tuple[tuple[type[Exception], Callable[[Request, Exception], Awaitable[Response]]],
                 ...] = (
    (ApiError, _api_error),
    (HTTPException, _http_error),
    (psycopg.OperationalError, _database_down),
    (Exception, _internal),
)


async def error_response(request: Request, exc: Exception) -> Response:
    """The envelope answer for ``exc``, chosen as ``install_handlers`` would (for routes served
    outside Starlette's exception middleware, see ``producer.app``)."""
    for kind, handler in _HANDLERS:
        if isinstance(exc, kind):
            return await handler(request, exc)
    raise exc  # unreachable: the table ends with Exception


def install_handlers(app: Starlette) -> None:
    """Register the envelope-producing exception handlers on ``app``."""
    for kind, handler in _HANDLERS:
        app.add_exception_handler(kind, handler)
