"""Commands of the delivery-report side.

- ``pushflow webhooks-worker``: the webhook sender (an asyncio loop, not a Celery worker; see
  ``workers/webhooks/sender.py`` for why). Run one or more; they share the work safely.
- The DLR recorder IS a Celery worker: ``celery -A workers worker -Q dlr``.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any


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
    from pushflow.cli.service_loop import run_until_signalled
    from workers.webhooks.sender import serve

    # Database gone: what was in flight is re-sent after its lease (at-least-once).
    await run_until_signalled("webhooks-worker", serve,
                              "in-flight events are re-sent after their lease")
