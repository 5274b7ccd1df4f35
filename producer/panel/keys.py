"""The API keys page (``/panel/apps/{app_key}/settings/keys``): every key with its scopes and
last use; a new key's secret shown once, on the answer to its creation; revoking, effective at
once in every API process (``producer.routes.keys.revoke``). Support sees the list;
developers and admins create and revoke, but only an admin may create a key with the ``admin``
scope (which manages users and keys: it would lift a developer to admin)."""

from __future__ import annotations

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from domain.keys import store as keys
from producer.panel.guard import PanelError, action, page
from producer.panel.templates import render
from producer.panel.viewer import AppPage
from producer.routes.keys import revoke
from producer.state import get_state
from producer.sync_db import with_sync_connection

TEMPLATE = "keys.html"


async def _show(request: Request, ctx: AppPage, *, status: int = 200, new: keys.NewKey | None
                = None, notice: str = "", error: str = "") -> Response:
    found = await with_sync_connection(get_state(request).settings,
                                       lambda conn: keys.list_keys(conn, ctx.app_key))
    return render(request, TEMPLATE, ctx, {
        "keys": found, "scopes": keys.SCOPES, "default_scopes": keys.DEFAULT_SCOPES,
        "new": new, "notice": notice, "error": error}, status=status)


@page("support")
async def keys_page(request: Request, ctx: AppPage) -> Response:
    return await _show(request, ctx)


@action("developer")
async def create_key(request: Request, ctx: AppPage, form: FormData) -> Response:
    scopes = [s for s in form.getlist("scope") if isinstance(s, str)]
    if "admin" in scopes and not ctx.can("admin"):
        raise PanelError(403, "Only an admin of the app may create a key with the admin scope.")
    try:
        new = await with_sync_connection(get_state(request).settings,
                                         lambda conn: keys.create_key(conn, ctx.app_key, scopes))
    except keys.UnknownScope as exc:
        return await _show(request, ctx, status=422, error=f"Choose known scopes ({exc}).")
    return await _show(request, ctx, status=201, new=new)


@action("developer")
async def revoke_key(request: Request, ctx: AppPage, form: FormData) -> Response:
    prefix = form.get("prefix")
    n = await revoke(get_state(request), ctx.app_key, prefix) if isinstance(prefix, str) else 0
    if n == 0:
        return await _show(request, ctx, status=404, error="No live key with that prefix.")
    return await _show(request, ctx, notice=f"Key {prefix}… revoked: it is refused from now on.")


routes: list[BaseRoute] = [
    Route("/apps/{app_key}/settings/keys", keys_page, methods=["GET"]),
    Route("/apps/{app_key}/settings/keys/create", create_key, methods=["POST"]),
    Route("/apps/{app_key}/settings/keys/revoke", revoke_key, methods=["POST"]),
]
