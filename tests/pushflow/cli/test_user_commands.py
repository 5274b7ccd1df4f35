"""``pushflow users create|list`` and the demo admin of ``pushflow up``: the first admin of an
app signs in with the password printed (or given on stdin), an existing account keeps its own."""

from __future__ import annotations

import io
import json
import secrets
from pathlib import Path
from typing import Any

import pytest

from domain.users import passwords
from pushflow.cli.main import main
from pushflow.up.panel_admin import DEMO_ADMIN_EMAIL, ensure_demo_admin


def _hash(db: Any, email: str) -> str:
    return str(db.execute("SELECT password_hash FROM panel_users WHERE lower(email) ="
                          " lower(%s)", (email,)).fetchone()[0])


def test_users_create_and_list(capsys: pytest.CaptureFixture[str], make_app: Any, db: Any,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    app = make_app()
    email = f"first-{secrets.token_hex(4)}@example.com"
    assert main(["users", "create", email, "--app", app.app_key, "--role", "admin",
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["created"] is True and out["role"] == "admin"
    assert passwords.verify_password(_hash(db, email), out["password"])

    monkeypatch.setattr("sys.stdin", io.StringIO("chosen password 123\n"))
    other = make_app("other")
    assert main(["users", "create", email, "--app", other.app_key, "--role", "support",
                 "--password-stdin"]) == 0
    assert "existing account: its password is unchanged" in capsys.readouterr().out
    assert passwords.verify_password(_hash(db, email), out["password"])

    assert main(["users", "list", "--app", other.app_key, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == [{"email": email, "role": "support"}]
    assert main(["users", "create", email, "--app", "app_nope", "--role", "admin"]) == 1
    assert "no app with application key" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert main(["users", "create", "x@example.com", "--app", app.app_key, "--role",
                 "admin", "--password-stdin"]) == 1
    assert "at least" in capsys.readouterr().err


def test_the_demo_admin_is_kept_while_its_password_works(make_app: Any, db: Any,
                                                         tmp_path: Path) -> None:
    app = make_app("demo")
    demo = tmp_path / "demo.json"
    email, password, created = ensure_demo_admin(db.info.dsn, app.app_key, demo)
    assert email == DEMO_ADMIN_EMAIL and created
    demo.write_text(json.dumps({"panelEmail": email, "panelPassword": password}))
    assert ensure_demo_admin(db.info.dsn, app.app_key, demo) == (email, password, False)
    demo.unlink()  # lost: a new password, the same account, still admin
    _, renewed, created = ensure_demo_admin(db.info.dsn, app.app_key, demo)
    assert created and renewed != password
    assert passwords.verify_password(_hash(db, email), renewed)
    role = db.execute("SELECT m.role FROM panel_memberships m JOIN panel_users u ON"
                      " u.id = m.user_id WHERE u.email = %s AND m.app_id = %s",
                      (email, app.app_id)).fetchone()
    assert role == ("admin",)
