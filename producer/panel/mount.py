"""The panel's place in the API: ``routes`` (in ``producer.app.ROUTE_MODULES``) mounts every page
module of ``PAGE_MODULES`` under ``/panel``, behind ``PanelMiddleware`` (security headers, HTML
error pages), with the static files at ``/panel/static``."""

from __future__ import annotations

from pathlib import Path

from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from producer.panel import (
    automation,
    campaign_form,
    campaigns,
    credentials,
    dashboard,
    device,
    dispatch,
    events,
    home,
    keys,
    limits,
    logs,
    signin,
    testpush,
    unfinished,
    users,
    webhooks,
)
from producer.panel.guard import see_other
from producer.panel.security import PanelMiddleware

# campaign_form before campaigns: ``campaigns/new`` is the form, not a campaign's id.
PAGE_MODULES = (signin, home, dashboard, logs, dispatch, device, unfinished, campaign_form,
                campaigns, testpush, webhooks, keys, credentials, limits, users, automation,
                events)
STATIC = Path(__file__).with_name("static")


async def panel_root(request: Request) -> Response:
    return see_other("/panel/")


def _pages() -> list[BaseRoute]:
    pages: list[BaseRoute] = [Mount("/static", app=StaticFiles(directory=STATIC),
                                    name="panel-static")]
    for module in PAGE_MODULES:
        pages.extend(module.routes)
    return pages


routes: list[BaseRoute] = [
    Route("/panel", panel_root, methods=["GET"]),
    Mount("/panel", routes=_pages(), middleware=[Middleware(PanelMiddleware)]),
]
