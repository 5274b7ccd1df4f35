"""Demo app and key: created once, kept while valid, replaced when the database lost them; the
credential commands built from what the sandbox wrote."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import psycopg

from domain.keys import store as apps
from pushflow.up.bootstrap import DEMO_APP_NAME, Demo, credential_commands, ensure_demo_key


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
    Demo(app_key, secret, "http://api", "http://flower", {}, []).write(
        demo_path)
    assert os.stat(demo_path).st_mode & 0o077 == 0  # it holds a secret
    assert ensure_demo_key(url, demo_path) == (app_key, secret, False)
    apps.revoke_key(db, secret, app_key)
    again, new_secret, created = ensure_demo_key(url, demo_path)
    assert created and new_secret != secret and again == app_key  # a new key, the same app


def test_a_second_clone_against_the_same_database_reuses_the_demo_app(
    pushflow_env: dict[str, str], db: psycopg.Connection[Any], tmp_path: Path,
) -> None:
    url = pushflow_env["PUSHFLOW_DATABASE_URL"]
    first, first_secret, _ = ensure_demo_key(url, tmp_path / "clone-1" / "demo.json")
    # The second clone has no demo.json of its own and cannot know the first one's secret.
    second, second_secret, created = ensure_demo_key(url, tmp_path / "clone-2" / "demo.json")
    assert second == first and created and second_secret != first_secret
    assert db.execute("SELECT count(*) FROM apps WHERE name = %s",
                      (DEMO_APP_NAME,)).fetchone() == (1,)


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
