"""The set-up commands: migrate, apps create, keys create/revoke (--json for scripts), and a bad
setting stopping start-up with the variable's name."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import psycopg
import pytest

from domain.keys import store as apps
from pushflow.cli.main import main


def test_migrate_apps_and_keys(capsys: pytest.CaptureFixture[str],
                               db: psycopg.Connection[Any]) -> None:
    assert main(["migrate"]) == 0  # the session's database is current: nothing to do, no error
    capsys.readouterr()
    assert main(["apps", "create", "Shop", "--json"]) == 0
    app_key = json.loads(capsys.readouterr().out)["applicationKey"]
    assert main(["keys", "create", app_key, "--scopes", "push:send", "--json"]) == 0
    created = json.loads(capsys.readouterr().out)
    assert created["applicationKey"] == app_key and created["scopes"] == ["push:send"]
    secret = created["secret"]
    # Stored hashed: the secret itself is nowhere in the table.
    rows = db.execute("SELECT key_hash, scopes FROM api_keys k JOIN apps a ON a.id = k.app_id"
                      " WHERE a.app_key = %s", (app_key,)).fetchall()
    assert rows == [(apps.hash_secret(secret), ["push:send"])]
    assert secret.encode() not in bytes(rows[0][0])
    # Plain output: the secret alone, once.
    assert main(["keys", "create", app_key]) == 0
    assert capsys.readouterr().out.strip().startswith("pf_")
    assert main(["keys", "create", app_key, "--scopes", "push:everything"]) == 1
    assert "unknown scope" in capsys.readouterr().err
    assert main(["keys", "revoke", app_key, secret[:10]]) == 0
    assert main(["keys", "revoke", app_key, secret[:10]]) == 1  # nothing left to revoke
    assert db.execute("SELECT revoked_at IS NOT NULL FROM api_keys WHERE key_hash = %s",
                      (apps.hash_secret(secret),)).fetchone() == (True,)


def test_a_bad_setting_stops_start_up_naming_the_variable() -> None:
    done = subprocess.run([sys.executable, "-m", "pushflow.cli.main", "migrate"],
                          env={**os.environ, "PUSHFLOW_DB_POOL_SIZE": "many"},
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert "PUSHFLOW_DB_POOL_SIZE" in done.stderr


def test_apps_and_keys_are_listed(capsys: pytest.CaptureFixture[str],
                                  db: psycopg.Connection[Any]) -> None:
    app_key = apps.create_app(db, "Listed shop")
    kept = apps.create_key(db, app_key, ["push:send"])
    gone = apps.create_key(db, app_key, ["admin"])
    apps.revoke_key(db, gone.secret, app_key)
    db.execute("UPDATE api_keys SET last_used_at = '2026-01-02T03:04:05Z' WHERE key_prefix = %s",
               (kept.secret[:apps.PREFIX_CHARS],))
    assert main(["apps", "list", "--json"]) == 0
    [listed] = [a for a in json.loads(capsys.readouterr().out) if a["applicationKey"] == app_key]
    assert (listed["name"], listed["keys"], listed["revokedKeys"]) == ("Listed shop", 1, 1)
    assert listed["createdAt"]
    assert main(["apps", "list"]) == 0
    [line] = [li for li in capsys.readouterr().out.splitlines() if app_key in li]
    assert "Listed shop" in line and line.endswith("1 (1 revoked)")

    assert main(["keys", "list", app_key, "--json"]) == 0
    newest, oldest = json.loads(capsys.readouterr().out)
    assert (newest["prefix"], newest["scopes"]) == (gone.secret[:apps.PREFIX_CHARS], ["admin"])
    assert newest["revokedAt"] and newest["lastUsedAt"] is None
    assert (oldest["prefix"], oldest["scopes"]) == (kept.secret[:apps.PREFIX_CHARS], ["push:send"])
    assert oldest["revokedAt"] is None and oldest["lastUsedAt"].startswith("2026-01-02T03:04:05")
    assert main(["keys", "list", app_key]) == 0
    out = capsys.readouterr().out
    assert kept.secret not in out and gone.secret not in out  # secrets are never shown again
    header, *rows = out.splitlines()
    assert header.split() == ["PREFIX", "SCOPES", "CREATED", "LAST", "USED", "REVOKED"]
    assert rows[0].split()[-2:] == ["never", newest["revokedAt"]]
    assert main(["keys", "list", "app_nope"]) == 1
    assert "no app with application key app_nope" in capsys.readouterr().err


def test_keys_create_help_names_the_default_scopes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["keys", "create", "--help"])
    assert "scopes push:send,push:read unless --scopes" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["keys", "--help"])
    assert "push:send,push:read" in capsys.readouterr().out
