"""The one Celery app, configured in one place (queues, routes, task semantics and the beat
schedule: no other module changes ``app.conf``).

Task semantics (Warehouse style, explicit): send and DLR tasks are ``acks_late`` and
``reject_on_worker_lost`` so a task whose worker dies is redelivered, never dropped; retries
go back through the broker with a countdown (no in-process sleeping); results are not stored
(``ignore_result``) because outcomes travel as tasks on the ``dlr`` queue to PostgreSQL.
"""

from __future__ import annotations

from celery import Celery
from kombu.entity import Queue

from shared import queues
from shared.settings import get_settings

VISIBILITY_TIMEOUT_SECONDS = 900
EXPIRE_IDEMPOTENCY_KEYS_EVERY_SECONDS = 600.0
# Delayed and quiet-hour automation sends are released within this of their time.
RELEASE_AUTOMATION_EVERY_SECONDS = 5.0


def create_app() -> Celery:
    settings = get_settings()
    app = Celery(
        "pushflow", broker=settings.redis_url,
        # workers.observability: JSON logs, request ids and /metrics in every worker process;
        # workers.periodic, workers.automation.release: the beat jobs (run on the dlr queue).
        include=["workers.dlr.tasks", "workers.delivery.tasks", "workers.observability",
                 "workers.periodic", "workers.automation.release"],
    )
    app.conf.update(
        task_queues=[
            Queue(name, routing_key=name)  # type: ignore[no-untyped-call]
            for name in queues.ALL_QUEUES
        ],
        task_default_queue=queues.DLR,
        task_routes={
            queues.TASK_RECORD_RESULT: {"queue": queues.DLR},
            queues.TASK_EXPIRE_IDEMPOTENCY_KEYS: {"queue": queues.DLR},
            queues.TASK_RELEASE_AUTOMATION: {"queue": queues.DLR},
        },
        # Run by ``celery -A workers beat`` (or ``-A workers.periodic``, the same app).
        beat_schedule={
            "expire-idempotency-keys": {
                "task": queues.TASK_EXPIRE_IDEMPOTENCY_KEYS,
                "schedule": EXPIRE_IDEMPOTENCY_KEYS_EVERY_SECONDS,
                "options": {"queue": queues.DLR},
            },
            "release-automation-sends": {
                "task": queues.TASK_RELEASE_AUTOMATION,
                "schedule": RELEASE_AUTOMATION_EVERY_SECONDS,
                # A run missed (no worker) is not worth queueing up: the next one catches up.
                "options": {"queue": queues.DLR, "expires": RELEASE_AUTOMATION_EVERY_SECONDS},
            },
        },
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_acks_on_failure_or_timeout=True,
        worker_prefetch_multiplier=4,
        # Task events (what Flower shows) are turned on per worker with ``-E`` (``pushflow
        # worker --events``): ``pushflow up`` and deploy/ start every worker so; the send
        # workers emit them for their batched sends too (workers/delivery/events.py).
        worker_send_task_events=False,
        task_send_sent_event=False,
        broker_connection_retry_on_startup=True,
        # Countdowns longer than this would be redelivered while still waiting:
        # delivery retries (at most retry_max_seconds, 10 min, capped at 90 % of it) and DLR
        # retries (1 min) stay under it, and long waits are kept in PostgreSQL instead. It is
        # also how long the batches of a DLR recorder killed as a whole wait before another
        # takes them (kombu restores unacknowledged messages older than this): 15 min, not
        # kombu's default hour.
        broker_transport_options={"visibility_timeout": VISIBILITY_TIMEOUT_SECONDS},
        worker_hijack_root_logger=False,
        timezone="UTC",
    )
    # The send queues are consumed in batches by the delivery runtime (docs/delivery.md).
    from workers.delivery.bootstep import BatchConsumer
    from workers.dlr.bootstep import DlrBatchConsumer

    app.steps["consumer"].add(BatchConsumer)
    app.steps["consumer"].add(DlrBatchConsumer)  # the dlr lists, with a reliable take
    return app
