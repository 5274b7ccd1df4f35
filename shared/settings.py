"""Typed settings read from ``PUSHFLOW_*`` environment variables.

Every setting has a default that works on a developer machine; production overrides them by
environment (see ``deploy/pushflow.env.sample``). A bad value stops start-up with a message that
names the variable, never with a traceback.
"""

from __future__ import annotations

import functools
import os
import secrets
from pathlib import Path

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "PUSHFLOW_"


class SettingsError(Exception):
    """A ``PUSHFLOW_*`` variable holds a value that cannot be used."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True, extra="ignore")

    # Where things live.
    database_url: str = "postgresql://127.0.0.1:5432/pushflow"
    redis_url: str = "redis://127.0.0.1:6379/0"
    data_dir: Path = Path(".pushflow")
    # Fernet key (urlsafe base64, 32 bytes) that encrypts stored gateway credentials. When unset,
    # one is generated once into ``data_dir/secret.key`` so a development machine just works.
    secret_key: str | None = None

    # Intake API.
    api_host: str = "127.0.0.1"
    api_port: int = Field(8080, ge=1, le=65535)
    public_url: str | None = None
    max_body_bytes: int = Field(1024 * 1024, ge=1024)
    db_pool_size: int = Field(10, ge=1, le=500)
    idempotency_ttl_hours: int = Field(24, ge=1)
    # The outbox sweeper re-publishes dispatches whose publish was never confirmed after this long.
    outbox_sweep_after_seconds: float = Field(5.0, gt=0)
    outbox_sweep_interval_seconds: float = Field(2.0, gt=0)
    # Largest request line plus headers, in bytes; larger is 431 HEADERS_TOO_LARGE.
    api_max_header_bytes: int = Field(16 * 1024, ge=1024, le=1024 * 1024)
    # Most header fields in one request; more is 431 HEADERS_TOO_LARGE.
    api_max_headers: int = Field(100, ge=16, le=10_000)
    # Seconds a request's line and headers may take to arrive (from its first byte, or from
    # the connection's opening); slower is 408 REQUEST_TIMEOUT.
    api_header_timeout_seconds: float = Field(10.0, gt=0)
    # Request limits, shared by every API process through Redis (producer/ratelimit.py); past
    # one, 429 RATE_LIMITED with Retry-After.
    # POST /v2.1/push requests per second per app, sustained (0: unlimited); an app may have its
    # own in ``apps.limits`` (same name).
    intake_requests_per_second: float = Field(500.0, ge=0)
    # POST /v2.1/push requests an app may send at once (the bucket; ``apps.limits`` too).
    intake_request_burst: int = Field(1000, ge=1)
    # Wrong secrets per application key and client address before that address is refused for
    # that key, its secret not even checked, until the window ends.
    auth_failure_limit: int = Field(10, ge=1)
    # The window of auth_failure_limit, from the first failure.
    auth_failure_window_seconds: int = Field(300, ge=1)

    # Default per-app limits (an app may override them).
    max_tokens_per_request: int = Field(1000, ge=1)
    max_title_ios: int = Field(35, ge=1)
    max_title_android: int = Field(46, ge=1)
    max_content: int = Field(171, ge=1)
    max_image_url: int = Field(250, ge=1)
    max_sound: int = Field(250, ge=1)
    max_collapse_key_bytes: int = Field(64, ge=1)
    max_external_id: int = Field(64, ge=1)
    max_payload_bytes: int = Field(4096, ge=256)

    # Delivery.
    # Sends per second of one app on one gateway, per lane (an app may set its own,
    # domain/keys/send_rates.py). Campaigns go at most at the bulk rate.
    send_rate_per_second: float = Field(1000.0, ge=0)  # Per app and gateway, tx lane; 0: unlimited
    bulk_send_rate_per_second: float = Field(750.0, ge=0)  # The same, bulk lane (campaigns)
    max_attempts: int = Field(8, ge=1, le=100)
    retry_base_seconds: float = Field(2.0, gt=0)
    retry_max_seconds: float = Field(600.0, gt=0)
    quota_retry_floor_seconds: float = Field(60.0, ge=0)
    send_timeout_seconds: float = Field(10.0, gt=0)
    # Gateway origins (scheme://host[:port]); the sandbox gateways stand in for them in
    # development and tests. The extra CA file lets clients trust the sandbox's own CA.
    fcm_url: str = "https://fcm.googleapis.com"
    apns_production_url: str = "https://api.push.apple.com"
    apns_sandbox_url: str = "https://api.sandbox.push.apple.com"
    gateway_ca_file: Path | None = None
    apns_jwt_refresh_seconds: int = Field(30 * 60, ge=20 * 60, le=59 * 60)
    # Send workers (docs/delivery.md): jobs in flight per process, messages taken per Redis
    # call, the batched consumer (false: Celery's own per-task consumer), APNs connections per
    # origin, and how long the "already accepted" guard of a dispatch is kept.
    delivery_max_in_flight: int = Field(1000, ge=1, le=100_000)
    delivery_batch_size: int = Field(200, ge=1, le=5000)
    # Bulk (campaign) sends a worker holds: between these two, following the gateway's answer
    # times (workers/delivery/bulk_limit.py); the rest of delivery_max_in_flight stays free for
    # transactional sends.
    delivery_bulk_min_in_flight: int = Field(100, ge=1, le=100_000)
    delivery_bulk_max_in_flight: int = Field(800, ge=1, le=100_000)
    # Jobs a send worker holds back for an app's rate limit without counting them against
    # delivery_max_in_flight (so other apps keep flowing); past it they count, and the worker
    # takes no more from the queue: the rest waits in Redis, for any worker, not in one's memory.
    delivery_max_parked: int = Field(5000, ge=0, le=1_000_000)
    delivery_batch_consumer: bool = True
    delivery_guard_ttl_seconds: int = Field(2 * 24 * 3600, ge=3600)
    apns_connections: int = Field(1, ge=1, le=32)
    # HTTP/2 connections per FCM origin per worker process, opened only when the open ones have
    # no free stream (each allows the server's SETTINGS_MAX_CONCURRENT_STREAMS).
    fcm_connections: int = Field(10, ge=1, le=64)

    # Delivery reports and webhooks.
    webhook_timeout_seconds: float = Field(5.0, gt=0)
    webhook_retry_hours: float = Field(25.0, gt=0)
    webhook_allow_http: bool = False
    webhook_allow_private: bool = False
    # Backoff between failed rounds: base * 2**(round-1), capped, with jitter (issue 4).
    webhook_retry_base_seconds: float = Field(10.0, gt=0)
    webhook_retry_max_seconds: float = Field(3600.0, gt=0)
    webhook_concurrency: int = Field(500, ge=1)  # requests in flight per sender process
    webhook_per_app_concurrency: int = Field(50, ge=1)  # so one slow receiver cannot hog it
    webhook_per_host_concurrency: int = Field(50, ge=1)
    webhook_secret_overlap_hours: float = Field(24.0, ge=0)  # old secret still signs this long
    webhook_poll_seconds: float = Field(0.2, gt=0)  # sender's idle poll interval

    # The panel (producer/panel, docs/panel.md). Session cookies are Secure when the request
    # came over TLS (the scheme a trusted proxy forwarded) or when this is true.
    panel_secure_cookies: bool = False
    panel_session_hours: float = Field(12.0, gt=0, le=24 * 30)
    # Failed sign-ins per email, and per client address, within the window; past either, sign-in
    # is refused (429) until the window that began with the first failure ends.
    panel_signin_email_limit: int = Field(5, ge=1)
    panel_signin_address_limit: int = Field(50, ge=1)
    panel_signin_window_seconds: int = Field(900, ge=1)

    # Operations.
    log_level: str = Field("INFO", pattern="^(DEBUG|INFO|WARNING|ERROR)$")
    log_json: bool = True
    # One INFO access-log line per successful API request (with its uniqId). Error answers are
    # always logged. A high-volume deployment that relies on metrics for successes can turn it
    # off: a JSON line costs about a third of a 1-token push's CPU (docs/benchmarks.md).
    access_log_successes: bool = True

    def fernet_key(self) -> bytes:
        """The credential-encryption key, generated into ``data_dir`` on first use if unset."""
        if self.secret_key:
            return self.secret_key.encode()
        path = self.data_dir / "secret.key"
        if not path.exists():
            from cryptography.fernet import Fernet

            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(Fernet.generate_key())
        return path.read_bytes().strip()


def load_settings() -> Settings:
    """Read settings from the environment, translating validation errors to ``SettingsError``."""
    try:
        return Settings()
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            field = str(err["loc"][0]) if err["loc"] else "?"
            problems.append(f"{ENV_PREFIX}{field.upper()}: {err['msg']}")
        raise SettingsError("invalid setting(s): " + "; ".join(problems)) from None


@functools.lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once (tests call ``get_settings.cache_clear()``)."""
    return load_settings()


def random_token(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)
