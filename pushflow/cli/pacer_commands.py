"""``pushflow pacer``: the campaign pacer (``workers/campaigns/pacer.py``), an asyncio loop of its
own. Run one or more; they share every campaign's rate through PostgreSQL."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any


def register(sub: Any, groups: dict[str, Any]) -> None:
    p = sub.add_parser("pacer", help="feed running campaigns into the bulk lanes at their rate")
    p.set_defaults(func=run_pacer)


def run_pacer(args: argparse.Namespace) -> int:
    from shared.observability.logs import configure_logging

    configure_logging("pacer")
    asyncio.run(_run_until_signalled())
    return 0


async def _run_until_signalled() -> None:
    from pushflow.cli.service_loop import run_until_signalled
    from workers.campaigns.pacer import serve

    await run_until_signalled("pacer", serve, "an unfinished step's recipients stay pending")
