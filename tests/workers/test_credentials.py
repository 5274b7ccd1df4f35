"""``pushflow apps credentials``: checked when given, stored encrypted, loaded back by workers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest

from pushflow.cli.main import main
from sandbox.testing import SandboxProcess
from shared import credentials
from shared.settings import get_settings


def run(*argv: str) -> int:
    return main(["apps", "credentials", *argv])


def test_fcm_and_apns_token_stored_encrypted(make_app: Any, db: psycopg.Connection[Any],
                                             sandbox: SandboxProcess) -> None:
    app = make_app()
    creds = sandbox.credentials_dir
    a = sandbox.apns
    assert run(app.app_key, "--fcm-service-account", str(creds / "fcm-service-account.json")) == 0
    assert run(app.app_key, "--apns-key", str(creds / "apns-key.p8"), "--apns-key-id", a["keyId"],
               "--apns-team-id", a["teamId"], "--apns-topic", a["topic"], "--apns-sandbox") == 0
    rows = db.execute("SELECT provider, kind, secret, meta FROM app_credentials"
                      " WHERE app_id = %s ORDER BY provider", (app.app_id,)).fetchall()
    assert [(r[0], r[1]) for r in rows] == [("apns", "token"), ("fcm", "service_account")]
    assert b"PRIVATE KEY" not in bytes(rows[0][2]) and b"private_key" not in bytes(rows[1][2])
    assert rows[0][3] == {"keyId": a["keyId"], "teamId": a["teamId"], "topic": a["topic"],
                          "sandbox": True}
    loaded = credentials.load(db, app.app_id, "apns", get_settings().fernet_key())
    assert isinstance(loaded, credentials.ApnsTokenKey) and loaded.key_id == a["keyId"]


def test_certificate_topic_read_from_the_certificate(make_app: Any, db: psycopg.Connection[Any],
                                                     sandbox: SandboxProcess) -> None:
    app = make_app()
    assert run(app.app_key, "--apns-cert", str(sandbox.credentials_dir / "apns-cert.pem")) == 0
    loaded = credentials.load(db, app.app_id, "apns", get_settings().fernet_key())
    assert isinstance(loaded, credentials.ApnsCertificate) and loaded.topic


@pytest.mark.parametrize(("content", "flags", "why"), [
    (b"not a key", ["--apns-key-id", "K", "--apns-team-id", "T", "--apns-topic", "b"],
     "does not parse"),
    (b"{}", [], "not a service account"),
    (b"garbage", [], ".p12 does not parse"),
])
def test_bad_credentials_are_refused_with_the_reason(
        content: bytes, flags: list[str], why: str, make_app: Any, tmp_path: Path,
        capsys: pytest.CaptureFixture[str], db: psycopg.Connection[Any]) -> None:
    app = make_app()
    f = tmp_path / "cred"
    f.write_bytes(content)
    option = {"does not parse": "--apns-key", "not a service account": "--fcm-service-account",
              ".p12 does not parse": "--apns-cert"}[why]
    assert run(app.app_key, option, str(f), *flags) == 1
    assert why in capsys.readouterr().err
    assert db.execute("SELECT count(*) FROM app_credentials WHERE app_id = %s",
                      (app.app_id,)).fetchone() == (0,)


def test_unknown_app_and_missing_choice(capsys: pytest.CaptureFixture[str],
                                        sandbox: SandboxProcess) -> None:
    assert run("app_nope", "--fcm-service-account",
               str(sandbox.service_account_file)) == 1
    assert "no app" in capsys.readouterr().err
    assert run("app_nope") == 1
    assert "exactly one" in capsys.readouterr().err


def test_worker_command_refuses_bad_lanes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["worker", "apns", "--lanes", "tx,urgent"]) == 1
    assert "--lanes" in capsys.readouterr().err
    assert main(["worker", "fcm", "--concurrency", "0"]) == 1
