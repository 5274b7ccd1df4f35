"""Observability of a Celery worker process: JSON logs, the job's request id, and a
``/metrics`` (+ ``/healthz``, ``/readyz``) endpoint on ``PUSHFLOW_METRICS_PORT``.

Wired by Celery signals, so any worker started on the project's app gets it once this module is
imported: list it in the app's ``include`` (``workers.celery_app``) or pass
``--include workers.observability`` to ``celery worker``. A process that consumes queues its own
way calls ``start_endpoint`` and ``bind_job`` directly.

With a prefork pool, metrics are incremented in child processes: set
``PROMETHEUS_MULTIPROC_DIR`` (one empty folder per worker process tree, created before the
process starts: ``pushflow up`` does it, containers use an emptyDir) and the endpoint merges them.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from contextvars import Token
from typing import Any

from celery import signals
from prometheus_client import multiprocess

from shared import queues
from shared.observability import metrics
from shared.observability.config import observability_settings
from shared.observability.context import bind_request_id, reset_request_id
from shared.observability.exporter import (
    MULTIPROC_ENV,
    MetricsServer,
    QueueDepthCollector,
    scrape_registry,
)
from shared.observability.health import Check, check_postgres_sync, check_redis_sync
from shared.observability.logs import configure_logging
from shared.settings import get_settings

log = logging.getLogger(__name__)

# Per-process state hangs off Celery's own objects (the WorkController, the task's request
# context), so this module keeps no mutable globals.
_SERVER_ATTR = "pushflow_metrics_server"
_TOKEN_ATTR = "pushflow_request_id_token"


def process_type_for(queue_names: Iterable[str]) -> str:
    """``worker-fcm``, ``worker-apns``, ``dlr`` or ``worker`` for a mix (the webhook sender is
    not a Celery worker: it names itself)."""
    gateways = {name.split(".", 1)[0] for name in queue_names}
    if gateways == {queues.DLR}:
        return "dlr"
    if len(gateways) == 1 and gateways <= {"fcm", "apns"}:
        return f"worker-{gateways.pop()}"
    return "worker"


def _readiness(needs_postgres: bool) -> list[Check]:
    settings = get_settings()
    checks = [check_redis_sync(settings.redis_url)]
    if needs_postgres:
        checks.extend(check_postgres_sync(settings.database_url))
    return checks


def start_endpoint(process_type: str, *, needs_postgres: bool = False) -> MetricsServer | None:
    """Serve this process's metrics on ``PUSHFLOW_METRICS_PORT`` (no-op when it is 0)."""
    config = observability_settings()
    if not config.metrics_port:
        return None
    metrics.initialise_known_series()
    registry = scrape_registry([QueueDepthCollector(get_settings().redis_url)])
    try:
        server = MetricsServer(
            config.metrics_host, config.metrics_port, registry,
            readiness=lambda: _readiness(needs_postgres),
        ).start()
    except OSError as exc:  # port taken: the worker still works, only unobserved
        log.error("metrics endpoint not started on %s:%d: %s", config.metrics_host,
                  config.metrics_port, exc)
        return None
    log.info("metrics endpoint on %s:%d", config.metrics_host, server.port,
             extra={"processType": process_type})
    return server


def request_id_of(args: Sequence[Any] | None, kwargs: Mapping[str, Any] | None) -> str | None:
    """The ``requestId`` of the job a task was called with (SendJob, SendResult, webhook), or
    of a batch of them when they all share one (the DLR recorder takes lists of results)."""
    for value in [*(args or ()), *((kwargs or {}).values())]:
        if isinstance(value, Mapping) and isinstance(value.get("requestId"), str):
            return str(value["requestId"])
        if isinstance(value, list | tuple) and value:
            ids = {item.get("requestId") for item in value if isinstance(item, Mapping)}
            if len(ids) == 1 and isinstance(found := ids.pop(), str):
                return found
    return None


def bind_job(args: Sequence[Any] | None, kwargs: Mapping[str, Any] | None) -> Token[str | None]:
    """Bind the job's request id for the logs of this context; undo with ``unbind_job``."""
    return bind_request_id(request_id_of(args, kwargs))


def unbind_job(token: Token[str | None] | None) -> None:
    if token is not None:
        # ValueError: bound in another context (thread pool); nothing to undo in this one.
        with contextlib.suppress(ValueError):
            reset_request_id(token)


# -- Celery signal receivers -------------------------------------------------------------------


@signals.setup_logging.connect  # type: ignore[untyped-decorator]
def _setup_logging(**_: Any) -> None:
    # Connecting this signal stops Celery from configuring logging itself.
    configure_logging(observability_settings().process_type or "worker")


@signals.worker_init.connect  # type: ignore[untyped-decorator]
def _on_worker_init(sender: Any = None, **_: Any) -> None:
    consumed = [q.name for q in sender.app.amqp.queues.consume_from.values()] if sender else []
    process_type = observability_settings().process_type or process_type_for(consumed)
    server = start_endpoint(process_type, needs_postgres=process_type in {"dlr", "webhooks"})
    if sender is not None:
        setattr(sender, _SERVER_ATTR, server)


@signals.celeryd_after_setup.connect  # type: ignore[untyped-decorator]
def _name_log_process(sender: Any = None, instance: Any = None, **_: Any) -> None:
    """Logging was set up before the queues were known: without ``PUSHFLOW_PROCESS_TYPE``,
    name the process in log lines by what it consumes (``worker-apns``), as its metrics do."""
    if instance is not None and not observability_settings().process_type:
        consumed = [q.name for q in instance.app.amqp.queues.consume_from.values()]
        configure_logging(process_type_for(consumed))


@signals.worker_shutdown.connect  # type: ignore[untyped-decorator]
def _on_worker_shutdown(sender: Any = None, **_: Any) -> None:
    server = getattr(sender, _SERVER_ATTR, None)
    if server is not None:
        server.stop()


@signals.worker_process_shutdown.connect  # type: ignore[untyped-decorator]
def _on_child_exit(pid: int | None = None, **_: Any) -> None:
    if os.environ.get(MULTIPROC_ENV):
        multiprocess.mark_process_dead(pid or os.getpid())  # type: ignore[no-untyped-call]


@signals.task_prerun.connect  # type: ignore[untyped-decorator]
def _on_task_prerun(task: Any = None, args: Any = None, kwargs: Any = None, **_: Any) -> None:
    if task is not None:
        setattr(task.request, _TOKEN_ATTR, bind_job(args, kwargs))


@signals.task_postrun.connect  # type: ignore[untyped-decorator]
def _on_task_postrun(task: Any = None, args: Any = None, state: str | None = None,
                     **_: Any) -> None:
    if task is None:
        return
    unbind_job(getattr(task.request, _TOKEN_ATTR, None))
    if task.name == queues.TASK_RECORD_RESULT and state == "SUCCESS":
        count_recorded_results(args)


def count_recorded_results(args: Sequence[Any] | None) -> None:
    """``pushflow_dlr_results_total`` and ``pushflow_dlr_batch_size`` for one committed DLR
    batch (the task's one argument is the list of SendResults), counted from outside the
    recorder so its hot loop stays free of metric calls."""
    results = args[0] if args and isinstance(args[0], list | tuple) else []
    metrics.DLR_BATCH_SIZE.observe(len(results))
    for result in results:
        status = result.get("status") if isinstance(result, Mapping) else None
        # queued: an attempt to be retried (shared.jobs.SendResult)
        known = status in ("sent", "failed", "queued")
        metrics.DLR_RESULTS.labels(status if known else "invalid").inc()
