"""Logs and search (``/panel/apps/{app_key}/logs``, every role): the app's dispatches newest
first, filtered by the GET query string (``producer.panel.search_form``), 50 a page with a
keyset "next page" link, and the same search as a streamed CSV (``logs.csv``)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from domain.dispatches.export import export_csv
from domain.dispatches.search import Page, search_page
from producer.panel.guard import page
from producer.panel.search_form import CHOICES, parse_search
from producer.panel.templates import render
from producer.panel.viewer import AppPage
from producer.state import get_state

PAGE_ROWS = 50


@page("support")
async def logs(request: Request, ctx: AppPage) -> Response:
    form = parse_search(request.query_params)
    result: Page | None = None
    if not form.errors:
        async with get_state(request).pool.connection() as conn:
            result = await search_page(conn, ctx.app_id, form.filter, size=PAGE_ROWS,
                                       after=form.after)
    path = ctx.url("logs")
    return render(request, "logs.html", ctx, {
        "form": form, "choices": CHOICES, "result": result,
        "next_url": form.link(path, after=result.next.encode())
        if result is not None and result.next else None,
        "first_url": form.link(path, after=None) if form.after else None,
        "csv_url": form.link(ctx.url("logs.csv"), after=None)},
        status=422 if form.errors else 200)


@page("support")
async def logs_csv(request: Request, ctx: AppPage) -> Response:
    form = parse_search(request.query_params)
    if form.errors:
        return render(request, "error.html", ctx, {"status": 422,
                                                    "message": "; ".join(form.errors)},
                      status=422)
    pool = get_state(request).pool
    return StreamingResponse(
        export_csv(pool.connection, ctx.app_id, form.filter), media_type="text/csv",
        headers={"content-disposition":
                 f'attachment; filename="dispatches-{ctx.app_key}.csv"'})


routes: list[BaseRoute] = [
    Route("/apps/{app_key}/logs", logs, methods=["GET"]),
    Route("/apps/{app_key}/logs.csv", logs_csv, methods=["GET"]),
]
