"""What the panel's dispatch, device and dashboard pages read and do: a resend is a new message
linked to the failed dispatch, a delivered webhook event can be sent again, a device's story
names the dispatch that found it dead, the dashboard counts the last day."""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest

from domain.devices.story import device_story
from domain.dispatches.dashboard import dashboard
from domain.dispatches.resend import NotResendable, resend, resend_links
from domain.messages.standalone import StandaloneOutlet
from domain.messages.submit import Submitted, submit
from domain.webhooks.redeliver import redeliver
from shared.payload import PushRequest
from shared.tokens import PLATFORMS
from tests.domain.messages import test_submit
from tests.domain.messages.test_submit import App

outlet = test_submit.outlet  # the fixture: submit's outlet without an HTTP request


async def _push(outlet: StandaloneOutlet, app_id: int, token: str, content: str = "hi"
                ) -> str:
    done = await submit(App(app_id), PushRequest([token], {"title": "T", "content": content},
                                                 external_id="ext-1"), outlet=outlet)
    assert isinstance(done, Submitted)
    return done.dispatches[0].id


def _fail(db: psycopg.Connection[Any], dispatch_id: str, reason: str) -> None:
    db.execute("UPDATE dispatches SET status = 'failed', reason = %s WHERE id = %s",
               (reason, dispatch_id))


async def test_a_resend_is_a_new_linked_message(
    outlet: StandaloneOutlet, make_app: Any, db: psycopg.Connection[Any],
    aconn: psycopg.AsyncConnection[Any],
) -> None:
    app = make_app(platforms=PLATFORMS)
    token = secrets.token_hex(32)
    first = await _push(outlet, app.app_id, token)
    with pytest.raises(NotResendable):  # still queued
        await resend(App(app.app_id), outlet, uuid.UUID(first), by="a@x", request_id="r")
    _fail(db, first, "retries_exhausted")
    with pytest.raises(NotResendable):  # not this app's
        await resend(App(make_app().app_id), outlet, uuid.UUID(first), by="a@x",
                     request_id="r")
    again = await resend(App(app.app_id), outlet, uuid.UUID(first), by="a@x", request_id="r")
    [new] = again.dispatches
    assert new.id != first and new.token == token and new.status == "queued"
    assert db.execute("SELECT content, external_id FROM messages WHERE id = %s",
                      (again.message_id,)).fetchone() == ({"title": "T", "content": "hi"},
                                                          "ext-1")
    for side in (first, new.id):
        [link] = await resend_links(aconn, app.app_id, uuid.UUID(side))
        assert (link.original_id, link.resent_id, link.resent_by) == (first, new.id, "a@x")
    assert await resend_links(aconn, make_app().app_id, uuid.UUID(first)) == []


async def test_a_device_story_names_the_dispatch_that_found_it_dead(
    outlet: StandaloneOutlet, make_app: Any, db: psycopg.Connection[Any],
    aconn: psycopg.AsyncConnection[Any],
) -> None:
    app = make_app(platforms=PLATFORMS)
    token = secrets.token_hex(32)
    db.execute("INSERT INTO devices (app_id, token, platform, user_id, language, tags,"
               " registered_at) VALUES (%s, %s, 'ios', 'u-1', 'fr', '{vip}', now())",
               (app.app_id, token))
    ok = await _push(outlet, app.app_id, token)
    db.execute("UPDATE dispatches SET status = 'sent' WHERE id = %s", (ok,))
    story = await device_story(aconn, app.app_id, token)
    assert story.device is not None and story.device.valid
    assert (story.device.user_id, story.device.language, story.device.tags) == ("u-1", "fr",
                                                                               ["vip"])
    assert story.last_success is not None and story.last_success.id == ok
    assert story.invalidated_by is None
    dead = await _push(outlet, app.app_id, token)
    _fail(db, dead, "unregistered")
    db.execute("UPDATE devices SET invalidated_at = now(), invalid_reason = 'unregistered'"
               " WHERE app_id = %s AND token = %s", (app.app_id, token))
    story = await device_story(aconn, app.app_id, token)
    assert story.device is not None and not story.device.valid
    assert story.invalidated_by is not None and story.invalidated_by.id == dead
    assert story.last_success is not None and story.last_success.id == ok
    other = await device_story(aconn, make_app().app_id, token)
    assert (other.device, other.last_success, other.invalidated_by) == (None, None, None)


async def test_the_dashboard_counts_the_last_day(
    outlet: StandaloneOutlet, make_app: Any, db: psycopg.Connection[Any],
    aconn: psycopg.AsyncConnection[Any],
) -> None:
    app = make_app(platforms=PLATFORMS)
    sent, failed, old = [await _push(outlet, app.app_id, secrets.token_hex(32))
                         for _ in range(3)]
    db.execute("UPDATE dispatches SET status = 'sent' WHERE id = %s", (sent,))
    db.execute("INSERT INTO dispatch_events (dispatch_id, status, at) SELECT id, 'sent',"
               " created_at + interval '250 ms' FROM dispatches WHERE id = %s", (sent,))
    _fail(db, failed, "unregistered")
    db.execute("UPDATE dispatches SET created_at = now() - interval '2 days' WHERE id = %s",
               (old,))
    db.execute("UPDATE apps SET auth_error = 'InvalidProviderToken', auth_error_at = now()"
               " WHERE id = %s", (app.app_id,))
    board = await dashboard(aconn, app.app_id, datetime.now(UTC))
    assert board.by_status == {"sent": {"apns": 1}, "failed": {"apns": 1}}
    assert sum(h.ok + h.failed for h in board.per_hour) == 2
    assert board.top_reasons == [("unregistered", 1)]
    assert board.accept_to_gateway_ms is not None
    assert board.accept_to_gateway_ms[0] == pytest.approx(250, abs=1)
    assert board.auth_error == "InvalidProviderToken"
    assert {c.provider for c in board.credentials} == {"apns", "fcm"}


async def test_a_delivered_webhook_event_can_be_sent_again(
    make_app: Any, db: psycopg.Connection[Any], aconn: psycopg.AsyncConnection[Any]
) -> None:
    app = make_app()
    states = {}
    for state in ("delivered", "dead", "pending"):
        row = db.execute("INSERT INTO webhook_events (id, app_id, type, payload, state,"
                         " delivered_at) VALUES (gen_random_uuid(), %s, 'push.sent', '{}', %s,"
                         " now()) RETURNING id::text", (app.app_id, state)).fetchone()
        assert row is not None
        states[state] = row[0]
    assert not await redeliver(aconn, make_app().app_id, states["delivered"])  # not its own
    assert [await redeliver(aconn, app.app_id, states[s]) for s in states] == [True, True,
                                                                               False]
    assert db.execute("SELECT count(*) FROM webhook_events WHERE app_id = %s AND state ="
                      " 'pending' AND delivered_at IS NULL AND dead_at IS NULL",
                      (app.app_id,)).fetchone() == (2,)
