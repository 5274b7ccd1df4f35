"""``pushflow webhooks rotate-secret``: a lost webhook secret is replaced without an API key."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import psycopg
import pytest
from cryptography.fernet import Fernet

from domain.webhooks.config import save_config
from pushflow.cli.main import main
from shared.settings import get_settings


def _configure(app_id: int) -> str:
    settings = get_settings()

    async def run() -> str | None:
        async with await psycopg.AsyncConnection.connect(settings.database_url,
                                                         autocommit=True) as conn:
            return await save_config(conn, app_id, primary_url="https://hooks.example.com/h",
                                     secondary_url=None, event_types=["push.sent"],
                                     fernet=Fernet(settings.fernet_key()))

    secret = asyncio.run(run())
    assert secret is not None
    return secret


def _live_secrets(db: psycopg.Connection[Any], app_id: int) -> list[str]:
    fernet = Fernet(get_settings().fernet_key())
    rows = db.execute("SELECT secret FROM webhook_secrets WHERE app_id = %s"
                      " AND (expires_at IS NULL OR expires_at > now()) ORDER BY id",
                      (app_id,)).fetchall()
    return [fernet.decrypt(bytes(r[0])).decode() for r in rows]


def test_a_lost_secret_is_replaced(make_app: Any, db: psycopg.Connection[Any],
                                   capsys: pytest.CaptureFixture[str]) -> None:
    app = make_app()
    lost = _configure(app.app_id)
    assert main(["webhooks", "rotate-secret", app.app_key, "--json"]) == 0
    rotated = json.loads(capsys.readouterr().out)
    assert rotated["secret"].startswith("whsec_") and rotated["secret"] != lost
    assert rotated["previousSecretValidUntil"]  # the default overlap keeps the old one signing
    assert _live_secrets(db, app.app_id) == [lost, rotated["secret"]]
    # A leaked secret stops signing at once.
    assert main(["webhooks", "rotate-secret", app.app_key, "--overlap-hours", "0"]) == 0
    newest = capsys.readouterr().out.strip()
    assert _live_secrets(db, app.app_id) == [newest]


def test_an_app_without_webhooks_is_told_how_to_configure_them(
        make_app: Any, capsys: pytest.CaptureFixture[str]) -> None:
    app = make_app()
    assert main(["webhooks", "rotate-secret", app.app_key]) == 1
    assert "no webhooks configured" in capsys.readouterr().err
    assert main(["webhooks", "rotate-secret", "app_nope"]) == 1
    assert "no app with application key app_nope" in capsys.readouterr().err
