"""The events page (``/panel/apps/{app_key}/events``, every role): the stored events, newest
first, 50 a page with a keyset "older" link, filtered by name, userId or eventId (a GET query
string, shareable), each with what it caused as it was answered: the rules it matched, the
messages created (links to their dispatches' pages) or scheduled, or why a rule did not fire."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from domain.automation import events as stored
from producer.panel.guard import page
from producer.panel.templates import render
from producer.panel.viewer import AppPage
from producer.state import get_state

PAGE_ROWS = 50
SHOWN_DISPATCHES = 5  # per message; the rest through its link to the logs
FIELDS = ("name", "user", "event", "before_at", "before_id")
MAX_TEXT = 256


def _before(values: dict[str, str], errors: list[str]) -> tuple[datetime, str] | None:
    if not values["before_at"]:
        return None
    try:
        return datetime.fromisoformat(values["before_at"]), values["before_id"]
    except ValueError:
        errors.append("'before_at' is not a page of this list: start again from page 1")
        return None


@page("support")
async def events_page(request: Request, ctx: AppPage) -> Response:
    values = {n: request.query_params.get(n, "").strip() for n in FIELDS}
    errors = [f"'{n}' is longer than {MAX_TEXT} characters" for n, v in values.items()
              if len(v) > MAX_TEXT]
    if errors:
        values = dict.fromkeys(FIELDS, "")
    before = _before(values, errors)
    wanted = stored.EventFilter(name=values["name"] or None, user_id=values["user"] or None,
                                event_id=values["event"] or None)
    found: list[stored.StoredEvent] = []
    dispatches: dict[str, list[str]] = {}
    if not errors:
        async with get_state(request).pool.connection() as conn:
            found = await stored.page(conn, ctx.app_id, wanted, before=before,
                                      limit=PAGE_ROWS)
            dispatches = await stored.dispatches_of(conn, ctx.app_id,
                                                    stored.caused_messages(found))
    filters = {k: values[k] for k in ("name", "user", "event") if values[k]}
    older = None
    if len(found) == PAGE_ROWS:
        last = found[-1]
        older = ctx.url("events") + "?" + urlencode({
            **filters, "before_at": last.received_at.isoformat(), "before_id": last.event_id})
    return render(request, "events.html", ctx, {
        "values": values, "errors": errors, "events": found, "older_url": older,
        "dispatches": dispatches, "shown_dispatches": SHOWN_DISPATCHES,
        "first_url": ctx.url("events") + ("?" + urlencode(filters) if filters else "")
        if before else None}, status=422 if errors else 200)


routes: list[BaseRoute] = [Route("/apps/{app_key}/events", events_page, methods=["GET"])]
