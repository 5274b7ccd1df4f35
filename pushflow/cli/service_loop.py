"""The loop of the product's asyncio processes (the webhook sender, the campaign pacer): run
``serve`` until SIGTERM/SIGINT, and start it again after a PostgreSQL or Redis outage."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable

from shared.gc_pauses import freeze_startup_objects
from shared.settings import Settings, get_settings

RESTART_DELAY = 2.0


async def run_until_signalled(name: str, serve: Callable[[Settings, asyncio.Event],
                                                         Awaitable[None]],
                              lost: str) -> None:
    """``lost``: what an outage costs, for the log line."""
    import psycopg

    log = logging.getLogger(f"pushflow.{name}")
    settings = get_settings()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    freeze_startup_objects()
    log.info("%s: started", name)
    while not stop.is_set():
        try:
            await serve(settings, stop)
        except (psycopg.OperationalError, OSError) as exc:
            log.warning("%s: database unavailable (%s); restarting (%s)", name, exc, lost)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), RESTART_DELAY)
    log.info("%s: stopped", name)
