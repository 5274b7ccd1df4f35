"""Celery task events for the sends of the batched consumer, so Flower lists every send.

The batched consumer takes send messages off the lists itself (bootstep.py), so Celery's task
execution, which emits ``task-received`` … ``task-succeeded`` for each task, never sees them. This
module emits the same events, with the task id and name the message carries, from Celery's own
``EventDispatcher`` — one per worker process, shared by its runtimes:

- ``send`` only appends to the dispatcher's buffer of the ``task`` group (a few microseconds, on
  the runtime's loop thread); a thread of its own publishes the buffer every ``flush_seconds`` as
  ONE ``task.multi`` message (a list of events, which Celery's ``EventReceiver`` and so Flower
  read like single events), so a burst of 4,000 sends/s costs a few publishes per second;
- events are emitted only while the worker's task events are on: ``-E`` /
  ``worker_send_task_events``, or switched at run time by ``celery control enable_events`` /
  ``disable_events`` (which Flower sends): the consumer's own dispatcher says which, asked at
  every event (two attribute reads), so a switch applies from the next send on.

The per-task path (tasks.py) runs through Celery's execution, which emits its own events: its
works carry no task id and are skipped here.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from shared.jobs import SendResult
from shared.tokens import mask

if TYPE_CHECKING:
    from celery import Celery

    from workers.delivery.engine import Work

log = logging.getLogger(__name__)
FLUSH_SECONDS = 0.5


class TaskEvents:
    """What the engine tells about each send; this base emits nothing (events off, tests)."""

    def received(self, w: Work) -> None: ...

    def started(self, w: Work) -> None: ...

    def finished(self, w: Work, result: SendResult) -> None: ...

    def retried(self, w: Work, why: str) -> None: ...


def task_events_on(dispatcher: Any) -> bool:
    """Whether a Celery worker's own event dispatcher sends task events: enabled, and its
    groups (empty: every group) include ``task``."""
    return bool(dispatcher is not None and dispatcher.enabled
                and (not dispatcher.groups or "task" in dispatcher.groups))


class CeleryTaskEvents(TaskEvents):
    def __init__(self, app: Celery, hostname: str, enabled: Callable[[], bool],
                 flush_seconds: float = FLUSH_SECONDS) -> None:
        self.on = enabled
        self.flush_seconds = flush_seconds
        self._connection = app.connection_for_write()
        # The producer connects lazily: only the flushing thread ever touches the connection.
        self._dispatcher = app.events.Dispatcher(
            self._connection, hostname=hostname, buffer_group=["task"],
            buffer_limit=sys.maxsize)  # never flushed by ``send``: by the thread below
        self._started: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._flush_forever, name="pushflow-events",
                                        daemon=True)
        self._thread.start()

    def _send(self, type_: str, **fields: Any) -> None:
        try:
            self._dispatcher.send(type_, **fields)
        except Exception:  # monitoring must never fail a send
            log.exception("buffering a %s event failed", type_)

    def received(self, w: Work) -> None:
        if w.task_id is not None and self.on():
            job = w.job
            self._send("task-received", uuid=w.task_id, name=w.task_name,
                       args=f"dispatch={job['dispatchId']} app={job['appId']} "
                            f"token={mask(job['token'])} lane={job['lane']}",
                       kwargs="{}", retries=job["attempt"] - 1, eta=None, expires=None,
                       root_id=w.task_id, parent_id=None)

    def started(self, w: Work) -> None:
        if w.task_id is not None and self.on():
            self._started[w.task_id] = time.monotonic()
            self._send("task-started", uuid=w.task_id)  # the dispatcher adds pid, hostname

    def finished(self, w: Work, result: SendResult) -> None:
        if w.task_id is None:
            return
        began = self._started.pop(w.task_id, None)
        if not self.on():
            return
        if result["status"] == "sent":
            runtime = time.monotonic() - began if began is not None else 0.0
            self._send("task-succeeded", uuid=w.task_id, runtime=runtime,
                       result=f"sent gatewayId={result['gatewayId']}")
        else:
            answer = result["gatewayResponse"] or {}
            self._send("task-failed", uuid=w.task_id, traceback=None,
                       exception=f"{result['reason']}: {answer.get('status', 0)} "
                                 f"{answer.get('reason') or answer.get('detail') or ''}".strip())

    def retried(self, w: Work, why: str) -> None:
        if w.task_id is None:
            return
        self._started.pop(w.task_id, None)
        if self.on():
            self._send("task-retried", uuid=w.task_id, exception=why, traceback=None)

    def _flush_forever(self) -> None:
        while not self._stop.wait(self.flush_seconds):
            self.flush()

    def flush(self) -> None:
        try:
            # Events a broken connection refused stay in the dispatcher's outbound buffer and
            # go out with the next flush (``buffer_while_offline``).
            self._dispatcher.flush()
        except Exception as exc:  # monitoring must never stop the sends
            log.warning("publishing task events failed: %s", exc)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.flush()
        self._dispatcher.close()
        self._connection.release()
