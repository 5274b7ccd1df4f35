"""Search and timeline as typed rows: lane, source and the rule or campaign behind a push."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg

from domain.dispatches.search import DispatchFilter, search
from domain.dispatches.timeline import message_story
from shared.ids import new_id


def _push(db: psycopg.Connection[Any], app_id: int, source: str, ref: str | None) -> str:
    message_id, dispatch_id = new_id(), new_id()
    db.execute("INSERT INTO messages (id, app_id, content, source, source_ref, lane)"
               " VALUES (%s, %s, '{\"content\": \"c\"}', %s, %s, 'bulk')",
               (message_id, app_id, source, ref))
    db.execute("INSERT INTO dispatches (id, message_id, app_id, device_token, platform, status,"
               " source, source_ref, lane) VALUES (%s, %s, %s, 't', 'ios', 'queued', %s, %s,"
               " 'bulk')", (dispatch_id, message_id, app_id, source, ref))
    db.execute("INSERT INTO dispatch_events (dispatch_id, status) VALUES (%s, 'queued')",
               (dispatch_id,))
    return message_id


async def test_search_by_source_and_the_story_of_a_message(
    make_app: Any, db: psycopg.Connection[Any], aconn: psycopg.AsyncConnection[Any]
) -> None:
    app, other = make_app(), make_app()
    rule = _push(db, app.app_id, "automation", "rule-1")
    campaign = _push(db, app.app_id, "campaign", "cmp-1")
    _push(db, other.app_id, "campaign", "cmp-1")  # another app's: never found

    async def found(**criteria: Any) -> list[str]:
        rows = await search(aconn, app.app_id, DispatchFilter(**criteria), offset=0, limit=10)
        return [r.message_id for r in rows]

    assert await found(source="campaign") == [campaign]
    assert await found(source_ref="rule-1") == [rule]
    assert await found() == [campaign, rule]  # newest first
    story = await message_story(aconn, app.app_id, uuid.UUID(campaign))
    assert story is not None and (story.source, story.source_ref) == ("campaign", "cmp-1")
    [dispatch] = story.dispatches
    assert dispatch.lane == "bulk" and [e.status for e in dispatch.history] == ["queued"]
    assert await message_story(aconn, other.app_id, uuid.UUID(campaign)) is None
