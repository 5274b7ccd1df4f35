"""The demo admin of ``pushflow up``: a panel user who is ``admin`` of the demo app, so a fresh
machine can sign in to ``/panel`` at once. Its password is written to ``demo.json`` (mode 0600,
beside the demo key) and printed in the ready banner; it is kept while it still signs in, and
replaced when it does not (only its hash is stored, so a lost one cannot be recovered)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import psycopg

from domain.users import passwords
from domain.users import store as users

DEMO_ADMIN_EMAIL = "admin@pushflow.local"


def _previous_password(demo_path: Path) -> str | None:
    try:
        previous: dict[str, Any] = json.loads(demo_path.read_text())
    except (OSError, ValueError):
        return None
    value = previous.get("panelPassword")
    return value if isinstance(value, str) and previous.get("panelEmail") == DEMO_ADMIN_EMAIL \
        else None


async def _ensure(database_url: str, app_key: str, previous: str | None) -> tuple[str, bool]:
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        app_id = await users.app_id_of(conn, app_key)
        if app_id is None:
            raise LookupError(f"no app with application key {app_key}")
        found = await users.find_by_email(conn, DEMO_ADMIN_EMAIL)
        if found is not None and previous is not None and await asyncio.to_thread(
                passwords.verify_password, found.password_hash, previous):
            password, fresh = previous, False
        else:
            password, fresh = passwords.generate_password(), True
            hashed = await asyncio.to_thread(passwords.hash_password, password)
            if found is None:
                await users.create_user(conn, DEMO_ADMIN_EMAIL, hashed)
            else:
                await users.set_password(conn, found.user.id, password)
        user = await users.find_by_email(conn, DEMO_ADMIN_EMAIL)
        assert user is not None
        await users.set_role(conn, app_id, user.user.id, "admin")
    return password, fresh


def ensure_demo_admin(database_url: str, app_key: str, demo_path: Path) -> tuple[str, str, bool]:
    """(email, password, created) of the demo app's panel admin."""
    password, fresh = asyncio.run(_ensure(database_url, app_key,
                                          _previous_password(demo_path)))
    return DEMO_ADMIN_EMAIL, password, fresh
