"""The sandbox's own keys and certificates: generated once into the state dir, reused later.

- a CA (``ca.pem``) and a server certificate for 127.0.0.1 / ::1 / localhost signed by it;
- an APNs signing key (EC P-256, PKCS#8 ``.p8``) with a 10-character key id and team id;
- an APNs client certificate + key issued by the CA, for certificate-based auth;
- a Google service account (RSA key) whose ``token_uri`` points at the sandbox OAuth endpoint;
- an HMAC secret for the OAuth access tokens (stateless, so restarts keep tokens valid).
"""

from __future__ import annotations

import datetime as dt
import fcntl
import ipaddress
import json
import os
import secrets
import string
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

APNS_TOPIC = "com.example.pushflow"
GOOGLE_PROJECT_ID = "pushflow-sandbox"
_ID_ALPHABET = string.ascii_uppercase + string.digits
_VALID_DAYS = 3650


@dataclass(frozen=True)
class SandboxCredentials:
    state_dir: Path
    apns_key_id: str
    apns_team_id: str
    apns_topic: str
    apns_public_key: ec.EllipticCurvePublicKey
    google_account: dict[str, str]  # service-account JSON without token_uri
    google_public_key: rsa.RSAPublicKey
    token_secret: bytes

    @property
    def ca_file(self) -> Path:
        return self.state_dir / "ca.pem"

    @property
    def server_cert_file(self) -> Path:
        return self.state_dir / "server.pem"

    @property
    def server_key_file(self) -> Path:
        return self.state_dir / "server-key.pem"

    @property
    def apns_key_file(self) -> Path:
        return self.state_dir / "apns-key.p8"

    @property
    def apns_cert_file(self) -> Path:
        return self.state_dir / "apns-cert.pem"

    def service_account(self, token_uri: str) -> dict[str, str]:
        return {**self.google_account, "token_uri": token_uri}


def load_or_create(state_dir: Path) -> SandboxCredentials:
    """Load the sandbox credentials, generating whatever is missing (safe across processes)."""
    state_dir = state_dir.resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    with _locked(state_dir / ".lock"):
        if not (state_dir / "complete").exists():
            _generate(state_dir)
            (state_dir / "complete").write_text("1\n")
    meta = json.loads((state_dir / "apns.json").read_text())
    apns_key = serialization.load_pem_private_key((state_dir / "apns-key.p8").read_bytes(), None)
    account = json.loads((state_dir / "google-account.json").read_text())
    google_key = serialization.load_pem_private_key(account["private_key"].encode(), None)
    assert isinstance(apns_key, ec.EllipticCurvePrivateKey)
    assert isinstance(google_key, rsa.RSAPrivateKey)
    return SandboxCredentials(
        state_dir=state_dir,
        apns_key_id=meta["keyId"],
        apns_team_id=meta["teamId"],
        apns_topic=meta["topic"],
        apns_public_key=apns_key.public_key(),
        google_account=account,
        google_public_key=google_key.public_key(),
        token_secret=(state_dir / "oauth-secret").read_bytes(),
    )


def write_credentials(creds: SandboxCredentials, dest: Path, urls: dict[str, str]) -> list[Path]:
    """Copy what a Pushflow user needs into ``dest``; ``urls`` has apnsUrl, fcmUrl, oauthUrl."""
    dest = dest.resolve()
    dest.mkdir(parents=True, exist_ok=True)
    sd = creds.state_dir
    apns_meta = {
        "keyId": creds.apns_key_id,
        "teamId": creds.apns_team_id,
        "topic": creds.apns_topic,
        "sandbox": True,
    }
    ca = dest / "ca.pem"
    files: dict[str, bytes] = {
        "apns-key.p8": creds.apns_key_file.read_bytes(),
        "apns.json": _json_bytes(apns_meta),
        "apns-cert.pem": creds.apns_cert_file.read_bytes(),
        "apns-cert.p12": (sd / "apns-cert.p12").read_bytes(),
        "fcm-service-account.json": _json_bytes(creds.service_account(urls["oauthUrl"] + "/token")),
        "ca.pem": creds.ca_file.read_bytes(),
        "sandbox.env": (
            f"PUSHFLOW_FCM_URL={urls['fcmUrl']}\n"
            f"PUSHFLOW_APNS_SANDBOX_URL={urls['apnsUrl']}\n"
            f"PUSHFLOW_APNS_PRODUCTION_URL={urls['apnsUrl']}\n"
            f"PUSHFLOW_GATEWAY_CA_FILE={ca}\n"
        ).encode(),
    }
    written = []
    for name, data in files.items():
        _write_private(dest / name, data)
        written.append(dest / name)
    return written


# -- generation ---------------------------------------------------------------------------------
def _generate(sd: Path) -> None:
    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Pushflow Sandbox CA")])
    ca_cert = (
        _builder(ca_name, ca_name, ca_key.public_key(), now)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    _write_private(sd / "ca-key.pem", _pem_key(ca_key))
    _write_private(sd / "ca.pem", ca_cert.public_bytes(serialization.Encoding.PEM))

    server_key = ec.generate_private_key(ec.SECP256R1())
    san = x509.SubjectAlternativeName(
        [
            x509.DNSName("localhost"),
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
            x509.IPAddress(ipaddress.ip_address("::1")),
        ]
    )
    server_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    server_cert = (
        _leaf(server_name, ca_cert, ca_key, server_key.public_key(), now)
        .add_extension(san, critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
        .sign(ca_key, hashes.SHA256())
    )
    _write_private(sd / "server-key.pem", _pem_key(server_key))
    _write_private(sd / "server.pem", server_cert.public_bytes(serialization.Encoding.PEM))

    # APNs token auth: a .p8 key, key id and team id as Apple issues them.
    apns_key = ec.generate_private_key(ec.SECP256R1())
    team_id = _random_id()
    _write_private(sd / "apns-key.p8", _pem_key(apns_key))
    meta = {"keyId": _random_id(), "teamId": team_id, "topic": APNS_TOPIC}
    _write_private(sd / "apns.json", _json_bytes(meta))

    # APNs certificate auth: Apple puts the bundle id in the subject's UID, the team in OU.
    client_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    client_name = x509.Name(
        [
            x509.NameAttribute(NameOID.USER_ID, APNS_TOPIC),
            x509.NameAttribute(NameOID.COMMON_NAME, f"Apple Sandbox Push Services: {APNS_TOPIC}"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, team_id),
        ]
    )
    client_cert = (
        _leaf(client_name, ca_cert, ca_key, client_key.public_key(), now)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), False)
        .sign(ca_key, hashes.SHA256())
    )
    cert_pem = client_cert.public_bytes(serialization.Encoding.PEM)
    _write_private(sd / "apns-cert.pem", cert_pem + _pem_key(client_key))
    p12 = pkcs12.serialize_key_and_certificates(
        b"pushflow-sandbox", client_key, client_cert, None, serialization.NoEncryption()
    )
    _write_private(sd / "apns-cert.p12", p12)

    google_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    email = f"pushflow-sandbox@{GOOGLE_PROJECT_ID}.iam.gserviceaccount.com"
    account = {
        "type": "service_account",
        "project_id": GOOGLE_PROJECT_ID,
        "private_key_id": secrets.token_hex(20),
        "private_key": _pem_key(google_key).decode(),
        "client_email": email,
        "client_id": str(secrets.randbelow(10**20)),
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
    }
    _write_private(sd / "google-account.json", _json_bytes(account))
    _write_private(sd / "oauth-secret", secrets.token_bytes(32))


def _builder(
    subject: x509.Name, issuer: x509.Name, public_key: Any, now: dt.datetime
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=_VALID_DAYS))
    )


def _leaf(
    subject: x509.Name,
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    public_key: Any,
    now: dt.datetime,
) -> x509.CertificateBuilder:
    aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key())
    return (
        _builder(subject, ca_cert.subject, public_key, now)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(aki, critical=False)
    )


def _key_usage(cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=not cert_sign,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _pem_key(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _random_id() -> str:
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(10))


def _json_bytes(obj: Any) -> bytes:
    return (json.dumps(obj, indent=2) + "\n").encode()


def _write_private(path: Path, data: bytes) -> None:
    """Write atomically with mode 0600 (keys live here)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
