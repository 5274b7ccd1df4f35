"""Celery consumer bootstep: the send queues are consumed in batches by the delivery runtime.

``celery -A workers worker -Q apns.tx,apns.bulk`` stays an ordinary Celery worker (remote control,
events, Flower, other queues through Celery's consumer), but for the send queues it names, this
step cancels Celery's per-message consumption and starts the runtime's batched consumer instead
(docs/delivery.md says why: Celery's per-task path costs ~1 ms of CPU per message).
"""

from __future__ import annotations

from typing import Any

from celery import bootsteps

from shared import queues
from shared.gc_pauses import freeze_startup_objects
from shared.settings import get_settings
from workers.delivery.events import CeleryTaskEvents, task_events_on
from workers.delivery.runtime import DeliveryRuntime
from workers.delivery.runtimes import runtime_for


class BatchConsumer(bootsteps.StartStopStep):  # type: ignore[misc]
    requires = {"celery.worker.consumer.tasks:Tasks"}

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self.runtimes: list[DeliveryRuntime] = []
        self.events: CeleryTaskEvents | None = None

    def start(self, parent: Any) -> None:
        if not get_settings().delivery_batch_consumer:
            return
        consumer = parent.task_consumer
        by_gateway: dict[str, list[str]] = {}
        for queue in consumer.queues:
            if queue.name in queues.SEND_QUEUES:
                by_gateway.setdefault(queue.name.split(".")[0], []).append(queue.name)
        options = parent.app.conf.broker_transport_options or {}
        visibility = float(options.get("visibility_timeout", 3600))
        if by_gateway and self.events is None:
            # One dispatcher per process; on while the consumer's own one sends task events
            # (asked at every event: a consumer restart replaces that dispatcher).
            self.events = CeleryTaskEvents(parent.app, parent.hostname,
                                           lambda: task_events_on(parent.event_dispatcher))
        for gateway, names in by_gateway.items():
            for name in names:
                consumer.cancel_by_queue(name)
            runtime = runtime_for(gateway, visibility)
            runtime.start_consuming(names, self.events)  # idempotent across consumer restarts
            if runtime not in self.runtimes:
                self.runtimes.append(runtime)
        if by_gateway:
            freeze_startup_objects()  # the send loops' full GC passes were their p99

    def shutdown(self, parent: Any) -> None:
        for runtime in self.runtimes:
            runtime.stop()
        self.runtimes.clear()
        if self.events is not None:
            self.events.close()  # after the runtimes: their last outcomes' events go out too
            self.events = None
