"""The Limits page (``/panel/apps/{app_key}/settings/limits``): the app's overrides of the
default limits (payload sizes, tokens per request, the intake rate) and its send rate
(``domain.keys.limits``). An empty field means the default. Admins change them; the API applies
them within seconds (its key cache), the send workers within a minute (their app cache)."""

from __future__ import annotations

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from domain.keys import limits
from producer.panel.guard import action, page
from producer.panel.templates import render
from producer.panel.viewer import AppPage
from producer.state import get_state

TEMPLATE = "limits.html"


async def _show(request: Request, ctx: AppPage, *, status: int = 200, notice: str = "",
                error: str = "", typed: dict[str, str] | None = None) -> Response:
    async with get_state(request).pool.connection() as conn:
        current = await limits.get_limits(conn, ctx.app_id)
    settings = get_state(request).settings
    values = {name: str(current.overrides.get(name, "")) for name in limits.OVERRIDABLE}
    values[limits.SEND_RATE] = "" if current.send_rate is None else f"{current.send_rate:g}"
    rows = [(name, getattr(settings, name)) for name in (*limits.OVERRIDABLE, limits.SEND_RATE)]
    return render(request, TEMPLATE, ctx, {
        "rows": rows, "values": {**values, **(typed or {})}, "notice": notice, "error": error},
        status=status)


@page("support")
async def limits_page(request: Request, ctx: AppPage) -> Response:
    return await _show(request, ctx)


@action("admin")
async def save_limits(request: Request, ctx: AppPage, form: FormData) -> Response:
    typed = {name: str(form.get(name) or "").strip()
             for name in (*limits.OVERRIDABLE, limits.SEND_RATE)}
    try:
        overrides = {name: limits.check(name, typed[name]) for name in limits.OVERRIDABLE
                     if typed[name]}
        rate = typed[limits.SEND_RATE]
        send_rate = float(limits.check(limits.SEND_RATE, rate)) if rate else None
    except limits.BadLimit as exc:
        return await _show(request, ctx, status=422, error=f"Not saved: {exc}.", typed=typed)
    async with get_state(request).pool.connection() as conn:
        await limits.set_limits(conn, ctx.app_id, overrides, send_rate)
    return await _show(request, ctx, notice="Limits saved.")


routes: list[BaseRoute] = [
    Route("/apps/{app_key}/settings/limits", limits_page, methods=["GET"]),
    Route("/apps/{app_key}/settings/limits", save_limits, methods=["POST"]),
]
