"""Write ``deploy/pushflow.env.sample``: every ``PUSHFLOW_*`` setting with its default and what
it means, taken from the settings classes themselves (their comments, or ``MEANINGS`` below for a
field without one), so the sample cannot drift from the code.

    python deploy/gen_env_sample.py          # rewrite the sample
    python deploy/gen_env_sample.py --check  # exit 1 if the committed sample is stale (tests)
"""

from __future__ import annotations

import ast
import inspect
import sys
import textwrap
from pathlib import Path
from typing import Any

from pydantic_settings import BaseSettings

from shared.observability.config import ObservabilitySettings
from shared.settings import ENV_PREFIX, Settings

SAMPLE = Path(__file__).with_name("pushflow.env.sample")

# Meanings for fields whose source has no comment of their own.
MEANINGS = {
    "database_url": "PostgreSQL URL (libpq URI); `pushflow migrate` creates the database.",
    "redis_url": "Redis URL: Celery broker, rate limits, APNs JWT cache "
                 "(redis://, rediss:// for TLS).",
    "data_dir": "Folder for local state: generated secret key, sandbox credentials, "
                "`pushflow up` data.",
    "api_host": "Address the API binds to (0.0.0.0 in a container).",
    "api_port": "Port of the API (also /healthz, /readyz, /metrics).",
    "public_url": "The API's public base URL, used in links it returns; unset: derived "
                  "from the request.",
    "max_body_bytes": "Largest request body accepted; larger is 413 PAYLOAD_TOO_LARGE.",
    "db_pool_size": "PostgreSQL connections per API process.",
    "idempotency_ttl_hours": "How long an Idempotency-Key is remembered "
                             "(expired by the beat job).",
    "outbox_sweep_interval_seconds": "How often the outbox sweeper looks for unconfirmed "
                                     "publishes.",
    "max_tokens_per_request": "Default limit: device tokens per POST /v2.1/push.",
    "max_title_ios": "Default limit: title characters for iOS.",
    "max_title_android": "Default limit: title characters for Android.",
    "max_content": "Default limit: content characters.",
    "max_image_url": "Default limit: image URL characters.",
    "max_sound": "Default limit: sound name characters.",
    "max_collapse_key_bytes": "Default limit: collapseKey bytes.",
    "max_external_id": "Default limit: externalId characters.",
    "max_payload_bytes": "Default limit: gateway payload bytes (APNs and FCM both cap at 4096).",
    "max_attempts": "Send attempts before a dispatch fails with retries_exhausted.",
    "retry_base_seconds": "First retry delay; doubles per attempt, with jitter.",
    "retry_max_seconds": "Longest retry delay (stays under Redis' visibility timeout).",
    "quota_retry_floor_seconds": "Shortest wait after FCM QUOTA_EXCEEDED.",
    "send_timeout_seconds": "Timeout of one gateway request.",
    "apns_jwt_refresh_seconds": "Age at which the shared APNs JWT is replaced (20-59 min).",
    "webhook_timeout_seconds": "Timeout of one webhook request.",
    "webhook_retry_hours": "How long a failing webhook is retried before it is dead-lettered.",
    "webhook_allow_http": "Allow http:// webhook URLs (development only; `pushflow up` sets it).",
    "webhook_allow_private": "Allow webhook URLs on private/loopback addresses "
                             "(development only).",
    "webhook_per_host_concurrency": "Webhook requests in flight per receiving host.",
    "fcm_url": "FCM origin (scheme://host[:port]); the sandbox stands in for it in development.",
    "apns_production_url": "APNs production origin.",
    "apns_sandbox_url": "APNs sandbox (development) origin, for apps with --apns-sandbox.",
    "gateway_ca_file": "Extra CA file trusted for gateway TLS (the sandbox's own CA).",
    "delivery_max_in_flight": "Send jobs in flight per worker process.",
    "delivery_batch_size": "Messages a send worker takes per Redis call.",
    "delivery_batch_consumer": "Batched consumer (false: Celery's own per-task consumer).",
    "delivery_guard_ttl_seconds": "How long a dispatch's 'already accepted' guard is kept "
                                  "(no double send on redelivery).",
    "apns_connections": "HTTP/2 connections per APNs origin per worker process.",
    "webhook_retry_base_seconds": "First webhook retry delay; doubles per failed round, "
                                  "with jitter.",
    "webhook_retry_max_seconds": "Longest delay between webhook rounds.",
    "log_level": "DEBUG, INFO, WARNING or ERROR.",
    "log_json": "One JSON object per log line (false: readable text).",
}


def _comments(cls: type[BaseSettings]) -> dict[str, str]:
    """field -> its trailing comment, or the comment block right above it."""
    lines, _ = inspect.getsourcelines(cls)
    tree = ast.parse("".join(lines))
    found: dict[str, str] = {}
    body = tree.body[0].body if isinstance(tree.body[0], ast.ClassDef) else []
    for node in body:
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
            continue
        line = lines[node.lineno - 1]
        if "#" in line:
            found[node.target.id] = line.split("#", 1)[1].strip()
            continue
        above: list[str] = []
        i = node.lineno - 2
        while i >= 0 and lines[i].strip().startswith("#"):
            above.insert(0, lines[i].strip().lstrip("#").strip())
            i -= 1
        if above:
            found[node.target.id] = " ".join(above)
    return found


def _default(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def render() -> str:
    out = [
        "# Pushflow settings: every PUSHFLOW_* variable, its default and what it does.",
        "# Generated by deploy/gen_env_sample.py from shared/settings.py and",
        "# shared/observability/config.py - do not edit by hand. Unset variables take the",
        "# default shown; lines are commented out so this file can be copied as it is.",
        "",
    ]
    for cls in (Settings, ObservabilitySettings):
        comments = _comments(cls)
        out.append(f"# --- {cls.__module__}.{cls.__name__}")
        for name, field in cls.model_fields.items():
            meaning = MEANINGS.get(name) or comments.get(name) or ""
            meaning = meaning[:1].upper() + meaning[1:]
            out.extend(f"# {line}" for line in textwrap.wrap(meaning, 96) or [""])
            out.append(f"#{ENV_PREFIX}{name.upper()}={_default(field.default)}")
        out.append("")
    return "\n".join(out)


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        if not SAMPLE.exists() or SAMPLE.read_text() != text:
            print(f"{SAMPLE} is stale: run python deploy/gen_env_sample.py", file=sys.stderr)
            return 1
        return 0
    SAMPLE.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
