"""``pushflow webhooks rotate-secret APP``: a new webhook signing secret, printed once.

The secret is shown only when created; an operator who lost it (or whose secret leaked) gets a
new one here without an API key, like ``POST /v2.1/webhooks/secret/rotate`` gives it to a caller
with the ``admin`` scope (``domain.webhooks.config.rotate_secret`` behind both).
"""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

import psycopg
from cryptography.fernet import Fernet

from domain.keys import store as apps
from domain.webhooks.config import Rotation, rotate_secret
from pushflow.cli.app_commands import db
from pushflow.cli.main import CommandError
from shared.settings import Settings, get_settings


def register(sub: Any, groups: dict[str, Any]) -> None:
    p = sub.add_parser("webhooks", help="manage an app's webhooks")
    hooks = p.add_subparsers(dest="webhooks_command", required=True)
    groups["webhooks"] = hooks
    r = hooks.add_parser("rotate-secret", help="print a new signing secret (when the old one is"
                                               " lost or leaked)")
    r.add_argument("app_key")
    r.add_argument("--overlap-hours", type=float, default=None,
                   help="how long the old secret keeps signing too (default"
                        " PUSHFLOW_WEBHOOK_SECRET_OVERLAP_HOURS; 0 when it leaked)")
    r.add_argument("--json", action="store_true", help="print one JSON object")
    r.set_defaults(func=rotate)


async def _rotate(settings: Settings, app_id: int, overlap_hours: float) -> Rotation | None:
    async with await psycopg.AsyncConnection.connect(settings.database_url,
                                                     autocommit=True) as conn:
        return await rotate_secret(conn, app_id, overlap_hours=overlap_hours,
                                   fernet=Fernet(settings.fernet_key()))


def rotate(args: argparse.Namespace) -> int:
    settings = get_settings()
    overlap = args.overlap_hours
    if overlap is None:
        overlap = settings.webhook_secret_overlap_hours
    if overlap < 0:
        raise CommandError("--overlap-hours must be 0 or more")
    with db() as conn:
        try:
            app_id = apps.app_id_for(conn, args.app_key)
        except apps.UnknownApp:
            raise CommandError(f"no app with application key {args.app_key}") from None
    rotation = asyncio.run(_rotate(settings, app_id, float(overlap)))
    if rotation is None:
        raise CommandError(f"app {args.app_key} has no webhooks configured"
                           " (PUT /v2.1/webhooks creates the configuration and its secret)")
    until = rotation.previous_valid_until
    if args.json:
        print(json.dumps({"secret": rotation.secret, "previousSecretValidUntil":
                          until.isoformat(timespec="seconds") if until else None}))
    else:
        print(rotation.secret)
    return 0
