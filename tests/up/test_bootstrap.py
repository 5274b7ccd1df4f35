"""Demo app and key: created once, kept while valid, replaced when the database lost them; the
credential commands built from what the sandbox wrote."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import psycopg

from domain.keys import store as apps
from shared.up.bootstrap import Demo, credential_commands, ensure_demo_key


def test_demo_key_is_created_kept_and_replaced(
    pushflow_env: dict[str, str], db: psycopg.Connection[Any], tmp_path: Path,
) -> None:
    url = pushflow_env["PUSHFLOW_DATABASE_URL"]
    demo_path = tmp_path / "demo.json"
    app_key, secret, created = ensure_demo_key(url, demo_path)
    assert created and secret.startswith("pf_")
    scopes = db.execute("SELECT k.scopes FROM api_keys k JOIN apps a ON a.id = k.app_id"
                        " WHERE a.app_key = %s", (app_key,)).fetchone()
    assert scopes is not None and sorted(scopes[0]) == sorted(apps.SCOPES)
    Demo(app_key, secret, "http://api", "http://api/panel", "http://flower", {}, []).write(
        demo_path)
    assert os.stat(demo_path).st_mode & 0o077 == 0  # it holds a secret
    assert ensure_demo_key(url, demo_path) == (app_key, secret, False)
    apps.revoke_key(db, secret, app_key)
    _, new_secret, created = ensure_demo_key(url, demo_path)
    assert created and new_secret != secret


def test_credential_commands_load_what_the_sandbox_wrote(tmp_path: Path) -> None:
    (tmp_path / "apns.json").write_text(json.dumps(
        {"keyId": "KEY1234567", "teamId": "TEAM123456", "topic": "com.example", "sandbox": True}))
    commands = dict(credential_commands("app_x", tmp_path))
    assert commands["fcm"] == ["pushflow", "apps", "credentials", "app_x",
                               "--fcm-service-account", str(tmp_path / "fcm-service-account.json")]
    assert commands["apns"] == [
        "pushflow", "apps", "credentials", "app_x", "--apns-key", str(tmp_path / "apns-key.p8"),
        "--apns-key-id", "KEY1234567", "--apns-team-id", "TEAM123456",
        "--apns-topic", "com.example", "--apns-sandbox"]
