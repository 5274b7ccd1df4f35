"""``pushflow migrate``."""

from __future__ import annotations

import argparse
from typing import Any

from pushflow.cli.main import CommandError
from shared.db.connect import DatabaseUnavailable
from shared.db.migrate import migrate
from shared.settings import get_settings


def register(sub: Any, groups: dict[str, Any]) -> None:
    p = sub.add_parser("migrate", help="create the database if missing and apply migrations")
    p.set_defaults(func=run_migrate)


def run_migrate(args: argparse.Namespace) -> int:
    settings = get_settings()
    try:
        applied = migrate(settings.database_url)
    except DatabaseUnavailable as exc:
        raise CommandError(f"cannot reach PostgreSQL (PUSHFLOW_DATABASE_URL): {exc}") from None
    print("applied: " + ", ".join(applied) if applied else "database is up to date")
    return 0
