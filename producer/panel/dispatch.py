"""A dispatch's whole story (``/panel/apps/{app_key}/dispatches/{id}``, every role): the
timeline with the time spent in each stage, the payload as sent to the gateway, the gateway's
answers, the webhook attempts, the resends; its JSON (``.../timeline.json``) for the page's
script while the story is being written. Actions: send a webhook event again (developer), resend
a failed dispatch as a new, linked one (admin)."""

from __future__ import annotations

import uuid

import orjson
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from domain.dispatches.resend import NotResendable, resend, resend_links
from domain.dispatches.story import DispatchTimeline, dispatch_timeline
from domain.keys.sender import app_sender
from domain.messages.submit import LimitsExceeded, NothingAccepted, TryAgain
from domain.webhooks.redeliver import redeliver
from producer.envelope import request_id
from producer.panel.guard import PanelError, action, page, see_other
from producer.panel.templates import render
from producer.panel.testpush import refusal
from producer.panel.timeline_view import settled, stage_rows, timeline_json
from producer.panel.viewer import AppPage
from producer.state import get_state

NOT_FOUND = "There is no such dispatch in this app."


def _dispatch_id(request: Request) -> uuid.UUID:
    try:
        return uuid.UUID(str(request.path_params["dispatch_id"]))
    except ValueError:
        raise PanelError(404, NOT_FOUND) from None


async def _timeline(request: Request, ctx: AppPage) -> DispatchTimeline:
    async with get_state(request).pool.connection() as conn:
        found = await dispatch_timeline(conn, ctx.app_id, _dispatch_id(request))
    if found is None:
        raise PanelError(404, NOT_FOUND)
    return found


@page("support")
async def dispatch_page(request: Request, ctx: AppPage) -> Response:
    timeline = await _timeline(request, ctx)
    async with get_state(request).pool.connection() as conn:
        links = await resend_links(conn, ctx.app_id, _dispatch_id(request))
    d = timeline.dispatch
    return render(request, "dispatch.html", ctx, {
        "t": timeline, "d": d, "stages": stage_rows(timeline), "settled": settled(timeline),
        "payload": timeline.payload.body.decode(errors="replace"),
        "answers": [(a, orjson.dumps(a.response, option=orjson.OPT_INDENT_2).decode())
                    for a in d.attempt_log],
        "links": links, "notice": request.query_params.get("done", "")})


@page("support")
async def dispatch_json(request: Request, ctx: AppPage) -> Response:
    return JSONResponse(timeline_json(await _timeline(request, ctx)))


@action("developer")
async def replay_webhook(request: Request, ctx: AppPage, form: FormData) -> Response:
    dispatch_id = _dispatch_id(request)
    event_id = str(form.get("event_id", ""))
    timeline = await _timeline(request, ctx)
    if event_id not in {w.id for w in timeline.dispatch.webhooks}:
        raise PanelError(404, "This dispatch has no such webhook event.")
    async with get_state(request).pool.connection() as conn:
        again = await redeliver(conn, ctx.app_id, event_id)
    if not again:
        raise PanelError(409, "This webhook event is still being delivered: nothing to replay.")
    return see_other(ctx.url(f"dispatches/{dispatch_id}?done=replayed"))


@action("admin")
async def resend_dispatch(request: Request, ctx: AppPage, form: FormData) -> Response:
    state = get_state(request)
    async with state.pool.connection() as conn:
        sender = await app_sender(conn, ctx.app_id, state.settings)
    try:
        submitted = await resend(sender, state, _dispatch_id(request), by=ctx.email,
                                 request_id=request_id(request))
    except NotResendable as exc:
        raise PanelError(409, f"Not resent: {exc}.") from None
    except (NothingAccepted, LimitsExceeded, TryAgain) as exc:
        raise PanelError(409, "Not resent: " + "; ".join(refusal(exc))) from None
    new_id = submitted.dispatches[0].id
    return see_other(ctx.url(f"dispatches/{new_id}?done=resent"))


routes: list[BaseRoute] = [
    Route("/apps/{app_key}/dispatches/{dispatch_id}", dispatch_page, methods=["GET"]),
    Route("/apps/{app_key}/dispatches/{dispatch_id}/timeline.json", dispatch_json,
          methods=["GET"]),
    Route("/apps/{app_key}/dispatches/{dispatch_id}/replay-webhook", replay_webhook,
          methods=["POST"]),
    Route("/apps/{app_key}/dispatches/{dispatch_id}/resend", resend_dispatch,
          methods=["POST"]),
]
