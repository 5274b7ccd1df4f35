"""The hot route, ``POST /v2.1/push``, served straight from the application's ``__call__``.

Every request through Starlette passes ``ServerErrorMiddleware`` (a ``send`` wrapper), our
``RequestObservabilityMiddleware`` (another ``send`` wrapper), ``ExceptionMiddleware`` (a closure
and a third wrapper), the router's regex scan over the route list and ``request_response`` (a
second exception layer and a fourth wrapper). For a 1-token push that machinery is a visible
share of the request's CPU (docs/benchmarks.md, Intake). ``PushflowApp`` hands an exact
``(method, path)`` match of ``HOT`` to ``serve_hot``, which does what those layers do for this
route and nothing else:

- the request id, metrics and access log through the same ``RequestRecorder`` the middleware
  uses (the answers carry ``X-Request-Id`` already: ``producer.envelope.json_response``);
- every exception becomes the envelope ``install_handlers`` would give
  (``producer.envelope.error_response``), and if even that fails, a fixed 500 envelope: no
  answer of this route is ever a bare text 500.

Everything else goes down the normal Starlette stack.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from producer.envelope import error_response
from shared.observability.asgi import RequestRecorder

log = logging.getLogger("pushflow.api")

# (method, path) pairs served directly; each must be a plain ``Route`` without path parameters.
HOT = frozenset({("POST", "/v2.1/push")})


def hot_routes(routes: Iterable[BaseRoute]) -> Mapping[tuple[str, str], Route]:
    """The routes of ``HOT`` among ``routes``, by (method, path)."""
    found: dict[tuple[str, str], Route] = {}
    for route in routes:
        if isinstance(route, Route):
            for method in route.methods or ():
                if (method, route.path) in HOT:
                    found[(method, route.path)] = route
    return MappingProxyType(found)


def _last_resort(request_id: str) -> tuple[list[tuple[bytes, bytes]], bytes]:
    """Headers and body of the fixed 500 envelope."""
    body = orjson.dumps({
        "meta": {"numberOfErrors": 1, "numberOfData": 0, "status": 500, "uniqId": request_id},
        "data": [], "errors": [{
            "title": "Internal error", "code": "INTERNAL_ERROR",
            "message": f"Internal error; quote request id {request_id}",
            "meta": {"parameter": None, "value": None, "source": "server"}}]})
    return [(b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"x-request-id", request_id.encode())], body


async def serve_hot(route: Route, recorder: RequestRecorder, scope: Scope, receive: Receive,
                    send: Send) -> None:
    """Serve one request of a hot route (see the module docstring)."""
    request_id, token, started = recorder.begin(scope)
    scope["route"] = route  # the route template for metrics, as Starlette's router sets it
    status = 500
    try:
        request = Request(scope, receive)
        response: Response
        try:
            response = await route.endpoint(request)
        except Exception as exc:
            try:
                response = await error_response(request, exc)
            except Exception:
                log.exception("error answer failed (request %s)", request_id)
                headers, body = _last_resort(request_id)
                await send({"type": "http.response.start", "status": 500, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
        status = response.status_code
        await response(scope, receive, send)
    finally:
        recorder.end(scope, status, token, started)


class PushflowApp(Starlette):
    """Starlette, except that the routes of ``HOT`` are served by ``serve_hot`` without going
    through the middleware stack and the router."""

    def __init__(self, *, recorder: RequestRecorder, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.recorder = recorder
        self.hot = hot_routes(self.router.routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope.get("root_path"):
            route = self.hot.get((scope["method"], scope["path"]))
            if route is not None:
                scope["app"] = self
                await serve_hot(route, self.recorder, scope, receive, send)
                return
        await super().__call__(scope, receive, send)
