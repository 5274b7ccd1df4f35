"""APNs provider authentication as Apple checks it: an ES256 JWT in ``authorization: bearer``
(``kid`` header, ``iss`` = team id, ``iat`` younger than one hour), or a client certificate
issued by the sandbox CA presented in the TLS handshake (the topic comes from the certificate).

Source: https://developer.apple.com/documentation/usernotifications/establishing-a-token-based-connection-to-apns
and .../establishing-a-certificate-based-connection-to-apns. A verified JWT is cached by its
string (providers reuse one JWT for up to an hour), so the ECDSA check is paid once per JWT,
while its age is checked on every request.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import jwt

from sandbox.credentials import SandboxCredentials

MAX_JWT_AGE_SECONDS = 3600
_CACHE_LIMIT = 10_000


@dataclass(frozen=True, slots=True)
class ProviderJwt:
    header: dict[str, Any]
    claims: dict[str, Any]
    iat: int


@dataclass(frozen=True, slots=True)
class AuthResult:
    reason: str | None  # None when authenticated
    jwt_string: str | None = None
    jwt: ProviderJwt | None = None
    cert_topic: str | None = None


class ApnsAuthenticator:
    def __init__(self, creds: SandboxCredentials) -> None:
        self._creds = creds
        self._verified: dict[str, ProviderJwt | str] = {}  # JWT -> decoded, or failure reason

    def authenticate(
        self, authorization: str | None, peer_cert: dict[str, Any] | None
    ) -> AuthResult:
        if authorization is not None:
            return self._token_auth(authorization)
        if peer_cert is not None:
            topic = cert_topic(peer_cert)
            if topic is None:
                return AuthResult("BadCertificate")
            return AuthResult(None, cert_topic=topic)
        return AuthResult("MissingProviderToken")

    def _token_auth(self, authorization: str) -> AuthResult:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return AuthResult("MissingProviderToken")
        verified = self._verified.get(token)
        if verified is None:
            verified = self._verify(token)
            if len(self._verified) >= _CACHE_LIMIT:
                self._verified.clear()
            self._verified[token] = verified
        if isinstance(verified, str):
            return AuthResult(verified, jwt_string=token)
        if time.time() - verified.iat > MAX_JWT_AGE_SECONDS:
            return AuthResult("ExpiredProviderToken", token, verified)
        return AuthResult(None, token, verified)

    def _verify(self, token: str) -> ProviderJwt | str:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            return "InvalidProviderToken"
        if header.get("alg") != "ES256" or header.get("kid") != self._creds.apns_key_id:
            return "InvalidProviderToken"
        try:
            claims = jwt.decode(
                token,
                self._creds.apns_public_key,
                algorithms=["ES256"],
                options={"require": ["iss", "iat"], "verify_exp": False},
                leeway=60,
            )
        except jwt.PyJWTError:
            return "InvalidProviderToken"
        iat = claims.get("iat")
        if claims.get("iss") != self._creds.apns_team_id or not isinstance(iat, int):
            return "InvalidProviderToken"
        return ProviderJwt(header, claims, iat)


def cert_topic(peer_cert: dict[str, Any]) -> str | None:
    """The bundle id from an APNs client certificate: subject UID (Python names it userId)."""
    for rdn in peer_cert.get("subject", ()):
        for name, value in rdn:
            if name == "userId":
                return str(value)
    return None
