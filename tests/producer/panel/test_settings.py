"""The settings pages in a real browser: an API key created (its secret shown once, working on
the API) and revoked (401 at once); credentials uploaded, refused with the reason when they do
not parse, the certificate's expiry shown; limits and users changed by an admin."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID
from playwright.sync_api import Page, expect

from tests.producer.conftest import ios_token
from tests.producer.panel.conftest import Panel, Shots


def _push(panel: Panel, app_key: str, secret: str) -> httpx.Response:
    return httpx.post(panel.url("/v2.1/push"), timeout=10, json={
        "device_tokens": [ios_token()], "content": "from the panel test"},
        headers={"Authorization": secret, "Application-Key": app_key})


def test_a_key_is_created_shown_once_and_revoked_at_once(
        panel: Panel, page: Page, panel_user: Any, shots: Shots) -> None:
    admin = panel_user("admin")
    panel.sign_in(page, admin)
    page.goto(panel.url(f"/panel/apps/{admin.app.app_key}/settings/keys"))
    page.get_by_role("button", name="Create key").click()
    secret = page.get_by_label("Secret").input_value()
    assert secret.startswith("pf_")
    shots.take(page, "key-created")
    assert _push(panel, admin.app.app_key, secret).status_code == 202
    page.reload()  # shown once: not on the page again
    assert secret not in page.content()
    page.get_by_role("button", name=f"Revoke key {secret[:10]}").click()
    expect(page.get_by_role("status")).to_contain_text("revoked")
    shots.take(page, "key-revoked")
    refused = _push(panel, admin.app.app_key, secret)
    assert refused.status_code == 401, refused.text
    # The app's other key is untouched.
    assert _push(panel, admin.app.app_key, admin.app.secret).status_code == 202


def _service_account(path: Path, project: str) -> Path:
    key = rsa.generate_private_key(65537, 2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()).decode()
    path.write_text(json.dumps({"type": "service_account", "project_id": project,
                                "private_key": key, "client_email": f"x@{project}.iam",
                                "token_uri": "https://oauth2.invalid/token"}))
    return path


def _certificate(path: Path, topic: str, not_after: dt.datetime) -> Path:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.USER_ID, topic)])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1)
            .not_valid_before(dt.datetime.now(dt.UTC) - dt.timedelta(days=1))
            .not_valid_after(not_after).sign(key, hashes.SHA256()))
    path.write_bytes(pkcs12.serialize_key_and_certificates(
        b"push", key, cert, None, serialization.BestAvailableEncryption(b"pw")))
    return path


def test_credentials_are_validated_stored_and_never_shown(
        panel: Panel, page: Page, panel_user: Any, shots: Shots, tmp_path: Path) -> None:
    admin = panel_user("admin")
    panel.sign_in(page, admin)
    page.goto(panel.url(f"/panel/apps/{admin.app.app_key}/settings/credentials"))
    bad = tmp_path / "bad.json"
    bad.write_text('{"type": "authorized_user"}')
    page.get_by_label("Service-account JSON file").set_input_files(str(bad))
    page.get_by_role("button", name="Upload FCM service account").click()
    expect(page.get_by_role("alert")).to_contain_text("not a service account file")

    account = _service_account(tmp_path / "sa.json", "panel-upload-test")
    page.get_by_label("Service-account JSON file").set_input_files(str(account))
    page.get_by_role("button", name="Upload FCM service account").click()
    expect(page.get_by_role("status")).to_contain_text("FCM service account stored")
    expect(page.get_by_text("projectId: panel-upload-test")).to_be_visible()
    assert "PRIVATE KEY" not in page.content()

    expires = dt.datetime(2027, 3, 1, 12, 0, tzinfo=dt.UTC)
    cert = _certificate(tmp_path / "push.p12", "com.example.panel", expires)
    page.get_by_label("Certificate file").set_input_files(str(cert))
    page.get_by_label("Its password (if any)").fill("pw")
    page.get_by_role("button", name="Upload APNs certificate").click()
    expect(page.get_by_role("status")).to_contain_text("APNs certificate stored")
    expect(page.get_by_text("2027-03-01 12:00:00 UTC")).to_be_visible()
    expect(page.get_by_text("topic: com.example.panel")).to_be_visible()
    shots.take(page, "credentials")
    assert "PRIVATE KEY" not in page.content()
    # Readable on a phone: one column, nothing wider than the screen.
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    shots.take(page, "credentials-phone")


def test_an_admin_changes_limits_and_users(
        panel: Panel, page: Page, panel_user: Any, shots: Shots, db: Any) -> None:
    admin = panel_user("admin")
    panel.sign_in(page, admin)
    page.goto(panel.url(f"/panel/apps/{admin.app.app_key}/settings/limits"))
    page.get_by_label("max_content").fill("5")
    page.get_by_label("fcm.tx", exact=True).fill("25")
    page.get_by_label("apns.bulk", exact=True).fill("40")
    page.get_by_role("button", name="Save limits").click()
    expect(page.get_by_role("status")).to_have_text("Limits saved.")
    row = db.execute("SELECT limits, send_rates FROM apps WHERE id = %s",
                     (admin.app.app_id,)).fetchone()
    assert row[0]["max_content"] == 5
    assert row[1] == {"fcm.tx": 25.0, "apns.bulk": 40.0}  # the lanes left empty: the defaults
    expect(page.get_by_label("apns.bulk", exact=True)).to_have_value("40")
    expect(page.get_by_label("apns.tx", exact=True)).to_have_value("")
    page.get_by_label("max_payload_bytes").fill("10")
    page.get_by_role("button", name="Save limits").click()
    expect(page.get_by_role("alert")).to_contain_text("max_payload_bytes")
    page.get_by_label("max_payload_bytes").fill("")
    page.get_by_label("fcm.bulk", exact=True).fill("-3")
    page.get_by_role("button", name="Save limits").click()
    expect(page.get_by_role("alert")).to_contain_text("fcm.bulk")
    assert db.execute("SELECT send_rates FROM apps WHERE id = %s",
                      (admin.app.app_id,)).fetchone()[0] == {"fcm.tx": 25.0, "apns.bulk": 40.0}
    shots.take(page, "limits")

    page.goto(panel.url(f"/panel/apps/{admin.app.app_key}/settings/users"))
    page.get_by_label("Email", exact=True).fill("new-support@example.com")
    page.get_by_label("Role", exact=True).select_option("support")
    page.get_by_role("button", name="Add user").click()
    password = page.get_by_label("Password").input_value()
    assert len(password) >= 10
    shots.take(page, "user-added")
    page.get_by_label("Role of new-support@example.com").select_option("developer")
    page.locator("form", has=page.get_by_label("Role of new-support@example.com")) \
        .get_by_role("button", name="Set role").click()
    expect(page.get_by_role("status")).to_have_text("new-support@example.com is now developer.")
    # The last admin cannot be removed.
    page.get_by_role("button", name=f"Remove {admin.email}").click()
    expect(page.get_by_role("alert")).to_contain_text("at least one admin")
