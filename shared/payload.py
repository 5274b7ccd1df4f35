"""Validation of a push request body (the contract's ``POST /v2.1/push`` fields) against an app's
limits, without I/O: the intake calls ``parse_push`` first, decides each token's platform
(``shared.tokens`` + registered devices), then ``check_platform_limits`` for the limits that
depend on the platform (title length, gateway payload size).

Errors are ``FieldError`` values with the contract's per-field codes; the caller renders them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import orjson

from shared.addresses import webhook_url_problem
from shared.gateway_payloads import payload_size
from shared.jobs import MessageContent
from shared.settings import Settings
from shared.tokens import PLATFORMS, Platform

# Upper bound of what a gateway payload adds to the message's own JSON
# (shared.gateway_payloads: "aps", "alert", "mutable-content", "android", "notification",
# "ttl", "collapse_key" ...: < 200 bytes).
PAYLOAD_STRUCTURE_BOUND = 512
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".gif")
MAX_WEBHOOK_URL = 2048
MAX_BADGE = 2**31 - 1
# FCM rejects these data keys (https://firebase.google.com/docs/cloud-messaging/concept-options#
# data_messages); "aps" is APNs' own dictionary at the top level of the payload.
_RESERVED_DATA_KEYS = frozenset({"from", "message_type", "collapse_key", "aps", "notification"})
_RESERVED_DATA_PREFIXES = ("google.", "gcm.")


@dataclass(frozen=True)
class Limits:
    """An app's limits: the settings' defaults overridden by ``apps.limits`` (same names)."""

    max_tokens_per_request: int = 1000
    max_title_ios: int = 35
    max_title_android: int = 46
    max_content: int = 171
    max_image_url: int = 250
    max_sound: int = 250
    max_collapse_key_bytes: int = 64
    max_external_id: int = 64
    max_payload_bytes: int = 4096

    @classmethod
    def from_settings(cls, settings: Settings, overrides: Mapping[str, Any] | None = None
                      ) -> Limits:
        values: dict[str, int] = {}
        for f in fields(cls):
            value = (overrides or {}).get(f.name, getattr(settings, f.name))
            # A malformed override never breaks the API: it falls back to the default.
            ok = isinstance(value, int) and not isinstance(value, bool) and value > 0
            values[f.name] = value if ok else int(getattr(settings, f.name))
        return cls(**values)


@dataclass(frozen=True)
class FieldError:
    code: str  # REQUIRED, TOO_LONG, TOO_MANY, INVALID_FORMAT, INVALID_IMAGE, ...
    parameter: str
    message: str
    value: Any = None


@dataclass
class PushRequest:
    tokens: list[str]
    content: MessageContent
    platform: Platform | None = None  # the client's hint for tokens of no recognisable shape
    ttl: int | None = None
    schedule_time: datetime | None = None
    external_id: str | None = None
    webhook_url: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def parse_time(value: str) -> datetime:
    """RFC 3339 or ``YYYY-MM-DD hh:mm:ss`` (UTC when no offset is given); ValueError if neither."""
    if not isinstance(value, str) or not 10 <= len(value) <= 40:
        raise ValueError("not a date-time")
    parsed = datetime.fromisoformat(value.replace("z", "Z"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class _Checker:
    def __init__(self, body: Mapping[str, Any], limits: Limits) -> None:
        self.body = body
        self.limits = limits
        self.errors: list[FieldError] = []

    def fail(self, code: str, parameter: str, message: str, value: Any = None) -> None:
        self.errors.append(FieldError(code, parameter, message, value))

    def string(self, name: str, max_chars: int | None = None, *, max_bytes: int | None = None
               ) -> str | None:
        value = self.body.get(name)
        if value is None:
            return None
        if not isinstance(value, str):
            self.fail("INVALID_FORMAT", name, f"'{name}' must be a string", value)
            return None
        if max_chars is not None and len(value) > max_chars:
            self.fail("TOO_LONG", name, f"'{name}' exceeds {max_chars} characters", value)
            return None
        if max_bytes is not None and len(value.encode()) > max_bytes:
            self.fail("TOO_LONG", name, f"'{name}' exceeds {max_bytes} bytes", value)
            return None
        return value

    def tokens(self) -> list[str]:
        raw = self.body.get("device_tokens")
        if raw is None or raw == []:
            self.fail("REQUIRED", "device_tokens", "'device_tokens' needs at least one token")
            return []
        if not isinstance(raw, list):
            self.fail("INVALID_FORMAT", "device_tokens", "'device_tokens' must be a list", raw)
            return []
        if len(raw) > self.limits.max_tokens_per_request:
            self.fail("TOO_MANY", "device_tokens",
                      f"at most {self.limits.max_tokens_per_request} tokens per request",
                      len(raw))
            return []
        seen: dict[str, int] = {}
        for i, token in enumerate(raw):
            if not isinstance(token, str):
                self.fail("INVALID_FORMAT", f"device_tokens[{i}]", "a token must be a string",
                          token)
            elif token in seen:
                self.fail("INVALID_FORMAT", f"device_tokens[{i}]",
                          f"duplicate of device_tokens[{seen[token]}]", token)
            else:
                seen[token] = i
        return list(raw)

    def https_url(self, name: str, max_chars: int, *, allow_http: bool = False) -> str | None:
        value = self.string(name, max_chars)
        if value is None:
            return None
        try:
            parts = urlsplit(value)
            ok_host = bool(parts.hostname)
        except ValueError:
            parts, ok_host = None, False
        schemes = ("https", "http") if allow_http else ("https",)
        if parts is None or not ok_host or any(c.isspace() for c in value):
            self.fail("INVALID_FORMAT", name, f"'{name}' must be an absolute URL", value)
            return None
        if parts.scheme not in schemes:
            code = "INVALID_IMAGE" if name == "image" else "INVALID_FORMAT"
            self.fail(code, name, f"'{name}' must be an https URL", value)
            return None
        return value

    def image(self) -> str | None:
        value = self.https_url("image", self.limits.max_image_url)
        if value is not None and not urlsplit(value).path.lower().endswith(IMAGE_EXTENSIONS):
            self.fail("INVALID_IMAGE", "image", "'image' must be a JPG, PNG or GIF URL", value)
            return None
        return value

    def data(self) -> dict[str, str] | None:
        value = self.body.get("data")
        if value is None:
            return None
        if not isinstance(value, dict):
            self.fail("INVALID_FORMAT", "data", "'data' must be an object of strings", value)
            return None
        ok = True
        for key, item in value.items():
            if key in _RESERVED_DATA_KEYS or key.startswith(_RESERVED_DATA_PREFIXES) or not key:
                self.fail("INVALID_FORMAT", f"data.{key}", f"'{key}' is a reserved key", key)
                ok = False
            elif not isinstance(item, str):
                self.fail("INVALID_FORMAT", f"data.{key}", "data values must be strings", item)
                ok = False
        return value if ok else None

    def flag(self, name: str) -> bool | None:
        value = self.body.get(name)
        if value is not None and not isinstance(value, bool):
            self.fail("INVALID_FORMAT", name, f"'{name}' must be true or false", value)
            return None
        return value

    def choice(self, name: str, options: Iterable[str]) -> str | None:
        value = self.body.get(name)
        if value is not None and value not in tuple(options):
            self.fail("INVALID_FORMAT", name,
                      f"'{name}' must be one of {', '.join(options)}", value)
            return None
        return value


def parse_push(body: Any, limits: Limits, now: float, *, allow_http_webhook: bool = False,
               allow_private_webhook: bool = False
               ) -> tuple[PushRequest | None, list[FieldError]]:
    """The request, or the per-field errors that make the whole request invalid (422)."""
    if not isinstance(body, dict):
        return None, [FieldError("INVALID_FORMAT", "body", "the body must be a JSON object")]
    c = _Checker(body, limits)
    tokens = c.tokens()
    content: MessageContent = {}
    title = c.string("title", max(limits.max_title_ios, limits.max_title_android))
    text = c.string("content", limits.max_content)
    silent = c.flag("silent")
    if text is None and not silent and not any(e.parameter == "content" for e in c.errors):
        c.fail("REQUIRED", "content", "'content' is required unless 'silent' is true")
    image = c.image()
    data = c.data()
    sound = c.string("sound", limits.max_sound)
    badge = body.get("badge")
    if badge is not None and (not _is_int(badge) or not 0 <= badge <= MAX_BADGE):
        c.fail("INVALID_FORMAT", "badge", "'badge' must be a non-negative integer", badge)
        badge = None
    priority = c.choice("priority", ("high", "normal"))
    collapse = c.string("collapseKey", max_bytes=limits.max_collapse_key_bytes)
    platform = c.choice("platform", PLATFORMS)
    external_id = c.string("externalId", limits.max_external_id)
    webhook = c.https_url("webhookUrl", MAX_WEBHOOK_URL, allow_http=allow_http_webhook)
    if webhook is not None:
        # Checked again against every resolved address when the webhook is sent; refused here
        # when the URL alone shows it (no DNS look-up on the intake's hot path).
        why = webhook_url_problem(webhook, allow_private=allow_private_webhook)
        if why:
            c.fail("INVALID_FORMAT", "webhookUrl", f"'webhookUrl' {why}", webhook)
            webhook = None
    ttl = body.get("ttl")
    if ttl is not None:
        if not _is_int(ttl) or not 0 <= ttl < 2**40:
            c.fail("INVALID_FORMAT", "ttl", "'ttl' must be a unix timestamp in seconds", ttl)
            ttl = None
        elif ttl <= now:
            c.fail("TTL_IN_PAST", "ttl", "'ttl' is in the past", ttl)
            ttl = None
    schedule: datetime | None = None
    raw_schedule = body.get("scheduleTime")
    if raw_schedule is not None:
        try:
            schedule = parse_time(raw_schedule)
        except (ValueError, TypeError):
            c.fail("INVALID_FORMAT", "scheduleTime",
                   "'scheduleTime' must be RFC 3339 or 'YYYY-MM-DD hh:mm:ss'", raw_schedule)
    if schedule is not None and ttl is not None and ttl <= schedule.timestamp():
        c.fail("TTL_IN_PAST", "ttl", "'ttl' is before 'scheduleTime'", ttl)
    if c.errors:
        return None, c.errors
    for key, value in (("title", title), ("content", text), ("image", image), ("data", data),
                       ("sound", sound), ("silent", silent), ("badge", badge),
                       ("priority", priority), ("collapseKey", collapse)):
        if value is not None:
            content[key] = value  # type: ignore[literal-required]  # keys are the literals
    hint: Platform | None = "ios" if platform == "ios" else "android" if platform else None
    return PushRequest(tokens, content, hint, ttl, schedule, external_id, webhook), []


def check_platform_limits(content: MessageContent, platforms: Iterable[Platform],
                          limits: Limits) -> list[FieldError]:
    """Limits that depend on the platform of the tokens the message goes to."""
    errors: list[FieldError] = []
    title = content.get("title")
    # The gateway payloads hold the message's fields plus a bounded structure (key names,
    # priority, ttl...): when the fields alone are far below the limit, the exact size (building
    # both payloads, a few microseconds each) cannot exceed it.
    small = len(orjson.dumps(content)) + PAYLOAD_STRUCTURE_BOUND <= limits.max_payload_bytes
    for platform in sorted(set(platforms)):
        name = "iOS" if platform == "ios" else "Android"
        max_title = limits.max_title_ios if platform == "ios" else limits.max_title_android
        if title is not None and len(title) > max_title:
            errors.append(FieldError("TOO_LONG", "title",
                                     f"'title' exceeds {max_title} characters for {name}", title))
        # The same bytes the send workers will build (shared.gateway_payloads), so a message
        # accepted here is never refused by the worker as too large.
        size = 0 if small else payload_size(content, platform)
        if size > limits.max_payload_bytes:
            errors.append(FieldError(
                "PAYLOAD_TOO_LARGE", "data",
                f"the {name} payload would be {size} bytes; the limit is "
                f"{limits.max_payload_bytes}", size))
    return errors
