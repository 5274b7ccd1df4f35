"""Campaigns (``/panel/apps/{app_key}/campaigns``, every role, read only for now): the app's
campaigns with their state and progress, and one campaign's page with the ledger's figures
(``domain.campaigns.progress``, the same as ``GET /v2.1/campaigns/{id}``), its halt reason and a
link to its dispatches in the logs. Creating and acting on campaigns is the API's for now."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from domain.campaigns import progress, store
from producer.panel.guard import PanelError, page
from producer.panel.templates import render
from producer.panel.viewer import AppPage
from producer.state import get_state

ROWS = 100


@page("support")
async def campaigns_page(request: Request, ctx: AppPage) -> Response:
    async with get_state(request).pool.connection() as conn:
        campaigns = await store.list_campaigns(conn, ctx.app_id, state=None, offset=0,
                                               limit=ROWS)
        rows = [(c, await progress.progress(conn, c.id, c.state)) for c in campaigns]
    return render(request, "campaigns.html", ctx, {"rows": rows})


@page("support")
async def campaign_page(request: Request, ctx: AppPage) -> Response:
    campaign_id = store.valid_id(request.path_params["campaign_id"])
    async with get_state(request).pool.connection() as conn:
        # Another app's campaign (or no campaign) is a 404, as any page out of scope.
        campaign = None if campaign_id is None else await store.get(conn, ctx.app_id,
                                                                    campaign_id)
        if campaign is None:
            raise PanelError(404, "This app has no such campaign.")
        counts = await progress.progress(conn, campaign.id, campaign.state)
    return render(request, "campaign.html", ctx, {"c": campaign, "p": counts})


routes: list[BaseRoute] = [
    Route("/apps/{app_key}/campaigns", campaigns_page, methods=["GET"]),
    Route("/apps/{app_key}/campaigns/{campaign_id}", campaign_page, methods=["GET"]),
]
