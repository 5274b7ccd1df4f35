"""The send tasks as ordinary Celery tasks (the per-task path): ``pushflow.send.<gateway>`` for
every gateway of the registry (``workers.delivery.registry``).

The batched consumer (bootstep.py) normally takes these messages off the lists itself; these
definitions keep every message consumable by any plain Celery worker (``PUSHFLOW_DELIVERY_BATCH_
CONSUMER=false``, or an older deployment): the task hands its job to this process's delivery
runtime and returns once the outcome (or the retry) is committed to Redis; Celery then acks.
"""

from __future__ import annotations

from typing import Any

from celery import Task, shared_task

from shared.jobs import SendJob
from workers.delivery.registry import GATEWAYS
from workers.delivery.runtimes import runtime_for


def visibility_timeout(task: Task) -> float:
    options = task.app.conf.broker_transport_options or {}
    return float(options.get("visibility_timeout", 3600))


def _run(gateway: str, task: Task, job: SendJob) -> None:
    info: dict[str, Any] = task.request.delivery_info or {}
    queue = info.get("routing_key") or f"{gateway}.{job.get('lane', 'tx')}"
    runtime_for(gateway, visibility_timeout(task)).run_one(job, queue, task.name,
                                                           timeout=visibility_timeout(task))


def _send_task(gateway: str) -> Task:
    @shared_task(name=f"pushflow.send.{gateway}", bind=True, acks_late=True,  # type: ignore[untyped-decorator]
                 ignore_result=True)
    def send(self: Task, job: SendJob) -> None:
        _run(gateway, self, job)

    task: Task = send
    return task


SEND_TASKS = {gateway: _send_task(gateway) for gateway in GATEWAYS}
