"""Operations endpoints of the API: ``/healthz``, ``/readyz`` and ``/metrics``.

- ``/healthz``: the process is alive and its event loop answers. No dependency is checked, so a
  database outage never makes an orchestrator restart every API process at once.
- ``/readyz``: PostgreSQL reachable, its schema at the version this code needs, Redis reachable;
  503 with the failing checks otherwise, so a load balancer stops routing here. (The intake
  still answers 202 while Redis is down - the outbox delivers later - but a fresh instance should
  not take traffic until it can publish.)
- ``/metrics``: Prometheus text exposition of this process (or of every process of this API
  when ``PROMETHEUS_MULTIPROC_DIR`` is set).

These answer outside the ``/v2.1`` contract (no auth, no envelope): they are for load balancers,
orchestrators and Prometheus, which expect exactly this shape. Keep them off the public
internet (see docs/operations.md).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from shared.observability.exporter import render, scrape_registry
from shared.observability.health import readiness
from shared.settings import get_settings


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "alive"})


async def readyz(request: Request) -> Response:
    settings = get_settings()
    checks = await readiness(settings.database_url, settings.redis_url)
    ok = all(check.ok for check in checks)
    return JSONResponse(
        {"status": "ready" if ok else "not ready", "checks": [c.as_dict() for c in checks]},
        status_code=200 if ok else 503,
        headers=None if ok else {"Retry-After": "5"},
    )


async def metrics(request: Request) -> Response:
    body, content_type = render(scrape_registry())
    return Response(body, media_type=content_type)


routes: list[BaseRoute] = [
    Route("/healthz", healthz, methods=["GET", "HEAD"], include_in_schema=False),
    Route("/readyz", readyz, methods=["GET", "HEAD"], include_in_schema=False),
    Route("/metrics", metrics, methods=["GET"], include_in_schema=False),
]
