"""Unfinished (``/panel/apps/{app_key}/unfinished``, every role): what an operator must look at,
the report of ``domain.dispatches.unfinished`` (also ``GET /v2.1/unfinished``), with links to
each dispatch's page."""

from __future__ import annotations

from datetime import timedelta

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from domain.dispatches.unfinished import unfinished
from producer.panel.guard import page
from producer.panel.templates import render
from producer.panel.viewer import AppPage
from producer.routes.unfinished import DEFAULT_OLDER_THAN, MAX_OLDER_THAN
from producer.state import get_state

ROWS = 200


@page("support")
async def unfinished_page(request: Request, ctx: AppPage) -> Response:
    raw = request.query_params.get("older_than", "")
    minutes = int(raw) if raw.isdigit() and int(raw) * 60 <= MAX_OLDER_THAN \
        else DEFAULT_OLDER_THAN // 60
    async with get_state(request).pool.connection() as conn:
        report = await unfinished(conn, ctx.app_id, older_than=timedelta(minutes=minutes),
                                  limit=ROWS)
    return render(request, "unfinished.html", ctx, {"r": report, "minutes": minutes})


routes: list[BaseRoute] = [
    Route("/apps/{app_key}/unfinished", unfinished_page, methods=["GET"])]
