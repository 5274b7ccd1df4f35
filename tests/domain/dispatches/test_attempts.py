"""Gateway attempts recorded as the DLR records them (workers/dlr/recording.py: the statements of
domain/dispatches/record.py and retried.py) and read back by the timeline: a retried attempt
while the dispatch is queued, the final one on its status row, replays and late reports writing
nothing twice. Real PostgreSQL."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from domain.dispatches.record import BadOutcome, outcome_from_result
from domain.dispatches.timeline import message_story
from tests.workers.dlr.helpers import dispatch_row, history, result, seed_dispatches
from workers.dlr.recording import Recorder, record_results

WORKER = "apns-host-1-42"


@pytest.fixture()
def recorder() -> Iterator[Recorder]:
    """The DLR's recorder, on the session's database."""
    made = Recorder()
    yield made
    made.drop_connection()


def record(recorder: Recorder, *results: dict[str, Any]) -> int:
    """Record one batch as the DLR does; how many dispatches it moved forward."""
    return record_results(recorder, list(results))


def retried(base: dict[str, Any], attempt: int, at: float, **extra: Any) -> dict[str, Any]:
    """What the send worker reports for an attempt it re-queued (workers/delivery/engine.py)."""
    return result(base, "queued", at, attempts=attempt, worker=WORKER, takenAt=at - 0.2,
                  latencyMs=41.5, retryAt=at + 3.0,
                  gatewayResponse={"status": 503, "reason": "ServiceUnavailable"}, **extra)


def attempt_rows(db: psycopg.Connection[Any], dispatch_id: str) -> list[tuple[Any, ...]]:
    return db.execute(
        "SELECT status, attempt, worker, latency_ms, retry_at IS NOT NULL, taken_at IS NOT NULL"
        " FROM dispatch_events WHERE dispatch_id = %s AND attempt IS NOT NULL ORDER BY id",
        (dispatch_id,)).fetchall()


async def test_a_retried_attempt_shows_while_queued_then_the_sent_one(
        make_app: Any, db: psycopg.Connection[Any], aconn: psycopg.AsyncConnection[Any],
        recorder: Recorder) -> None:
    app = make_app()
    [base] = seed_dispatches(db, app.app_id)
    did = base["dispatchId"]
    t0 = time.time()

    assert record(recorder, retried(base, 1, t0)) == 0  # nothing moved forward...
    row = dispatch_row(db, did)
    assert (row["status"], row["attempts"]) == ("queued", 1)  # ...but the attempt counts
    assert row["gateway_response"] == {"status": 503, "reason": "ServiceUnavailable"}
    assert attempt_rows(db, did) == [("queued", 1, WORKER, 41.5, True, True)]

    story = await message_story(aconn, app.app_id, uuid.UUID(base["messageId"]))
    assert story is not None
    [attempt] = story.dispatches[0].attempt_log
    assert (attempt.number, attempt.outcome, attempt.gateway_status, attempt.gateway_reason,
            attempt.worker) == (1, "retried", 503, "ServiceUnavailable", WORKER)
    assert attempt.gateway_id == did  # the apns-id every attempt carries
    assert attempt.retry_at is not None and attempt.retry_at > attempt.answered_at
    assert attempt.latency_ms == 41.5
    assert (attempt.answered_at - attempt.started_at).total_seconds() == pytest.approx(0.0415)

    assert record(recorder, retried(base, 1, t0)) == 0  # the batch replayed: nothing twice
    assert len(attempt_rows(db, did)) == 1

    sent = result(base, "sent", t0 + 3.5, attempts=2, worker=WORKER, takenAt=t0 + 3.1,
                  latencyMs=7.25, gatewayId="apns-7", gatewayResponse={"status": 200})
    assert record(recorder, sent) == 1
    assert record(recorder, retried(base, 1, t0)) == 0  # a late copy of the retry: nothing
    assert attempt_rows(db, did) == [("queued", 1, WORKER, 41.5, True, True),
                                     ("sent", 2, WORKER, 7.25, False, True)]
    assert history(db, did) == [("queued", None), ("sent", None)]  # the retried attempt, sent
    assert dispatch_row(db, did)["attempts"] == 2

    story = await message_story(aconn, app.app_id, uuid.UUID(base["messageId"]))
    assert story is not None
    dispatch = story.dispatches[0]
    assert [(a.number, a.outcome, a.gateway_status) for a in dispatch.attempt_log] == [
        (1, "retried", 503), (2, "sent", 200)]
    assert dispatch.attempt_log[1].gateway_id == "apns-7"
    assert [e.status for e in dispatch.history] == ["queued", "sent"]


def test_a_retry_and_the_final_outcome_in_one_batch(make_app: Any, db: psycopg.Connection[Any],
                                                    recorder: Recorder) -> None:
    app = make_app()
    [base] = seed_dispatches(db, app.app_id)
    did, t0 = base["dispatchId"], time.time()
    failed = result(base, "failed", t0 + 1, attempts=2, reason="retries_exhausted",
                    worker=WORKER, takenAt=t0 + 0.9, latencyMs=3.0,
                    gatewayResponse={"status": 500, "reason": "InternalServerError"})
    assert record(recorder, retried(base, 1, t0), failed) == 1
    assert [r[:2] for r in attempt_rows(db, did)] == [("queued", 1), ("failed", 2)]
    row = dispatch_row(db, did)
    assert (row["status"], row["reason"], row["attempts"]) == ("failed", "retries_exhausted", 2)


def test_outcomes_without_a_gateway_request_are_no_attempt(make_app: Any,
                                                           db: psycopg.Connection[Any],
                                                           recorder: Recorder) -> None:
    """An expired push (no request made) and a report of an older worker (no attempt facts)
    record their status, not an attempt."""
    app = make_app()
    expired, old = seed_dispatches(db, app.app_id, 2)
    record(recorder, result(expired, "failed", reason="expired", worker=WORKER, latencyMs=None),
           result(old, "sent", gatewayId="apns-1"))
    assert attempt_rows(db, expired["dispatchId"]) == []
    assert attempt_rows(db, old["dispatchId"]) == []
    assert dispatch_row(db, expired["dispatchId"])["status"] == "failed"


def test_another_apps_retry_report_is_not_recorded(make_app: Any, db: psycopg.Connection[Any],
                                                   recorder: Recorder) -> None:
    app, other = make_app(), make_app()
    [base] = seed_dispatches(db, app.app_id)
    record(recorder, retried({**base, "appId": other.app_id}, 1, time.time()))
    assert attempt_rows(db, base["dispatchId"]) == []
    assert dispatch_row(db, base["dispatchId"])["attempts"] == 0


@pytest.mark.parametrize("bad", [{"retryAt": None}, {"retryAt": float("nan")},
                                 {"retryAt": "soon"}, {"attempts": None}])
def test_a_retry_report_without_its_next_time_is_refused(bad: dict[str, Any]) -> None:
    report = {"dispatchId": str(uuid.uuid4()), "appId": 1, "status": "queued",
              "at": time.time(), "attempts": 1, "retryAt": time.time() + 1, **bad}
    with pytest.raises(BadOutcome):
        outcome_from_result(report)
