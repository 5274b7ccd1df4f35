"""Celery consumer bootstep: the DLR lists a worker was started with (``-Q dlr``) are consumed by
``workers.dlr.consumer`` (a reliable take) instead of Celery's per-message consumer, whose pop
is not atomic with its record of the unacknowledged message (docs/delivery.md, "Redis
restarts"). With ``PUSHFLOW_DELIVERY_BATCH_CONSUMER=false`` Celery consumes them as usual
(``workers.dlr.tasks``)."""

from __future__ import annotations

from typing import Any

from celery import bootsteps

from shared.settings import get_settings
from workers.dlr.consumer import DlrConsumer, is_dlr_queue


class DlrBatchConsumer(bootsteps.StartStopStep):  # type: ignore[misc]
    requires = {"celery.worker.consumer.tasks:Tasks"}

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self.consumer: DlrConsumer | None = None

    def start(self, parent: Any) -> None:
        settings = get_settings()
        if not settings.delivery_batch_consumer:
            return
        names = [q.name for q in parent.task_consumer.queues if is_dlr_queue(q.name)]
        for name in names:  # again after each consumer restart: Celery re-adds its queues
            parent.task_consumer.cancel_by_queue(name)
        if names and self.consumer is None:
            recorders = int(getattr(parent.pool, "limit", None) or 1)  # solo: 1; prefork: -c
            self.consumer = DlrConsumer(settings, parent.app, names, recorders).start()

    def shutdown(self, parent: Any) -> None:
        if self.consumer is not None:
            self.consumer.stop()
            self.consumer = None
