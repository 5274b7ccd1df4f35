"""Commands of the delivery-report side.

- ``pushflow webhooks-worker``: the webhook sender (an asyncio loop, not a Celery worker; see
  ``workers/webhooks/sender.py`` for why). Run one or more; they share the work safely.
- The DLR recorder IS a Celery worker: ``celery -A workers worker -Q dlr``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
from typing import Any

from shared.settings import get_settings

log = logging.getLogger("pushflow.webhooks")
_RESTART_DELAY = 2.0


def register(sub: Any, groups: dict[str, Any]) -> None:
    p = sub.add_parser(
        "webhooks-worker",
        help="deliver signed webhooks (DLR events); the DLR recorder itself runs as "
        "`celery -A workers worker -Q dlr`",
    )
    p.set_defaults(func=run_webhooks_worker)


def run_webhooks_worker(args: argparse.Namespace) -> int:
    from shared.observability.logs import configure_logging
    from workers.observability import start_endpoint

    configure_logging("webhooks")
    # /metrics, /healthz, /readyz on PUSHFLOW_METRICS_PORT (no-op when 0).
    start_endpoint("webhooks", needs_postgres=True)
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop comes with uvicorn[standard]
        asyncio.run(_run_until_signalled())
    else:
        uvloop.run(_run_until_signalled())
    return 0


async def _run_until_signalled() -> None:
    import psycopg

    from workers.webhooks.sender import serve

    settings = get_settings()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log.info("webhooks-worker: started")
    while not stop.is_set():
        try:
            await serve(settings, stop)
        except (psycopg.OperationalError, OSError) as exc:
            # Database gone: what was in flight is re-sent after its lease (at-least-once).
            log.warning("webhooks-worker: database unavailable (%s); restarting", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), _RESTART_DELAY)
    log.info("webhooks-worker: stopped")
