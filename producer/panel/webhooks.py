"""The Webhooks page (``/panel/apps/{app_key}/webhooks``): where delivery reports go (URLs and
event types), secret rotation (the new secret shown once; the old one keeps signing during the
overlap), deleting the configuration with its secrets, recent deliveries with their attempts,
and dead letters with replay, one or all.
Everything through ``domain.webhooks.config``, as ``/v2.1/webhooks`` does. Developers and admins
change; support reads."""

from __future__ import annotations

import uuid

from cryptography.fernet import Fernet
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from domain.webhooks import config as hooks
from domain.webhooks.urls import UrlRejected, check_url
from producer.panel.guard import action, page
from producer.panel.templates import render
from producer.panel.viewer import AppPage
from producer.state import get_state
from shared.observability import metrics
from shared.statuses import EVENT_TYPES

TEMPLATE = "webhooks.html"
RECENT = 50


async def _show(request: Request, ctx: AppPage, *, status: int = 200, secret: str = "",
                notice: str = "", error: str = "") -> Response:
    async with get_state(request).pool.connection() as conn:
        config = await hooks.get_config(conn, ctx.app_id)
        recent = await hooks.list_deliveries(conn, ctx.app_id, hooks.DeliveryFilter(),
                                             offset=0, limit=RECENT)
        dead = await hooks.list_deliveries(conn, ctx.app_id, hooks.DeliveryFilter(state="dead"),
                                           offset=0, limit=RECENT)
    return render(request, TEMPLATE, ctx, {
        "config": config, "event_types": EVENT_TYPES, "recent": recent, "dead": dead,
        "secret": secret, "notice": notice, "error": error}, status=status)


def _fernet(request: Request) -> Fernet:
    return Fernet(get_state(request).settings.fernet_key())


@page("support")
async def webhooks_page(request: Request, ctx: AppPage) -> Response:
    return await _show(request, ctx)


async def _url(request: Request, form: FormData, name: str) -> str | None:
    value = form.get(name)
    if not isinstance(value, str) or not value.strip():
        return None
    s = get_state(request).settings
    await check_url(value.strip(), allow_http=s.webhook_allow_http,
                    allow_private=s.webhook_allow_private)
    return value.strip()


@action("developer")
async def save(request: Request, ctx: AppPage, form: FormData) -> Response:
    events = [e for e in EVENT_TYPES if e in form.getlist("event")]
    try:
        primary = await _url(request, form, "primary_url")
        secondary = await _url(request, form, "secondary_url")
    except UrlRejected as exc:
        return await _show(request, ctx, status=422, error=f"Not saved: the URL {exc}.")
    if primary is None:
        return await _show(request, ctx, status=422, error="Not saved: a primary URL is needed.")
    async with get_state(request).pool.connection() as conn:
        secret = await hooks.save_config(conn, ctx.app_id, primary_url=primary,
                                         secondary_url=secondary, event_types=events,
                                         fernet=_fernet(request))
    return await _show(request, ctx, secret=secret or "", notice="Webhooks saved.")


@action("developer")
async def rotate(request: Request, ctx: AppPage, form: FormData) -> Response:
    overlap = get_state(request).settings.webhook_secret_overlap_hours
    async with get_state(request).pool.connection() as conn:
        rotation = await hooks.rotate_secret(conn, ctx.app_id, overlap_hours=overlap,
                                             fernet=_fernet(request))
    if rotation is None:
        return await _show(request, ctx, status=404, error="Save a webhook URL first.")
    return await _show(request, ctx, secret=rotation.secret,
                       notice=f"Secret rotated; the previous one signs for {overlap:g} more "
                              "hours.")


@action("developer")
async def delete(request: Request, ctx: AppPage, form: FormData) -> Response:
    """As ``DELETE /v2.1/webhooks``: no more deliveries; events still pending dead-letter."""
    async with get_state(request).pool.connection() as conn:
        deleted = await hooks.delete_config(conn, ctx.app_id)
    if not deleted:
        return await _show(request, ctx, status=404, error="No webhook configuration to delete.")
    return await _show(request, ctx, notice="Webhooks deleted.")


@action("developer")
async def replay(request: Request, ctx: AppPage, form: FormData) -> Response:
    raw = form.get("event_id")
    event_id: str | None = None
    if isinstance(raw, str) and raw:
        try:
            event_id = str(uuid.UUID(raw))
        except ValueError:
            return await _show(request, ctx, status=404, error="No such dead letter.")
    async with get_state(request).pool.connection() as conn:
        n = await hooks.replay(conn, ctx.app_id, event_id)
    metrics.WEBHOOK_REPLAYS.inc(n)
    if event_id is not None and n == 0:
        return await _show(request, ctx, status=404, error="No such dead letter.")
    return await _show(request, ctx, notice=f"{n} delivery(ies) queued again.")


routes: list[BaseRoute] = [
    Route("/apps/{app_key}/webhooks", webhooks_page, methods=["GET"]),
    Route("/apps/{app_key}/webhooks", save, methods=["POST"]),
    Route("/apps/{app_key}/webhooks/rotate", rotate, methods=["POST"]),
    Route("/apps/{app_key}/webhooks/delete", delete, methods=["POST"]),
    Route("/apps/{app_key}/webhooks/replay", replay, methods=["POST"]),
]
