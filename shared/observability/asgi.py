"""ASGI middleware for the API: request metrics by route template, and the request id.

Mount it outermost (``Starlette(middleware=[Middleware(RequestObservabilityMiddleware)])``) so
it sees every request, errors included. For each HTTP request it

- binds a request id (``uniqId``) in ``shared.observability.context`` - the incoming
  ``X-Request-Id`` header when it is a sane value, else a new ``shared.ids.request_id()`` - and
  puts it in ``scope["pushflow.request_id"]``, where ``producer.envelope.request_id`` reads it,
  so the envelope's ``uniqId``, the tasks queued and every log line share one id; adds
  ``X-Request-Id`` to the response if the handler did not;
- counts ``pushflow_http_requests_total{route,method,status}`` and observes
  ``pushflow_http_request_duration_seconds``. ``route`` is the matched route's template
  (``/v2.1/push/{messageId}``), or ``<unmatched>``, so label values stay a small closed set;
- writes one access-log line (logger ``pushflow.access``; uvicorn's own access log is off)
  with method, route, status and duration - and, through the contextvar, the ``uniqId``:
  at WARNING for a 5xx, INFO for a 4xx and for a success, DEBUG for probe and scrape paths.
  ``PUSHFLOW_ACCESS_LOG_SUCCESSES=false`` moves successes to DEBUG: a JSON line costs a good
  part of a 1-token push's CPU (docs/benchmarks.md, Intake), and the metrics count them anyway;
  every error answer is always logged, with its request id.

The per-request cost is kept small: the metric children of each (route, method, status) are
looked up once per process (``.labels()`` hashes and locks on every call).
"""

from __future__ import annotations

import logging
import re
import time
from contextvars import Token

from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.ids import request_id as new_request_id
from shared.observability import metrics
from shared.observability.context import bind_request_id, reset_request_id

_SANE_ID = re.compile(rb"[A-Za-z0-9._-]{1,64}")
access_log = logging.getLogger("pushflow.access")
_QUIET_ROUTES = frozenset({"/healthz", "/readyz", "/metrics"})
_UNMATCHED = "<unmatched>"
SCOPE_KEY = "pushflow.request_id"  # the key producer.envelope.request_id reads
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_MAX_CACHED_SERIES = 4096  # routes x methods x statuses is small; a bound all the same


def _incoming_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id" and _SANE_ID.fullmatch(value):
            return str(value.decode())
    return None


def route_template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) and path else _UNMATCHED


def access_level(route: str, status: int, successes: bool = True) -> int:
    if status >= 500:
        return logging.WARNING
    if route in _QUIET_ROUTES:
        return logging.DEBUG
    if status >= 400 or successes:
        return logging.INFO
    return logging.DEBUG


class RequestRecorder:
    """What the middleware does around a request, callable on its own by code that serves a
    request without the middleware (``producer.hotpath``): ``begin`` binds the request id,
    ``end`` counts, times and logs the answer and unbinds it."""

    def __init__(self, log_successes: bool | None = None) -> None:
        if log_successes is None:
            from shared.settings import get_settings

            log_successes = get_settings().access_log_successes
        self.log_successes = log_successes
        self._series: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    def _children(self, route: str, method: str, status: int) -> tuple[Counter, Histogram]:
        key = (route, method, status)
        children = self._series.get(key)
        if children is None:
            if len(self._series) >= _MAX_CACHED_SERIES:
                self._series.clear()
            children = (metrics.HTTP_REQUESTS.labels(route, method, str(status)),
                        metrics.HTTP_DURATION.labels(route, method))
            self._series[key] = children
        return children

    def begin(self, scope: Scope) -> tuple[str, Token[str | None], float]:
        """(request id, context token for ``end``, start time); the id is put in the scope."""
        request_id = _incoming_id(scope) or new_request_id()
        scope[SCOPE_KEY] = request_id
        return request_id, bind_request_id(request_id), time.perf_counter()

    def end(self, scope: Scope, status: int, token: Token[str | None], started: float) -> None:
        route = route_template(scope)
        method = str(scope.get("method", "GET"))
        method = method if method in _METHODS else "OTHER"
        elapsed = time.perf_counter() - started
        requests, duration = self._children(route, method, status)
        requests.inc()
        duration.observe(elapsed)
        level = access_level(route, status, self.log_successes)
        if access_log.isEnabledFor(level):
            access_log.log(
                level, "%s %s %d %.1fms", method, route, status, elapsed * 1000,
                extra={"route": route, "status": status,
                       "durationMs": round(elapsed * 1000, 2)},
            )
        reset_request_id(token)


class RequestObservabilityMiddleware:
    def __init__(self, app: ASGIApp, log_successes: bool | None = None,
                 recorder: RequestRecorder | None = None) -> None:
        self.app = app
        self.recorder = recorder or RequestRecorder(log_successes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id, token, started = self.recorder.begin(scope)
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = message.get("headers", ())
                # ASGI requires lower-case header names in http.response.start.
                if not any(k == b"x-request-id" for k, _ in headers):
                    message = {**message,
                               "headers": [*headers, (b"x-request-id", request_id.encode())]}
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            self.recorder.end(scope, status, token, started)
