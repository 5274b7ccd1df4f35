"""The intake API's ASGI application: ``create_app()`` (served by ``pushflow api`` through uvicorn
with ``factory=True``).

Adding endpoints: write a module in ``producer/routes/``, add it to ``ROUTE_MODULES``; it exposes

    routes: list[starlette.routing.BaseRoute]        # required, e.g. [Route("/v2.1/x", handler)]
    openapi: dict[str, Any]                          # optional: {"paths": {...},
                                                     #   "components": {"schemas": {...}}}
                                                     #   merged into /openapi.json
    background: Sequence[Callable[[AppState], Awaitable[None]]]
                                                     # optional: long-running coroutines started
                                                     #   with the app, cancelled at shutdown

Handlers use ``producer.auth.authenticate``, ``producer.envelope`` (``respond``, ``ApiError``)
and ``producer.state.get_state`` (pool, redis, settings). Every module listed is imported: a
missing one fails at start, and ``tests/producer/test_route_matrix.py`` checks each route is in
``/openapi.json`` with its scope.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from types import ModuleType

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from domain.messages.outbox import OutboxAcks
from producer import openapi as openapi_doc
from producer.auth import KeyCache, watch_key_changes
from producer.body import RefuseNul
from producer.envelope import install_handlers
from producer.hotpath import PushflowApp
from producer.outbox import run_sweeper
from producer.panel import mount as panel
from producer.routes import (
    automations,
    campaigns,
    devices,
    docs,
    events,
    keys,
    limits,
    ops,
    push,
    receipts,
    unfinished,
    users,
    webhooks,
)
from producer.state import AppState, make_pool, make_redis
from producer.writer import IntakeWriter
from shared.observability.asgi import RequestObservabilityMiddleware, RequestRecorder
from shared.observability.logs import configure_logging
from shared.settings import Settings, get_settings

log = logging.getLogger("pushflow.api")

ROUTE_MODULES: tuple[ModuleType, ...] = (push, webhooks, receipts, devices, keys, limits, users,
                                         unfinished, automations, events, campaigns, ops, docs,
                                         panel)

Background = Callable[[AppState], Awaitable[None]]
SHUTDOWN_WAIT_SECONDS = 2.0


async def _guarded(name: str, job: Awaitable[None]) -> None:
    try:
        await job
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("background task %s stopped", name)


def create_app(settings: Settings | None = None) -> PushflowApp:
    """The API app; ``settings`` default to the environment's (tests pass their own)."""
    settings = settings or get_settings()
    # JSON logs with the request id, secrets redacted; in each server process (uvicorn workers
    # call this factory themselves).
    configure_logging("api", level=settings.log_level, json_output=settings.log_json)
    modules = ROUTE_MODULES
    background: list[Background] = [run_sweeper, watch_key_changes]
    routes: list[BaseRoute] = []
    for module in modules:
        routes.extend(module.routes)
        background.extend(getattr(module, "background", ()))
    document = openapi_doc.build([getattr(m, "openapi", {}) for m in modules])
    openapi_body = openapi_doc.render(document)

    async def openapi_json(request: Request) -> Response:
        return Response(openapi_body, media_type="application/json")

    routes.append(Route("/openapi.json", openapi_json, methods=["GET"]))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        pool = make_pool(settings)
        # Do not wait for PostgreSQL: when it is down the API still starts and answers 503.
        await pool.open(wait=False)
        state = AppState(settings=settings, pool=pool, redis=make_redis(settings),
                         keys=KeyCache(), acks=OutboxAcks(), writer=IntakeWriter())
        app.state.pf = state
        named = [(getattr(job, "__qualname__", "job"), job)
                 for job in (state.acks.run, state.writer.run, *background)]
        tasks = [asyncio.create_task(_guarded(name, job(state)), name=name)
                 for name, job in named]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            # Bounded: a task stuck in a library's cancellation (redis-py's pub/sub listener,
            # cancelled right after it subscribed, can miss it) must not hang the shutdown.
            _done, stuck = await asyncio.wait(tasks, timeout=SHUTDOWN_WAIT_SECONDS)
            for task in stuck:
                log.warning("background task %s did not stop within %.0f s; left behind",
                            task.get_name(), SHUTDOWN_WAIT_SECONDS)
            with contextlib.suppress(Exception):
                await state.acks.flush(state)
            await state.redis.aclose()  # type: ignore[attr-defined]  # stubs predate 5.0
            await pool.close()

    # Outermost: request id, per-route metrics and the access log see every request, errors
    # included (shared/observability/asgi.py). The hot route gets the same from the same
    # recorder without the stack (producer/hotpath.py).
    recorder = RequestRecorder(settings.access_log_successes)
    app = PushflowApp(recorder=recorder, routes=routes, lifespan=lifespan,
                      middleware=[Middleware(RequestObservabilityMiddleware, recorder=recorder),
                                  Middleware(RefuseNul)])
    install_handlers(app)
    # No trailing-slash redirect: Starlette builds its Location from the Host header.
    app.router.redirect_slashes = False
    return app

