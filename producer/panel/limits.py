"""The Limits page (``/panel/apps/{app_key}/settings/limits``): the app's overrides of the
default limits (payload sizes, tokens per request, the intake rate, ``domain.keys.limits``) and
its send rate per gateway and lane (``domain.keys.send_rates``). An empty field means the
default. Admins change them; the API applies them within seconds (its key cache), the send
workers and the campaign pacer within a minute (the workers' app cache)."""

from __future__ import annotations

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from domain.keys import limits, send_rates
from producer.panel.guard import action, page
from producer.panel.templates import render
from producer.panel.viewer import AppPage
from producer.state import get_state

TEMPLATE = "limits.html"
# (field name, gateway, lane): the form's send-rate fields, named as apps.send_rates' keys.
RATE_FIELDS = [(send_rates.key(g, lane), g, lane)
               for g in send_rates.GATEWAYS for lane in send_rates.LANES]


async def _show(request: Request, ctx: AppPage, *, status: int = 200, notice: str = "",
                error: str = "", typed: dict[str, str] | None = None) -> Response:
    settings = get_state(request).settings
    async with get_state(request).pool.connection() as conn:
        current = await limits.get_limits(conn, ctx.app_id)
        rates = await send_rates.get_send_rates(conn, ctx.app_id, settings)
    values = {name: str(current.overrides.get(name, "")) for name in limits.OVERRIDABLE}
    values |= {name: f"{rates.own[name]:g}" if name in rates.own else ""
               for name, _, _ in RATE_FIELDS}
    rows = [(name, getattr(settings, name)) for name in limits.OVERRIDABLE]
    rate_rows = [(name, g, lane, f"{rates.defaults[lane]:g}") for name, g, lane in RATE_FIELDS]
    return render(request, TEMPLATE, ctx, {
        "rows": rows, "rate_rows": rate_rows, "values": {**values, **(typed or {})},
        "notice": notice, "error": error}, status=status)


@page("support")
async def limits_page(request: Request, ctx: AppPage) -> Response:
    return await _show(request, ctx)


@action("admin")
async def save_limits(request: Request, ctx: AppPage, form: FormData) -> Response:
    names = [*limits.OVERRIDABLE, *(name for name, _, _ in RATE_FIELDS)]
    typed = {name: str(form.get(name) or "").strip() for name in names}
    try:
        overrides = {name: limits.check(name, typed[name]) for name in limits.OVERRIDABLE
                     if typed[name]}
        own = {name: send_rates.check_rate(g, lane, typed[name])
               for name, g, lane in RATE_FIELDS if typed[name]}
    except limits.BadLimit as exc:
        return await _show(request, ctx, status=422, error=f"Not saved: {exc}.", typed=typed)
    async with get_state(request).pool.connection() as conn, conn.transaction():
        await limits.set_limits(conn, ctx.app_id, overrides)
        await send_rates.set_send_rates(conn, ctx.app_id, own)
    return await _show(request, ctx, notice="Limits saved.")


routes: list[BaseRoute] = [
    Route("/apps/{app_key}/settings/limits", limits_page, methods=["GET"]),
    Route("/apps/{app_key}/settings/limits", save_limits, methods=["POST"]),
]
