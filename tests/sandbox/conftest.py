"""One sandbox process for the whole folder (starting one costs ~0.5 s); every test starts from
a reset sandbox: no faults, no latency, zero counters."""

from __future__ import annotations

import json
import ssl
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from sandbox.testing import SandboxProcess

HEX_TOKEN = "ab" * 32


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxProcess]:
    base = tmp_path_factory.mktemp("sandbox")
    with SandboxProcess(base / "state", base / "creds") as sbx:
        yield sbx


@pytest.fixture(autouse=True)
def _fresh_sandbox(request: pytest.FixtureRequest) -> None:
    if "sandbox" in request.fixturenames:
        sbx: SandboxProcess = request.getfixturevalue("sandbox")
        sbx.reset()
        sbx.set_latency(0)


def tls_context(sbx: SandboxProcess, client_cert: Path | None = None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(sbx.ca_file))
    if client_cert is not None:
        ctx.load_cert_chain(str(client_cert))
    return ctx


def provider_jwt(sbx: SandboxProcess, **overrides: Any) -> str:
    """An APNs provider token signed with the sandbox's .p8 key (override iss/iat/kid/key)."""
    apns = sbx.apns
    key = overrides.pop("key", (sbx.credentials_dir / "apns-key.p8").read_text())
    kid = overrides.pop("kid", apns["keyId"])
    claims = {"iss": apns["teamId"], "iat": int(time.time()), **overrides}
    return jwt.encode(claims, key, algorithm="ES256", headers={"kid": kid})


@pytest.fixture()
def apns_client(sandbox: SandboxProcess) -> Iterator[httpx.Client]:
    with httpx.Client(http2=True, verify=tls_context(sandbox), base_url=sandbox.apns_url) as c:
        yield c


@pytest.fixture()
def apns_headers(sandbox: SandboxProcess) -> dict[str, str]:
    return {
        "authorization": f"bearer {provider_jwt(sandbox)}",
        "apns-topic": sandbox.apns["topic"],
        "apns-push-type": "alert",
        "apns-priority": "10",
    }


@pytest.fixture(scope="session")
def fcm_access_token(sandbox: SandboxProcess) -> str:
    """An access token obtained the real way: google-auth signs an assertion with the service
    account key and posts it to the account's ``token_uri`` (the sandbox OAuth endpoint)."""
    import google.auth.transport.requests
    from google.oauth2 import service_account

    info = json.loads(sandbox.service_account_file.read_text())
    creds = service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
        info, scopes=["https://www.googleapis.com/auth/firebase.messaging"]
    )
    creds.refresh(google.auth.transport.requests.Request())
    assert creds.token
    return str(creds.token)


@pytest.fixture()
def fcm_client(sandbox: SandboxProcess, fcm_access_token: str) -> Iterator[httpx.Client]:
    headers = {"authorization": f"Bearer {fcm_access_token}"}
    with httpx.Client(
        http2=True, verify=tls_context(sandbox), base_url=sandbox.fcm_url, headers=headers
    ) as c:
        yield c


def fcm_send_path(sandbox: SandboxProcess) -> str:
    project = json.loads(sandbox.service_account_file.read_text())["project_id"]
    return f"/v1/projects/{project}/messages:send"
