"""The release job killed in the middle of a batch and run again: every due send is released
exactly once (none lost, none twice), also with two releasers side by side."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import subprocess
import sys
import time
from typing import Any

import psycopg

from domain.automation import rules
from domain.automation.cache import RuleCache
from domain.automation.events import EventBody
from domain.automation.fire import fire
from domain.automation.model import RuleBody
from domain.automation.sending import App
from domain.devices import registry
from domain.keys import store as apps
from domain.messages.standalone import standalone_outlet
from shared.payload import Limits
from shared.settings import get_settings
from shared.tokens import PLATFORMS
from workers.automation.release import release
from workers.delivery.testing import wait_for

SENDS = 20
_RELEASER = ("import asyncio; from shared.settings import get_settings; "
             "from workers.automation.release import release; "
             "asyncio.run(release(get_settings(), batch=5))")


async def _pending_sends(app_id: int) -> None:
    rule = RuleBody.model_validate({"name": "later", "event": "cart.abandoned",
                                    "delaySeconds": 60, "defaultLanguage": "en",
                                    "templates": {"en": {"content": "Come back"}}})
    async with standalone_outlet(get_settings()) as outlet:
        async with outlet.pool.connection() as conn:
            await rules.create(conn, app_id, rule)
            await registry.register(conn, app_id, registry.Registration(
                secrets.token_hex(32), "ios", "u1"))
        events = [EventBody.model_validate({"eventId": f"e{i:03}", "name": "cart.abandoned",
                                            "userId": "u1"}) for i in range(SENDS)]
        # An hour ago: every send is due now.
        await fire(outlet, App(app_id, Limits()), events, cache=RuleCache(),
                   request_id="test", now=time.time() - 3600)


def _blocked_backends(db: psycopg.Connection[Any]) -> int:
    row = db.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                     " AND wait_event_type = 'Lock'").fetchone()
    return int(row[0]) if row else 0


async def test_a_killed_releaser_loses_none_and_releases_none_twice(
        make_app: Any, db: psycopg.Connection[Any]) -> None:
    app_id = make_app("release", apps.SCOPES, PLATFORMS).app_id
    db.execute("UPDATE automation_pending SET state = 'canceled' WHERE state = 'pending'")
    await _pending_sends(app_id)
    # Hold the app's row: the releaser's first insert of a message (its foreign key) waits,
    # inside the transaction that has taken its first batch of sends.
    with psycopg.connect(db.info.dsn) as holder:
        holder.execute("SELECT 1 FROM apps WHERE id = %s FOR UPDATE", (app_id,))
        proc = subprocess.Popen([sys.executable, "-c", _RELEASER], env=dict(os.environ))
        try:
            wait_for(lambda: _blocked_backends(db) > 0, 60, what="the releaser mid-batch")
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
        holder.rollback()
    assert db.execute("SELECT count(*) FROM automation_pending WHERE app_id = %s AND state"
                      " <> 'pending'", (app_id,)).fetchone() == (0,)
    # Restarted, twice side by side, until the killed session's locks are gone.
    deadline = time.monotonic() + 30
    while db.execute("SELECT count(*) FROM automation_pending WHERE app_id = %s AND state ="
                     " 'pending'", (app_id,)).fetchone() != (0,):
        assert time.monotonic() < deadline, "sends left pending"
        await asyncio.gather(release(get_settings(), 3), release(get_settings(), 3))
    released = db.execute(
        "SELECT p.event_id, count(m.id) FROM automation_pending p"
        " JOIN messages m ON m.external_id = p.event_id AND m.app_id = p.app_id"
        " WHERE p.app_id = %s AND p.state = 'released' GROUP BY p.event_id", (app_id,)
    ).fetchall()
    assert sorted(released) == [(f"e{i:03}", 1) for i in range(SENDS)]
    assert db.execute("SELECT count(*) FROM messages WHERE app_id = %s", (app_id,)
                      ).fetchone() == (SENDS,)
