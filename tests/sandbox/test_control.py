"""The control API, the credentials the sandbox writes, and the ``pushflow sandbox`` command."""

from __future__ import annotations

import json
import ssl
import subprocess
import sys
from pathlib import Path

import httpx
import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12

from sandbox.testing import SandboxError, SandboxProcess
from tests.sandbox.conftest import HEX_TOKEN
from tests.sandbox.test_apns import push


def test_stats_requests_and_reset(
    sandbox: SandboxProcess, apns_client: httpx.Client, apns_headers: dict[str, str]
) -> None:
    sandbox.add_fault(gateway="apns", kind="internal", times=5)
    push(apns_client, apns_headers)
    push(apns_client, apns_headers, token="cd" * 32)
    assert len(sandbox.requests("apns")) == 2
    only = sandbox.requests("apns", token=HEX_TOKEN)
    assert [r["token"] for r in only] == [HEX_TOKEN]
    assert only[0]["status"] == 500 and only[0]["reason"] == "InternalServerError"
    assert sandbox.requests("fcm") == []
    first, second = sandbox.requests("apns")
    assert [r["token"] for r in sandbox.requests("apns", since=first["time"])] == ["cd" * 32]
    assert sandbox.requests("apns", since=second["time"]) == []
    sandbox.reset()
    stats = sandbox.stats()
    assert stats["apns"]["requests"] == 0 and stats["apns"]["acceptedByToken"] == {}
    assert sandbox.requests("apns") == []
    assert push(apns_client, apns_headers).status_code == 200  # the fault went with the reset


def test_control_errors(sandbox: SandboxProcess) -> None:
    with pytest.raises(SandboxError, match="400"):
        sandbox.set_latency(-5)
    client = httpx.Client(base_url=sandbox.control_url)
    assert client.get("/nowhere").status_code == 404
    assert client.post("/faults", content=b"[1]").status_code == 400
    assert client.post("/faults", content=b"{oops").status_code == 400
    assert client.get("/requests", params={"since": "yesterday"}).status_code == 400
    fid = sandbox.add_fault(gateway="fcm", kind="unavailable", match="x", times=2)
    assert client.get("/faults").json()["faults"][0]["id"] == fid
    sandbox.clear_faults()
    assert client.get("/faults").json()["faults"] == []
    client.close()


def test_written_credentials_work_with_standard_libraries(sandbox: SandboxProcess) -> None:
    d = sandbox.credentials_dir
    apns = json.loads((d / "apns.json").read_text())
    assert apns["sandbox"] is True and len(apns["keyId"]) == 10 and len(apns["teamId"]) == 10
    key = serialization.load_pem_private_key((d / "apns-key.p8").read_bytes(), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    token = jwt.encode({"iss": apns["teamId"], "iat": 1}, key, algorithm="ES256")
    assert token
    cert = x509.load_pem_x509_certificate((d / "apns-cert.pem").read_bytes())
    assert apns["topic"] in cert.subject.rfc4514_string()
    ssl.create_default_context(cafile=str(d / "ca.pem")).load_cert_chain(str(d / "apns-cert.pem"))
    p12_key, p12_cert, _ = pkcs12.load_key_and_certificates(
        (d / "apns-cert.p12").read_bytes(), None
    )
    assert p12_key is not None and p12_cert == cert
    account = json.loads((d / "fcm-service-account.json").read_text())
    assert account["type"] == "service_account"
    assert account["token_uri"] == sandbox.oauth_url + "/token"
    env = dict(line.split("=", 1) for line in (d / "sandbox.env").read_text().splitlines())
    assert env == sandbox.env()
    assert Path(env["PUSHFLOW_GATEWAY_CA_FILE"]).is_absolute()


def test_restart_reuses_the_state_dir_and_no_serve_writes_defaults(tmp_path: Path) -> None:
    state = tmp_path / "state"
    with SandboxProcess(state, tmp_path / "one") as first:
        ca_one = first.ca_file.read_bytes()
        key_id = first.apns["keyId"]
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "pushflow.cli.main",
            "sandbox",
            "--state-dir",
            str(state),
            "--write-credentials",
            str(tmp_path / "two"),
            "--no-serve",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert json.loads(out.stdout)["credentialsDir"] == str(tmp_path / "two")
    assert (tmp_path / "two" / "ca.pem").read_bytes() == ca_one
    assert json.loads((tmp_path / "two" / "apns.json").read_text())["keyId"] == key_id
    env = (tmp_path / "two" / "sandbox.env").read_text()
    assert "PUSHFLOW_APNS_SANDBOX_URL=https://127.0.0.1:2197\n" in env
    assert "PUSHFLOW_FCM_URL=https://127.0.0.1:8444\n" in env


def test_port_in_use_is_a_clear_error(sandbox: SandboxProcess, tmp_path: Path) -> None:
    port = sandbox.control_url.rsplit(":", 1)[1]
    with pytest.raises(SandboxError, match="could not start"):
        SandboxProcess(tmp_path / "s", ports={"control": int(port)}).start()
