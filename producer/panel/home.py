"""``/panel/``: the apps the viewer belongs to; ``/panel/switch``: the app switcher's target."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from domain.users.store import Membership, allows
from producer.panel.guard import require_viewer, scoped, see_other
from producer.panel.nav import NAV
from producer.panel.templates import render


def home_of(m: Membership) -> str:
    """Where an app's link leads: its first page the member's role sees."""
    first = next(item for item in NAV if allows(m.role, item.role))
    return f"/panel/apps/{m.app_key}/{first.path}"


async def home(request: Request) -> Response:
    viewer = await require_viewer(request)
    return render(request, "home.html", viewer, {"home_of": home_of})


async def switch(request: Request) -> Response:
    viewer = await require_viewer(request)
    ctx = scoped(viewer, request.query_params.get("app", ""), "support")
    return see_other(home_of(ctx.membership))


routes: list[BaseRoute] = [
    Route("/", home, methods=["GET"]),
    Route("/switch", switch, methods=["GET"]),
]
