"""When the send workers emit task events: exactly when Celery's own dispatcher of the worker
sends task events (``-E``, or switched by remote control). Real Celery dispatchers on an
in-memory broker; what reaches Flower is tested end to end in test_flower.py."""

from __future__ import annotations

from typing import Any

from celery import Celery

from workers.delivery.engine import Work
from workers.delivery.events import CeleryTaskEvents, task_events_on
from workers.delivery.testing import apns_token, make_job

APP = Celery("events-test", broker="memory://")


def worker_dispatcher(task_events: bool) -> Any:
    """The dispatcher Celery's consumer builds (celery.worker.consumer.events.Events)."""
    return APP.events.Dispatcher(APP.connection_for_write(), hostname="w@h", enabled=True,
                                 groups=None if task_events else ["worker"])


def test_task_events_follow_the_workers_own_dispatcher() -> None:
    with_e = worker_dispatcher(task_events=True)
    without = worker_dispatcher(task_events=False)
    assert task_events_on(with_e) and not task_events_on(without)
    without.groups.add("task")  # what `celery control enable_events` does
    assert task_events_on(without)
    without.groups.discard("task")  # disable_events
    assert not task_events_on(without)
    with_e.enabled = False
    assert not task_events_on(with_e) and not task_events_on(None)


def test_only_sends_of_the_batched_consumer_are_announced() -> None:
    events = CeleryTaskEvents(APP, "w@h", lambda: True, flush_seconds=3600)
    try:
        job = make_job(1, "ios", apns_token())
        per_task = Work(job, "apns.tx", "pushflow.send.apns")  # Celery announces these itself
        batched = Work(job, "apns.tx", "pushflow.send.apns", "apns.tx|1",
                       task_id=job["dispatchId"])
        for w in (per_task, batched):
            events.received(w)
            events.started(w)
        buffered = events._dispatcher._group_buffer["task"]
        assert [(e["type"], e["uuid"]) for e in buffered] == [
            ("task-received", job["dispatchId"]), ("task-started", job["dispatchId"])]
        assert buffered[0]["name"] == "pushflow.send.apns" and job["token"] not in str(buffered)
    finally:
        events.close()


def test_nothing_is_buffered_while_task_events_are_off() -> None:
    on = False
    events = CeleryTaskEvents(APP, "w@h", lambda: on, flush_seconds=3600)
    try:
        job = make_job(1, "android", "t" * 40)
        w = Work(job, "fcm.tx", "pushflow.send.fcm", "fcm.tx|1", task_id=job["dispatchId"])
        events.received(w)
        assert not events._dispatcher._group_buffer["task"]
        on = True
        events.received(w)
        assert len(events._dispatcher._group_buffer["task"]) == 1
    finally:
        events.close()
