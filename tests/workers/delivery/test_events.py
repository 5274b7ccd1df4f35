"""When the send workers emit task events: exactly when Celery's own dispatcher of the worker
sends task events (``-E``, or switched by remote control); and what a Redis restart does to
them. Real Celery dispatchers (in-memory broker, or a private redis-server); what reaches Flower
is tested end to end in test_flower.py."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import orjson
import redis
from celery import Celery

from tests.services import free_port, redis_server
from workers.delivery.engine import Work
from workers.delivery.events import CeleryTaskEvents, task_events_on
from workers.delivery.testing import apns_token, make_job, wait_for

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


def subscribed(url: str) -> Any:
    """A subscriber to Celery's event exchange (a fanout: Redis PUBLISH)."""
    pubsub = redis.Redis.from_url(url).pubsub(ignore_subscribe_messages=True)
    pubsub.psubscribe("*celeryev*")
    return pubsub


def test_events_refused_while_redis_is_down_go_out_once_it_is_back(tmp_path: Path) -> None:
    port = free_port()

    def received(events: CeleryTaskEvents) -> str:
        job = make_job(1, "ios", apns_token())
        events.received(Work(job, "apns.tx", "pushflow.send.apns", "apns.tx|1",
                             task_id=job["dispatchId"]))
        return job["dispatchId"]

    def published(pubsub: Any, n: int) -> set[str]:
        """The task ids of the events in the next ``n`` task.multi messages."""
        ids: set[str] = set()
        for _ in range(n):
            message = wait_for(lambda: pubsub.get_message(timeout=0.1), 10,
                               what="an events message")
            assert message is not None
            envelope = orjson.loads(message["data"])
            ids |= {e["uuid"] for e in orjson.loads(base64.b64decode(envelope["body"]))}
        return ids

    with redis_server(tmp_path, port) as url:
        app = Celery("events-redis", broker=url)
        events = CeleryTaskEvents(app, "w@h", lambda: True, flush_seconds=3600)
        listener = subscribed(url)
        first = received(events)
        events.flush()
        assert published(listener, 1) == {first}
    try:
        refused = received(events)
        events.flush()  # redis is down: kept, no exception
        with redis_server(tmp_path, port):
            listener = subscribed(url)
            later = received(events)
            events.flush()  # the refused batch again, then the new one
            events.flush()
            assert published(listener, 2) == {refused, later}
    finally:
        events.close()
