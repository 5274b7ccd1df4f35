"""The hot route, ``POST /v2.1/push``, served without Starlette's router and exception layers.

Starlette wraps every request in ``ExceptionMiddleware`` (a closure and a ``send`` wrapper), then
walks the route list matching regexes, then wraps the endpoint again (``request_response``: a
second exception layer and ``send`` wrapper). For a 1-token push that machinery is a visible
share of the request's CPU (docs/benchmarks.md, Intake). ``HotRoutes`` sits right inside the
observability middleware and hands an exact ``(method, path)`` match straight to its endpoint;
errors become the same envelopes through ``producer.envelope.error_response`` (the table
``install_handlers`` registers). Everything else goes down the normal Starlette stack.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType

from starlette.requests import Request
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from producer.envelope import error_response

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


class HotRoutes:
    """ASGI middleware: exact-match dispatch of the hot routes (see the module docstring)."""

    def __init__(self, app: ASGIApp, routes: Mapping[tuple[str, str], Route]) -> None:
        self.app = app
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = None
        if scope["type"] == "http" and not scope.get("root_path"):
            route = self.routes.get((scope["method"], scope["path"]))
        if route is None:
            await self.app(scope, receive, send)
            return
        scope["route"] = route  # the route template for metrics, as Starlette's router sets it
        request = Request(scope, receive)
        try:
            response = await route.endpoint(request)
        except Exception as exc:
            response = await error_response(request, exc)
        await response(scope, receive, send)
