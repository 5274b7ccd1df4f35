"""The periodic release of automation's waiting sends (a rule's delay, the end of quiet hours):
beat schedules ``pushflow.automation.release`` every few seconds (``workers.celery_app``) and the
DLR worker runs it. Each run submits every due send, batch after batch, through
``domain.automation.pending.release_due``: rows taken ``FOR UPDATE SKIP LOCKED``, submitted and
marked released in one transaction, so a killed worker loses none and a run beside another
(or a restarted one) releases none twice.
"""

from __future__ import annotations

import asyncio
import logging
import time

from domain.automation.pending import RELEASE_BATCH, release_due
from domain.messages.standalone import standalone_outlet
from shared.queues import TASK_RELEASE_AUTOMATION
from shared.settings import Settings, get_settings
from workers import app

log = logging.getLogger(__name__)

MAX_BATCHES_PER_RUN = 50  # a run stays short; the next one (seconds later) goes on


async def release(settings: Settings, batch: int = RELEASE_BATCH) -> int:
    """Release what is due now, up to ``MAX_BATCHES_PER_RUN`` batches; how many sends."""
    released = 0
    async with standalone_outlet(settings) as outlet:
        for _ in range(MAX_BATCHES_PER_RUN):
            n = await release_due(outlet, time.time(), batch)
            released += n
            if n < batch:
                break
    return released


@app.task(name=TASK_RELEASE_AUTOMATION, ignore_result=True, acks_late=False)  # type: ignore[untyped-decorator]
def release_task() -> int:
    released = asyncio.run(release(get_settings()))
    if released:
        log.info("released %d automation send(s)", released)
    return released


__all__ = ["TASK_RELEASE_AUTOMATION", "release", "release_task"]
