"""Webhook signing secrets and Standard Webhooks signatures.

Secrets are ``whsec_`` + base64 of 32 random bytes (the Standard Webhooks format, so any of its
libraries accepts them), stored Fernet-encrypted with the installation key. While a rotation's
overlap lasts, every live secret signs: the ``webhook-signature`` header carries one
``v1,<sig>`` per secret, space-separated, and a receiver holding either secret verifies.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime

from cryptography.fernet import Fernet
from standardwebhooks.webhooks import Webhook

SECRET_PREFIX = "whsec_"


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def encrypt(fernet: Fernet, secret: str) -> bytes:
    return fernet.encrypt(secret.encode())


class Signer:
    """Signs bodies with decrypted secrets, caching one ``Webhook`` per encrypted secret (the
    ciphertext is the cache key, so a rotation is picked up as soon as the new row is read)."""

    def __init__(self, fernet: Fernet, max_cached: int = 10_000) -> None:
        self._fernet = fernet
        self._cache: dict[bytes, Webhook] = {}
        self._max = max_cached

    def _webhook(self, encrypted: bytes) -> Webhook:
        hook = self._cache.get(encrypted)
        if hook is None:
            if len(self._cache) >= self._max:
                self._cache.clear()
            hook = Webhook(self._fernet.decrypt(encrypted).decode())
            self._cache[encrypted] = hook
        return hook

    def headers(self, msg_id: str, body: str, encrypted_secrets: Sequence[bytes],
                now: float) -> dict[str, str]:
        """The three Standard Webhooks headers for one attempt (timestamp = attempt time)."""
        stamp = datetime.fromtimestamp(int(now), tz=UTC)
        signatures = " ".join(self._webhook(s).sign(msg_id, stamp, body)
                              for s in encrypted_secrets)
        return {
            "webhook-id": msg_id,
            "webhook-timestamp": str(int(now)),
            "webhook-signature": signatures,
            "content-type": "application/json",
        }
