"""The FCM v1 sandbox and its OAuth endpoint, with the real google-auth flow."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest

from sandbox.testing import SandboxProcess
from tests.sandbox.conftest import fcm_send_path, tls_context

FCM_ERROR = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
BAD_REQUEST = "type.googleapis.com/google.rpc.BadRequest"


def send(
    client: httpx.Client, sandbox: SandboxProcess, message: dict[str, Any], **extra: Any
) -> httpx.Response:
    return client.post(fcm_send_path(sandbox), json={"message": message, **extra})


def error_of(resp: httpx.Response) -> tuple[int, str, str | None, str | None]:
    """(code, status, FcmError errorCode, BadRequest field) from a google.rpc.Status body."""
    err = resp.json()["error"]
    assert err["code"] == resp.status_code
    assert isinstance(err["message"], str) and err["message"]
    details = {d["@type"]: d for d in err.get("details", [])}
    code = details.get(FCM_ERROR, {}).get("errorCode")
    violations = details.get(BAD_REQUEST, {}).get("fieldViolations", [{}])
    return err["code"], err["status"], code, violations[0].get("field")


def test_send_with_token_from_oauth_endpoint(
    sandbox: SandboxProcess, fcm_client: httpx.Client
) -> None:
    message = {
        "token": "dev-token-1",
        "notification": {"title": "Hello", "body": "World", "image": "https://example.com/a.png"},
        "data": {"orderId": "42"},
        "android": {
            "priority": "HIGH",
            "ttl": "3600s",
            "collapseKey": "orders",
            "notification": {"sound": "default", "channel_id": "tx"},
        },
        "apns": {"headers": {"apns-priority": "10"}, "payload": {"aps": {"badge": 1}}},
    }
    resp = send(fcm_client, sandbox, message)
    assert resp.http_version == "HTTP/2"
    assert resp.status_code == 200, resp.text
    assert re.fullmatch(r"projects/pushflow-sandbox/messages/\S+", resp.json()["name"])
    stats = sandbox.stats()
    assert stats["fcm"]["acceptedByToken"] == {"dev-token-1": 1}
    assert stats["fcm"]["accessTokens"] == 1
    recorded = sandbox.requests("fcm", token="dev-token-1")[0]
    assert recorded["payload"] == {"message": message}
    assert recorded["http"] == "h2"


def test_topic_condition_and_validate_only(
    sandbox: SandboxProcess, fcm_client: httpx.Client
) -> None:
    assert send(fcm_client, sandbox, {"topic": "news", "data": {"a": "b"}}).status_code == 200
    cond = send(fcm_client, sandbox, {"condition": "'a' in topics", "data": {"a": "b"}})
    assert cond.status_code == 200
    dry = send(fcm_client, sandbox, {"token": "dry-run"}, validate_only=True)
    assert dry.json()["name"].endswith("/fake_message_id")
    stats = sandbox.stats()["fcm"]
    assert stats["accepted"] == 3
    assert "dry-run" not in stats["acceptedByToken"]


def test_http1_with_google_auth_session(sandbox: SandboxProcess) -> None:
    """firebase-admin's sync path: requests (HTTP/1.1) through google-auth's AuthorizedSession."""
    import google.auth.transport.requests
    from google.oauth2 import service_account

    info = json.loads(sandbox.service_account_file.read_text())
    creds = service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
        info, scopes=["https://www.googleapis.com/auth/firebase.messaging"]
    )
    session = google.auth.transport.requests.AuthorizedSession(creds)  # type: ignore[no-untyped-call]
    resp = session.post(
        sandbox.fcm_url + fcm_send_path(sandbox),
        verify=str(sandbox.ca_file),
        json={"message": {"token": "h1-token", "data": {"k": "v"}}},
    )
    assert resp.status_code == 200, resp.text
    assert sandbox.stats()["oauth"]["tokensIssued"] == 1
    assert sandbox.requests("fcm", token="h1-token")[0]["http"] == "http/1.1"


def test_bad_bearer_and_wrong_project(sandbox: SandboxProcess, fcm_access_token: str) -> None:
    with httpx.Client(http2=True, verify=tls_context(sandbox), base_url=sandbox.fcm_url) as client:
        body = {"message": {"token": "t", "data": {}}}
        for headers in ({}, {"authorization": "Bearer ya29.forged.token"}):
            resp = client.post(fcm_send_path(sandbox), json=body, headers=headers)
            assert error_of(resp) == (401, "UNAUTHENTICATED", None, None)
        auth = {"authorization": f"Bearer {fcm_access_token}"}
        resp = client.post("/v1/projects/someone-else/messages:send", json=body, headers=auth)
        assert error_of(resp) == (403, "PERMISSION_DENIED", None, None)
    assert sandbox.stats()["fcm"]["accepted"] == 0


INVALID = [
    pytest.param({"token": "a", "topic": "b"}, "message", id="two-targets"),
    pytest.param({"data": {"a": "b"}}, "message", id="no-target"),
    pytest.param({"token": "has space"}, "message.token", id="bad-token"),
    pytest.param({"topic": "bad topic!"}, "message.topic", id="bad-topic"),
    pytest.param({"token": "t", "data": {"n": 1}}, "message.data", id="data-not-string"),
    pytest.param({"token": "t", "data": {"from": "x"}}, "message.data", id="reserved-key"),
    pytest.param({"token": "t", "colour": "red"}, "message", id="unknown-field"),
    pytest.param(
        {"token": "t", "android": {"priority": "URGENT"}},
        "message.android.priority",
        id="android-priority",
    ),
    pytest.param({"token": "t", "android": {"ttl": "1 hour"}}, "message.android.ttl", id="ttl"),
    pytest.param(
        {"token": "t", "android": {"ttl": "2419200.5s"}},
        "message.android.ttl",
        id="ttl-over-28-days",
    ),
    pytest.param(
        {"token": "t", "notification": {"title": 5}}, "message.notification.title", id="title-type"
    ),
    pytest.param({"token": "t", "data": {"big": "x" * 5000}}, "message", id="too-big"),
]


@pytest.mark.parametrize(("message", "field"), INVALID)
def test_invalid_messages(
    sandbox: SandboxProcess, fcm_client: httpx.Client, message: dict[str, Any], field: str
) -> None:
    resp = send(fcm_client, sandbox, message)
    assert error_of(resp) == (400, "INVALID_ARGUMENT", "INVALID_ARGUMENT", field)


def test_ttl_of_exactly_28_days_is_accepted(
    sandbox: SandboxProcess, fcm_client: httpx.Client
) -> None:
    resp = send(fcm_client, sandbox, {"token": "t", "android": {"ttl": "2419200s"}})
    assert resp.status_code == 200, resp.text


def test_body_that_is_not_json(sandbox: SandboxProcess, fcm_client: httpx.Client) -> None:
    resp = fcm_client.post(fcm_send_path(sandbox), content=b"{nope")
    assert error_of(resp)[:2] == (400, "INVALID_ARGUMENT")


FCM_KINDS = [
    ("unregistered", 404, "NOT_FOUND", "UNREGISTERED"),
    ("sender_id_mismatch", 403, "PERMISSION_DENIED", "SENDER_ID_MISMATCH"),
    ("invalid_argument_token", 400, "INVALID_ARGUMENT", "INVALID_ARGUMENT"),
    ("invalid_argument_payload", 400, "INVALID_ARGUMENT", "INVALID_ARGUMENT"),
    ("quota_exceeded", 429, "RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED"),
    ("internal", 500, "INTERNAL", "INTERNAL"),
    ("unavailable", 503, "UNAVAILABLE", "UNAVAILABLE"),
    ("third_party_auth_error", 401, "UNAUTHENTICATED", "THIRD_PARTY_AUTH_ERROR"),
]


@pytest.mark.parametrize(("kind", "code", "status", "error_code"), FCM_KINDS)
def test_each_fcm_fault_kind(
    sandbox: SandboxProcess,
    fcm_client: httpx.Client,
    kind: str,
    code: int,
    status: str,
    error_code: str,
) -> None:
    sandbox.add_fault(gateway="fcm", kind=kind, match="victim", retryAfter=61)
    resp = send(fcm_client, sandbox, {"token": "victim-1", "data": {"a": "b"}})
    assert error_of(resp)[:3] == (code, status, error_code)
    assert resp.headers["retry-after"] == "61"
    assert send(fcm_client, sandbox, {"token": "bystander", "data": {"a": "b"}}).status_code == 200


def test_invalid_argument_faults_name_the_field(
    sandbox: SandboxProcess, fcm_client: httpx.Client
) -> None:
    sandbox.add_fault(gateway="fcm", kind="invalid_argument_token", times=1)
    sandbox.add_fault(gateway="fcm", kind="invalid_argument_payload", times=1)
    assert error_of(send(fcm_client, sandbox, {"token": "t1"}))[3] == "message.token"
    assert error_of(send(fcm_client, sandbox, {"token": "t1"}))[3] == "message"


@pytest.mark.parametrize(
    ("token", "code", "error_code"),
    [
        ("unregistered-7", 404, "UNREGISTERED"),
        ("sender-id-mismatch-7", 403, "SENDER_ID_MISMATCH"),
        ("invalid-token-7", 400, "INVALID_ARGUMENT"),
        ("quota-exceeded-7", 429, "QUOTA_EXCEEDED"),
        ("internal-error-7", 500, "INTERNAL"),
        ("unavailable-7", 503, "UNAVAILABLE"),
    ],
)
def test_token_prefix_conventions(
    sandbox: SandboxProcess, fcm_client: httpx.Client, token: str, code: int, error_code: str
) -> None:
    resp = send(fcm_client, sandbox, {"token": token, "data": {"a": "b"}})
    assert (error_of(resp)[0], error_of(resp)[2]) == (code, error_code)
    assert sandbox.requests("fcm", token=token)[0]["reason"] == error_code


def test_fcm_drop_is_a_connection_error(sandbox: SandboxProcess, fcm_client: httpx.Client) -> None:
    sandbox.add_fault(gateway="fcm", kind="drop", times=1)
    with pytest.raises(httpx.TransportError):
        send(fcm_client, sandbox, {"token": "t", "data": {}})
    assert send(fcm_client, sandbox, {"token": "t", "data": {}}).status_code == 200


def test_oauth_refuses_bad_assertions(sandbox: SandboxProcess) -> None:
    import time

    import jwt
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    info = json.loads(sandbox.service_account_file.read_text())
    now = int(time.time())
    claims = {
        "iss": info["client_email"],
        "aud": info["token_uri"],
        "iat": now,
        "exp": now + 3600,
        "scope": "https://www.googleapis.com/auth/firebase.messaging",
    }
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    other_pem = other.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    grant = "urn:ietf:params:oauth:grant-type:jwt-bearer"
    good = jwt.encode(claims, info["private_key"], algorithm="RS256")
    forged = jwt.encode(claims, other_pem, algorithm="RS256")
    wrong_iss = jwt.encode({**claims, "iss": "x@y"}, info["private_key"], algorithm="RS256")
    url = info["token_uri"]
    assert httpx.post(url, data={"grant_type": grant, "assertion": good}).status_code == 200
    for assertion in (forged, wrong_iss, "not-a-jwt"):
        resp = httpx.post(url, data={"grant_type": grant, "assertion": assertion})
        assert (resp.status_code, resp.json()["error"]) == (400, "invalid_grant")
    resp = httpx.post(url, data={"grant_type": "password", "assertion": good})
    assert (resp.status_code, resp.json()["error"]) == (400, "unsupported_grant_type")
