"""A device token's whole life (``/panel/apps/{app_key}/device?token=...``, every role): its
registration, last success, the gateway's rejection with its timestamp and the dispatch that
brought it (``domain.devices.story``), and every dispatch to it, newest first, paged."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from domain.devices.story import device_story
from domain.dispatches.search import Cursor, DispatchFilter, search_page
from producer.panel.guard import PanelError, page
from producer.panel.search_form import MAX_TEXT
from producer.panel.templates import render
from producer.panel.viewer import AppPage
from producer.state import get_state

PAGE_ROWS = 50


@page("support")
async def device_page(request: Request, ctx: AppPage) -> Response:
    token = request.query_params.get("token", "").strip()
    if not token:
        return render(request, "device.html", ctx, {"s": None, "dispatches": None})
    if len(token) > MAX_TEXT:
        raise PanelError(422, f"A device token has at most {MAX_TEXT} characters.")
    try:
        after = Cursor.decode(request.query_params["after"]) \
            if request.query_params.get("after") else None
    except ValueError:
        raise PanelError(422, "'after' is not a page of this device's dispatches.") from None
    async with get_state(request).pool.connection() as conn:
        story = await device_story(conn, ctx.app_id, token)
        dispatches = await search_page(conn, ctx.app_id, DispatchFilter(token=token),
                                       size=PAGE_ROWS, after=after)
    if story.device is None and not dispatches.rows and after is None:
        raise PanelError(404, "This app has no device with this token and sent it nothing.")
    return render(request, "device.html", ctx, {"s": story, "dispatches": dispatches})


routes: list[BaseRoute] = [Route("/apps/{app_key}/device", device_page, methods=["GET"])]
