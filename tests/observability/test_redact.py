"""Secrets never reach the logs; device tokens only masked."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import secrets

from shared.observability.logs import configure_logging
from shared.observability.redact import redact

APNS_TOKEN = secrets.token_hex(32)
FCM_TOKEN = "cW1nb2Rl:APA91b" + "x" * 140
PEM = ("-----BEGIN PRIVATE KEY-----\nMIGTAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBHkwdwIBAQQg\n"
       "-----END PRIVATE KEY-----")


def test_redact_removes_secrets_and_masks_tokens() -> None:
    text = redact(
        f"key pf_{'a' * 40} hook whsec_{'b' * 44} auth Authorization: pf_zzz "
        f"bearer Bearer eyJhbGciOiJFUzI1NiJ9.e30.sig url postgresql://user:hunter2@db:5432/x "
        f'{{"private_key": "{PEM}"}} secret_key=abcdef tokens {APNS_TOKEN} {FCM_TOKEN}'
    )
    for leaked in ("a" * 40, "b" * 44, "pf_zzz", "eyJhbGciOiJFUzI1NiJ9", "hunter2",
                   "MIGTAgEAMBMG", "abcdef", APNS_TOKEN, FCM_TOKEN):
        assert leaked not in text, leaked
    assert f"{APNS_TOKEN[:6]}…{APNS_TOKEN[-4:]}" in text
    assert "postgresql://user:***@db:5432/x" in text


def test_every_log_line_is_json_and_redacted_including_exceptions() -> None:
    handler = configure_logging("test", level="INFO", json_output=True)
    stream = io.StringIO()
    log = logging.getLogger("pushflow.test.redact")
    with contextlib.redirect_stderr(stream):  # the handler writes to the current stderr
        log.info("sending to %s with %s", APNS_TOKEN, f"pf_{'c' * 30}", extra={"secret": "x"})
        try:
            raise ValueError(f"bad key {PEM}")
        except ValueError:
            log.exception("credential refused for whsec_%s", "d" * 40)
    logging.getLogger().removeHandler(handler)
    lines = stream.getvalue().splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["level"] for r in records] == ["INFO", "ERROR"]
    joined = "\n".join(lines)
    for leaked in (APNS_TOKEN, "c" * 30, "d" * 40, "MIGTAgEAMBMG"):
        assert leaked not in joined
    assert "ValueError" in records[1]["exc"]
