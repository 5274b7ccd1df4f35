"""Scrubbing of secrets and device tokens from log text.

Applied to every formatted log line (and, by ``RedactingFilter``, to records before any other
handler sees them), so a secret passed to a log call by mistake - an API key, a webhook signing
secret, a .p8/service-account private key, a database password in a URL - never reaches the log
store. Device tokens are not secret but personal: they are shortened with ``shared.tokens.mask``
(enough to correlate, never the whole value).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

from shared.tokens import mask

_Sub = tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]]

_SUBSTITUTIONS: tuple[_Sub, ...] = (
    # PEM private keys (APNs .p8, service-account JSON), raw or JSON-escaped.
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----",
                re.DOTALL), "[private key redacted]"),
    # Pushflow API secrets and Standard Webhooks signing secrets.
    (re.compile(r"\bpf_[A-Za-z0-9_-]{8,}"), "pf_***"),
    (re.compile(r"\bwhsec_[A-Za-z0-9+/=_-]{4,}"), "whsec_***"),
    # Authorization header values and bearer tokens (OAuth access tokens, APNs JWTs).
    (re.compile(r"(?i)(\"?authorization\"?\s*[:=]\s*\"?)(?:bearer\s+)?[^\s\",}]+"), r"\1***"),
    (re.compile(r"(?i)\bbearer\s+(?:bearer\s+)*[A-Za-z0-9._~+/=-]+"), "Bearer ***"),
    # key=value / "key": "value" pairs whose key says secret.
    (re.compile(r"(?i)(\"?(?:secret(?:_key)?|password|passwd|private_key|client_secret|api_key)"
                r"\"?\s*[:=]\s*\"?)[^\s\",}]+"), r"\1***"),
    # Passwords inside connection URLs: scheme://user:password@host.
    (re.compile(r"(\b[a-z][a-z0-9+.-]*://[^:/@\s]*:)[^@/\s]+@"), r"\1***@"),
    # Device tokens: APNs (hex, 32+ bytes) and FCM registration tokens.
    (re.compile(r"\b(?:[0-9a-fA-F]{2}){32,100}\b"), lambda m: mask(m.group(0))),
    (re.compile(r"(?:[A-Za-z0-9_-]{8,}:)?APA91[A-Za-z0-9_-]{60,4000}"),
     lambda m: mask(m.group(0))),
)


def redact(text: str) -> str:
    """``text`` with secrets replaced and device tokens masked."""
    for pattern, replacement in _SUBSTITUTIONS:
        text = pattern.sub(replacement, text)
    return text


class RedactingFilter(logging.Filter):
    """Rewrites a record's message (with its args merged) and exception text in place."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a bad format string: keep the raw template
            message = str(record.msg)
        record.msg = redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True
