"""Google's OAuth 2.0 token endpoint for service accounts, and the access tokens it issues.

``POST /token`` with ``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`` and an RS256
``assertion`` signed by the sandbox service account (RFC 7523; Google's flow in
https://developers.google.com/identity/protocols/oauth2/service-account#httprest). The
assertion's ``aud`` is not checked: firebase-admin keeps Google's token URL there.

Access tokens are HMAC-signed (secret in the state dir), so they stay valid across restarts and
need no shared table.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
import urllib.parse

import jwt
import orjson

from sandbox.credentials import SandboxCredentials
from sandbox.messages import Answer, Request, json_answer
from sandbox.state import SandboxState

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
TOKEN_LIFETIME = 3600
_TOKEN_PREFIX = "ya29.sandbox."


class AccessTokens:
    """Mint and check the bearer tokens FCM requests carry."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def mint(self, project_id: str) -> str:
        claims = {
            "p": project_id,
            "e": int(time.time()) + TOKEN_LIFETIME,
            "n": secrets.token_hex(8),
        }
        body = _b64(orjson.dumps(claims))
        return f"{_TOKEN_PREFIX}{body}.{self._sign(body)}"

    def project_of(self, token: str) -> str | None:
        """The project a still-valid token was issued for, or None."""
        if not token.startswith(_TOKEN_PREFIX):
            return None
        body, _, sig = token[len(_TOKEN_PREFIX) :].partition(".")
        if not hmac.compare_digest(sig, self._sign(body)):
            return None
        try:
            claims = orjson.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        except (ValueError, orjson.JSONDecodeError):
            return None
        if not isinstance(claims, dict) or claims.get("e", 0) < time.time():
            return None
        project = claims.get("p")
        return project if isinstance(project, str) else None

    def _sign(self, body: str) -> str:
        return _b64(hmac.new(self._secret, body.encode(), hashlib.sha256).digest())


class OAuthEndpoint:
    def __init__(
        self, creds: SandboxCredentials, state: SandboxState, tokens: AccessTokens
    ) -> None:
        self._creds = creds
        self._state = state
        self._tokens = tokens

    def __call__(self, req: Request) -> Answer:
        if req.path.split("?", 1)[0] != "/token":
            return json_answer(404, {"error": "not_found"})
        if req.method != "POST":
            return json_answer(405, {"error": "invalid_request", "error_description": "use POST"})
        form = urllib.parse.parse_qs(req.body.decode("utf-8", "replace"))
        if form.get("grant_type", [""])[0] != JWT_BEARER:
            return _oauth_error("unsupported_grant_type", "Invalid grant_type.")
        assertion = form.get("assertion", [""])[0]
        problem = self._check_assertion(assertion)
        if problem:
            return _oauth_error("invalid_grant", problem)
        self._state.oauth_tokens_issued += 1
        token = self._tokens.mint(self._creds.google_account["project_id"])
        return json_answer(
            200, {"access_token": token, "expires_in": TOKEN_LIFETIME, "token_type": "Bearer"}
        )

    def _check_assertion(self, assertion: str) -> str | None:
        account = self._creds.google_account
        try:
            header = jwt.get_unverified_header(assertion)
            if header.get("kid") not in (None, account["private_key_id"]):
                return "Invalid JWT Signature."
            claims = jwt.decode(
                assertion,
                self._creds.google_public_key,
                algorithms=["RS256"],
                options={"verify_aud": False, "require": ["iss", "iat", "exp"]},
                leeway=60,
            )
        except jwt.ExpiredSignatureError:
            return "Invalid JWT: Token must be a short-lived token and in a reasonable timeframe."
        except jwt.PyJWTError:
            return "Invalid JWT Signature."
        if claims.get("iss") != account["client_email"]:
            return "Invalid JWT: iss does not match the service account."
        return None


def _oauth_error(error: str, description: str) -> Answer:
    return json_answer(400, {"error": error, "error_description": description})


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
