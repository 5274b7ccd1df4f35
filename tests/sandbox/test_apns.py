"""The APNs sandbox over real HTTP/2 + TLS: Apple's checks, statuses and reasons."""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from sandbox.testing import SandboxProcess
from tests.sandbox.conftest import HEX_TOKEN, provider_jwt, tls_context

PAYLOAD = b'{"aps":{"alert":{"title":"Hi","body":"there"}}}'
UUID_RE = re.compile(r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}")


def push(
    client: httpx.Client,
    headers: dict[str, str],
    token: str = HEX_TOKEN,
    body: bytes = PAYLOAD,
    method: str = "POST",
    path: str | None = None,
) -> httpx.Response:
    return client.request(method, path or f"/3/device/{token}", headers=headers, content=body)


def test_accepted_push_echoes_apns_id_and_is_counted(
    sandbox: SandboxProcess, apns_client: httpx.Client, apns_headers: dict[str, str]
) -> None:
    apns_id = str(uuid.uuid4())
    resp = push(apns_client, {**apns_headers, "apns-id": apns_id, "apns-collapse-id": "c" * 64})
    assert resp.http_version == "HTTP/2"
    assert resp.status_code == 200
    assert resp.content == b""
    assert resp.headers["apns-id"] == apns_id
    generated = push(apns_client, apns_headers)
    assert generated.status_code == 200
    assert UUID_RE.fullmatch(generated.headers["apns-id"])
    stats = sandbox.stats()["apns"]
    assert stats["accepted"] == 2
    assert stats["acceptedByToken"] == {HEX_TOKEN: 2}
    assert stats["jwts"] == 1


def _case(name: str, status: int, reason: str, **kw: Any) -> Any:
    return pytest.param(kw, status, reason, id=name)


CHECKS = [
    _case("get", 405, "MethodNotAllowed", method="GET", body=b""),
    _case("bad-path", 404, "BadPath", path="/2/device/" + HEX_TOKEN),
    _case("no-token", 400, "MissingDeviceToken", path="/3/device/"),
    _case("non-hex-token", 400, "BadDeviceToken", token="zz" * 32),
    _case("short-token", 400, "BadDeviceToken", token="ab" * 8),
    _case("no-topic", 400, "MissingTopic", headers={"apns-topic": None}),
    _case("foreign-topic", 400, "TopicDisallowed", headers={"apns-topic": "com.other.app"}),
    _case("push-type", 400, "InvalidPushType", headers={"apns-push-type": "shout"}),
    _case("priority", 400, "BadPriority", headers={"apns-priority": "7"}),
    _case(
        "background-10",
        400,
        "BadPriority",
        headers={"apns-push-type": "background", "apns-priority": "10"},
    ),
    _case("expiration", 400, "BadExpirationDate", headers={"apns-expiration": "tomorrow"}),
    _case("collapse-id", 400, "BadCollapseId", headers={"apns-collapse-id": "c" * 65}),
    _case("apns-id", 400, "BadMessageId", headers={"apns-id": "not-a-uuid"}),
    _case("empty", 400, "PayloadEmpty", body=b""),
    _case("too-large", 413, "PayloadTooLarge", body=b'{"aps":{},"x":"' + b"a" * 4090 + b'"}'),
    _case("not-json", 400, "BadPayload", body=b"{aps"),
    _case("no-aps", 400, "BadPayload", body=b'{"alert":"hi"}'),
    _case("no-auth", 403, "MissingProviderToken", headers={"authorization": None}),
]


@pytest.mark.parametrize(("change", "status", "reason"), CHECKS)
def test_apple_checks(
    sandbox: SandboxProcess,
    apns_client: httpx.Client,
    apns_headers: dict[str, str],
    change: dict[str, Any],
    status: int,
    reason: str,
) -> None:
    headers = {**apns_headers}
    for name, value in change.pop("headers", {}).items():
        if value is None:
            headers.pop(name)
        else:
            headers[name] = value
    resp = push(apns_client, headers, **change)
    assert (resp.status_code, resp.json()["reason"]) == (status, reason)
    assert UUID_RE.fullmatch(resp.headers["apns-id"])
    assert sandbox.stats()["apns"]["accepted"] == 0


def test_background_push_with_priority_5_and_voip_topic_are_accepted(
    apns_client: httpx.Client, apns_headers: dict[str, str], sandbox: SandboxProcess
) -> None:
    silent = {**apns_headers, "apns-push-type": "background", "apns-priority": "5"}
    assert push(apns_client, silent, body=b'{"aps":{"content-available":1}}').status_code == 200
    voip = {**apns_headers, "apns-push-type": "voip", "apns-topic": sandbox.apns["topic"] + ".voip"}
    assert push(apns_client, voip).status_code == 200


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        pytest.param({"iat": int(time.time()) - 3601}, "ExpiredProviderToken", id="expired"),
        pytest.param({"kid": "WRONGKID00"}, "InvalidProviderToken", id="wrong-kid"),
        pytest.param({"iss": "OTHERTEAM0"}, "InvalidProviderToken", id="wrong-iss"),
        pytest.param({"key": "other"}, "InvalidProviderToken", id="foreign-key"),
    ],
)
def test_provider_token_checks(
    sandbox: SandboxProcess,
    apns_client: httpx.Client,
    apns_headers: dict[str, str],
    overrides: dict[str, Any],
    reason: str,
) -> None:
    if overrides.get("key") == "other":
        other = ec.generate_private_key(ec.SECP256R1())
        pem = other.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        overrides["key"] = pem.decode()
    headers = {**apns_headers, "authorization": f"bearer {provider_jwt(sandbox, **overrides)}"}
    resp = push(apns_client, headers)
    assert (resp.status_code, resp.json()["reason"]) == (403, reason)
    recorded = sandbox.requests("apns")[-1]
    assert recorded["reason"] == reason
    assert recorded["headers"]["authorization"] == "<redacted>"


def test_jwt_header_and_claims_are_recorded(
    sandbox: SandboxProcess, apns_client: httpx.Client, apns_headers: dict[str, str]
) -> None:
    push(apns_client, apns_headers)
    push(apns_client, apns_headers)
    stats = sandbox.stats()["apns"]
    rec = sandbox.requests("apns", token=HEX_TOKEN)
    assert len(rec) == 2
    assert rec[0]["jwt"]["header"] == {"alg": "ES256", "kid": sandbox.apns["keyId"], "typ": "JWT"}
    assert rec[0]["jwt"]["claims"]["iss"] == sandbox.apns["teamId"]
    assert stats["jwts"] == 1
    assert stats["jwtIats"] == [rec[0]["jwt"]["claims"]["iat"]]
    assert rec[0]["payload"] == {"aps": {"alert": {"title": "Hi", "body": "there"}}}


def test_certificate_auth(sandbox: SandboxProcess) -> None:
    ctx = tls_context(sandbox, sandbox.credentials_dir / "apns-cert.pem")
    with httpx.Client(http2=True, verify=ctx, base_url=sandbox.apns_url) as client:
        assert push(client, {}).status_code == 200  # topic taken from the certificate
        assert push(client, {"apns-topic": sandbox.apns["topic"]}).status_code == 200
        wrong = push(client, {"apns-topic": "com.other.app"})
        assert (wrong.status_code, wrong.json()["reason"]) == (400, "TopicDisallowed")
    assert sandbox.requests("apns")[0]["certTopic"] == sandbox.apns["topic"]
    assert sandbox.stats()["apns"]["accepted"] == 2


def test_unregistered_by_prefix_carries_timestamp(
    sandbox: SandboxProcess, apns_client: httpx.Client, apns_headers: dict[str, str]
) -> None:
    before = int(time.time() * 1000)
    resp = push(apns_client, apns_headers, token="04100410" + "cd" * 28)
    assert resp.status_code == 410
    body = resp.json()
    assert body["reason"] == "Unregistered"
    assert before <= body["timestamp"] <= int(time.time() * 1000)
    bad = push(apns_client, apns_headers, token="0bad0bad" + "cd" * 28)
    assert (bad.status_code, bad.json()["reason"]) == (400, "BadDeviceToken")
