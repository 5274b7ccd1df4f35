"""Send a test push (``/panel/apps/{app_key}/test-push``, developer and admin): one token, a
title and a text, through ``domain.messages.submit`` like any push (source ``api``, lane
``tx``); then the dispatch page, whose script shows the timeline filling in."""

from __future__ import annotations

import time

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from domain.keys.sender import app_sender
from domain.messages.submit import LimitsExceeded, NothingAccepted, Submitted, TryAgain, submit
from producer.envelope import request_id
from producer.panel.guard import action, page, see_other
from producer.panel.templates import render
from producer.panel.viewer import AppPage
from producer.state import get_state
from shared.payload import parse_push


def refusal(exc: NothingAccepted | LimitsExceeded | TryAgain) -> list[str]:
    """Why ``submit`` refused, one line per token or field."""
    if isinstance(exc, NothingAccepted):
        return [f"{r.code}: {r.message}" for r in exc.rejected]
    if isinstance(exc, LimitsExceeded):
        return [f"{e.parameter}: {e.message}" for e in exc.errors]
    return [f"Try again: {exc}"]


def _form(request: Request, ctx: AppPage, values: dict[str, str], errors: list[str]
          ) -> Response:
    return render(request, "testpush.html", ctx, {"values": values, "errors": errors},
                  status=422 if errors else 200)


@page("developer")
async def test_push_form(request: Request, ctx: AppPage) -> Response:
    return _form(request, ctx, {"token": request.query_params.get("token", ""),
                                "title": "Test push", "content": "Hello from the panel"}, [])


@action("developer")
async def send_test_push(request: Request, ctx: AppPage, form: FormData) -> Response:
    values = {name: str(form.get(name, "")).strip() for name in ("token", "title", "content")}
    state = get_state(request)
    async with state.pool.connection() as conn:
        sender = await app_sender(conn, ctx.app_id, state.settings)
    body = {"device_tokens": [values["token"]], "content": values["content"]}
    if values["title"]:
        body["title"] = values["title"]
    req, errors = parse_push(body, sender.limits, time.time())
    if req is None:
        return _form(request, ctx, values, [f"{e.parameter}: {e.message}" for e in errors])
    try:
        submitted = await submit(sender, req, outlet=state, request_id=request_id(request))
    except (NothingAccepted, LimitsExceeded, TryAgain) as exc:
        return _form(request, ctx, values, refusal(exc))
    assert isinstance(submitted, Submitted)  # no idempotency key: never a stored answer
    return see_other(ctx.url(f"dispatches/{submitted.dispatches[0].id}?done=test"))


routes: list[BaseRoute] = [
    Route("/apps/{app_key}/test-push", test_push_form, methods=["GET"]),
    Route("/apps/{app_key}/test-push", send_test_push, methods=["POST"]),
]
