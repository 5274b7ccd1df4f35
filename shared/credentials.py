"""Per-app gateway credentials: parsed (refused with a reason when they do not parse), stored
Fernet-encrypted in ``app_credentials``, loaded by the send workers.

Three kinds, one row per (app, provider):
- ``fcm`` / ``service_account``: a Google service-account JSON (FCM HTTP v1 + OAuth2).
- ``apns`` / ``token``: an ES256 .p8 key with its key id, team id and topic (bundle id).
- ``apns`` / ``certificate``: a client certificate (.p12 or PEM with its key) and topic.
Secret material lives only in ``secret`` (encrypted); ``meta`` holds the non-secret facts that the
panel may show (key id, team, topic, sandbox flag, client email, certificate expiry).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

import orjson
import psycopg
from cryptography import x509
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID
from psycopg.types.json import Jsonb

Provider = Literal["fcm", "apns"]
_PEM_KEY = re.compile(
    rb"-----BEGIN ([A-Z ]*)PRIVATE KEY-----.*?-----END \1PRIVATE KEY-----", re.S
)
_UID_OID = x509.ObjectIdentifier("0.9.2342.19200300.100.1.1")  # Apple puts the bundle id here


class CredentialError(ValueError):
    """A credential that cannot be used; the message says why (never the secret itself)."""


@dataclass(frozen=True)
class FcmServiceAccount:
    info: dict[str, Any]  # the service-account JSON, as google-auth wants it

    @property
    def project_id(self) -> str:
        return str(self.info["project_id"])

    kind = "service_account"
    provider: Provider = "fcm"

    def meta(self) -> dict[str, Any]:
        return {"projectId": self.project_id, "clientEmail": self.info.get("client_email")}

    def secret(self) -> bytes:
        return orjson.dumps(self.info)


@dataclass(frozen=True)
class ApnsTokenKey:
    key_pem: str
    key_id: str
    team_id: str
    topic: str
    sandbox: bool = False

    kind = "token"
    provider: Provider = "apns"

    def meta(self) -> dict[str, Any]:
        return {"keyId": self.key_id, "teamId": self.team_id, "topic": self.topic,
                "sandbox": self.sandbox}

    def secret(self) -> bytes:
        return self.key_pem.encode()


@dataclass(frozen=True)
class ApnsCertificate:
    pem: str  # certificate chain + unencrypted private key, as ssl.load_cert_chain reads it
    topic: str
    sandbox: bool = False
    not_after: str = ""

    kind = "certificate"
    provider: Provider = "apns"

    def meta(self) -> dict[str, Any]:
        return {"topic": self.topic, "sandbox": self.sandbox, "notAfter": self.not_after}

    def secret(self) -> bytes:
        return self.pem.encode()


Credential = FcmServiceAccount | ApnsTokenKey | ApnsCertificate


def parse_fcm_service_account(raw: bytes) -> FcmServiceAccount:
    try:
        info = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise CredentialError(f"service account file is not JSON: {exc}") from None
    if not isinstance(info, dict) or info.get("type") != "service_account":
        raise CredentialError('not a service account file ("type" must be "service_account")')
    missing = [k for k in ("project_id", "private_key", "client_email", "token_uri")
               if not info.get(k)]
    if missing:
        raise CredentialError("service account file lacks " + ", ".join(missing))
    try:
        serialization.load_pem_private_key(str(info["private_key"]).encode(), password=None)
    except (ValueError, TypeError) as exc:
        raise CredentialError(f"service account private_key does not parse: {exc}") from None
    return FcmServiceAccount(info)


def parse_apns_key(
    raw: bytes, key_id: str, team_id: str, topic: str, sandbox: bool = False
) -> ApnsTokenKey:
    try:
        key = serialization.load_pem_private_key(raw, password=None)
    except (ValueError, TypeError) as exc:
        raise CredentialError(f"APNs key (.p8) does not parse: {exc}") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise CredentialError("APNs key must be an ES256 (P-256 elliptic curve) key")
    for name, value in (("key id", key_id), ("team id", team_id), ("topic", topic)):
        if not value or not value.strip():
            raise CredentialError(f"APNs {name} is required with --apns-key")
    return ApnsTokenKey(raw.decode().strip() + "\n", key_id.strip(), team_id.strip(),
                        topic.strip(), sandbox)


def parse_apns_certificate(
    raw: bytes, topic: str | None = None, sandbox: bool = False, password: bytes | None = None
) -> ApnsCertificate:
    """A .p12 (PKCS#12) or PEM (certificate + private key) APNs client certificate."""
    if b"-----BEGIN" in raw:
        try:
            certs = x509.load_pem_x509_certificates(raw)
            key = serialization.load_pem_private_key(_pem_key_block(raw), password=password)
        except (ValueError, TypeError) as exc:
            raise CredentialError(f"APNs certificate PEM does not parse: {exc}") from None
    else:
        try:
            p12_key, cert, extra = pkcs12.load_key_and_certificates(raw, password)
        except (ValueError, TypeError) as exc:
            raise CredentialError(f"APNs certificate .p12 does not parse: {exc}") from None
        if p12_key is None or cert is None:
            raise CredentialError("APNs .p12 must hold a certificate and its private key")
        key = p12_key
        certs = [cert, *extra]
    leaf = certs[0]
    if not topic:
        uid = leaf.subject.get_attributes_for_oid(_UID_OID) or leaf.subject.get_attributes_for_oid(
            NameOID.COMMON_NAME)
        topic = str(uid[0].value) if uid else ""
    if not topic:
        raise CredentialError(
            "APNs topic could not be read from the certificate: pass --apns-topic")
    pem = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)
    pem += key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())
    return ApnsCertificate(pem.decode(), topic, sandbox, leaf.not_valid_after_utc.isoformat())


def _pem_key_block(raw: bytes) -> bytes:
    match = _PEM_KEY.search(raw)
    if match is None:
        raise ValueError("no private key in the PEM file")
    return match.group(0)


def store(conn: psycopg.Connection[Any], app_id: int, cred: Credential, fernet_key: bytes) -> None:
    secret = Fernet(fernet_key).encrypt(cred.secret())
    conn.execute(
        "INSERT INTO app_credentials (app_id, provider, kind, secret, meta)"
        " VALUES (%s, %s, %s, %s, %s)"
        " ON CONFLICT (app_id, provider) DO UPDATE SET kind = EXCLUDED.kind,"
        " secret = EXCLUDED.secret, meta = EXCLUDED.meta, updated_at = now()",
        (app_id, cred.provider, cred.kind, secret, Jsonb(cred.meta())),
    )
    # New credentials are a fix for a credentials failure: clear the flag the DLR side set.
    conn.execute("UPDATE apps SET auth_error = NULL, auth_error_at = NULL WHERE id = %s",
                 (app_id,))


def load(
    conn: psycopg.Connection[Any], app_id: int, provider: Provider, fernet_key: bytes
) -> Credential | None:
    row = conn.execute(
        "SELECT kind, secret, meta FROM app_credentials WHERE app_id = %s AND provider = %s",
        (app_id, provider),
    ).fetchone()
    if row is None:
        return None
    kind, secret, meta = row
    try:
        plain = Fernet(fernet_key).decrypt(bytes(secret))
    except InvalidToken:
        raise CredentialError(
            "stored credentials cannot be decrypted with PUSHFLOW_SECRET_KEY") from None
    if kind == "service_account":
        return FcmServiceAccount(orjson.loads(plain))
    if kind == "token":
        return ApnsTokenKey(plain.decode(), meta["keyId"], meta["teamId"], meta["topic"],
                            bool(meta.get("sandbox")))
    return ApnsCertificate(plain.decode(), meta["topic"], bool(meta.get("sandbox")),
                           meta.get("notAfter", ""))


@dataclass(frozen=True)
class Stored:
    """What may be shown of an app's stored credential: never its secret."""

    provider: Provider
    kind: str
    meta: dict[str, Any]  # key id, team, topic, sandbox, project, client email, notAfter
    updated_at: Any  # datetime


def stored(conn: psycopg.Connection[Any], app_id: int) -> list[Stored]:
    """The app's credentials without their secrets (the panel's credentials page)."""
    rows = conn.execute("SELECT provider, kind, meta, updated_at FROM app_credentials"
                        " WHERE app_id = %s ORDER BY provider", (app_id,)).fetchall()
    return [Stored(r[0], r[1], dict(r[2] or {}), r[3]) for r in rows]
