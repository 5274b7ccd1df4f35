"""The Celery app is configured in workers.celery_app alone: importing the task modules (the
periodic jobs included) changes nothing, and no queue is declared that no task uses."""

from __future__ import annotations

import workers.periodic  # noqa: F401  (imported for the check: it must not touch app.conf)
from shared import queues
from workers import app
from workers.celery_app import create_app
from workers.delivery.registry import GATEWAYS


def test_importing_the_task_modules_changes_no_configuration() -> None:
    fresh = create_app().conf
    for setting in ("task_routes", "beat_schedule", "task_queues", "broker_transport_options"):
        assert app.conf[setting] == fresh[setting], setting
    assert fresh.beat_schedule["expire-idempotency-keys"]["task"] == \
        queues.TASK_EXPIRE_IDEMPOTENCY_KEYS


def test_every_declared_queue_is_one_a_task_or_the_batched_consumer_uses() -> None:
    app.loader.import_default_modules()  # the app's include: every task module
    declared = {q.name for q in app.conf.task_queues}
    routed = {route["queue"] for route in app.conf.task_routes.values()}
    assert declared == set(queues.SEND_QUEUES) | routed == set(queues.ALL_QUEUES)
    assert set(app.conf.task_routes) <= set(app.tasks)  # no route for a task that is not there


def test_every_registered_gateway_has_its_send_task() -> None:
    app.loader.import_default_modules()
    assert {f"pushflow.send.{name}" for name in GATEWAYS} <= set(app.tasks)
    assert {queues.send_task("ios"), queues.send_task("android")} <= set(app.tasks)
