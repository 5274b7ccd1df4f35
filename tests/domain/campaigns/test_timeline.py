"""The campaign chart's query (``domain.campaigns.timeline``) on real PostgreSQL: submissions
split into equal slices from the first to the last (the last one in the last slice), failed
dispatches apart, recipients never submitted left out."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg

from domain.campaigns.timeline import Slice, timeline
from tests.workers.dlr.helpers import seed_dispatches

_ADD = """INSERT INTO campaign_recipients (campaign_id, seq, token, platform, state, dispatch_id,
    submitted_at) VALUES (%s, %s, %s, 'ios', %s, %s, to_timestamp(%s))"""


async def test_sends_are_counted_per_slice_with_the_failed_apart(
        db: psycopg.Connection[Any], aconn: psycopg.AsyncConnection[Any], make_app: Any) -> None:
    app = make_app("timeline")
    campaign = str(uuid.uuid4())
    failed = seed_dispatches(db, app.app_id, 1)[0]["dispatchId"]
    db.execute("UPDATE dispatches SET status = 'failed', reason = 'invalid_token' WHERE id = %s",
               (failed,))
    t0 = 1_800_000_000.0
    rows = [(t0, failed), (t0, None), (t0 + 1, None), (t0 + 5, None), (t0 + 9, None),
            (t0 + 10, None)]
    for seq, (at, dispatch) in enumerate(rows):
        db.execute(_ADD, (campaign, seq, f"t{seq}", "submitted", dispatch, at))
    db.execute("INSERT INTO campaign_recipients (campaign_id, seq, token, platform)"
               " VALUES (%s, 99, 'pending', 'ios')", (campaign,))
    found = await timeline(aconn, campaign, 2)
    assert found.slices == [Slice(ok=2, failed=1), Slice(ok=3, failed=0)]
    assert found.first is not None and found.first.timestamp() == t0
    assert found.last is not None and found.last.timestamp() == t0 + 10
    assert (await timeline(aconn, str(uuid.uuid4()), 2)).slices == []
