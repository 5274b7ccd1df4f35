"""The push request (the contract's ``POST /v2.1/push`` body): its declared model, ``PushBody``,
checked against an app's limits without I/O. The intake calls ``parse_push`` first, decides each
token's platform (``shared.tokens`` + registered devices), then ``check_platform_limits`` for the
limits that depend on the platform (title length, gateway payload size).

Errors are ``FieldError`` values with the contract's per-field codes (``shared.validation``);
the caller renders them. ``/openapi.json`` describes the body from ``PushBody``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import orjson
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)

from shared.addresses import webhook_url_problem
from shared.gateway_payloads import payload_size
from shared.jobs import MessageContent
from shared.settings import Settings
from shared.tokens import Platform
from shared.validation import FieldError as FieldError  # re-exported: the intake's errors
from shared.validation import context_of, per_app, refuse, validate

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
    user_ids: list[str] = field(default_factory=list)  # sent to their registered devices too


def parse_time(value: str) -> datetime:
    """RFC 3339 or ``YYYY-MM-DD hh:mm:ss`` (UTC when no offset is given); ValueError if neither."""
    if not isinstance(value, str) or not 10 <= len(value) <= 40:
        raise ValueError("not a date-time")
    parsed = datetime.fromisoformat(value.replace("z", "Z"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


_DEFAULT_LIMITS = Limits()


def _limits(info: ValidationInfo) -> Limits:
    limits = context_of(info).get("limits")
    return limits if type(limits) is Limits else _DEFAULT_LIMITS  # exact type: cheaper check


def _at_most(value: str, limit: str, name: str, info: ValidationInfo) -> str:
    bound = getattr(_limits(info), limit)
    if len(value) > bound:
        refuse("TOO_LONG", f"'{name}' exceeds {bound} characters")
    return value


def _url(value: str, name: str, *, allow_http: bool = False) -> str:
    try:
        parts = urlsplit(value)
        ok = bool(parts.hostname) and not any(c.isspace() for c in value)
    except ValueError:
        ok = False
    if not ok:
        refuse("INVALID_FORMAT", f"'{name}' must be an absolute URL")
    if parts.scheme not in (("https", "http") if allow_http else ("https",)):
        refuse("INVALID_IMAGE" if name == "image" else "INVALID_FORMAT",
               f"'{name}' must be an https URL")
    return value


def _schedule_time(value: Any) -> datetime:
    try:
        return parse_time(value)
    except (ValueError, TypeError):
        refuse("INVALID_FORMAT", "'scheduleTime' must be RFC 3339 or 'YYYY-MM-DD hh:mm:ss'")


def _data_key(key: str) -> str:
    if not key or key in _RESERVED_DATA_KEYS or key.startswith(_RESERVED_DATA_PREFIXES):
        refuse("INVALID_FORMAT", f"'{key}' is a reserved key")
    return key


DataKey = Annotated[str, AfterValidator(_data_key)]
ScheduleTime = Annotated[datetime, PlainValidator(_schedule_time),
                         WithJsonSchema({"type": "string"})]


class PushBody(BaseModel):
    """A transactional push: one message to one or more device tokens."""

    # Validated by ``parse_push`` with the context {"limits": Limits, "now": float,
    # "allow_http_webhook": bool, "allow_private_webhook": bool}.
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    device_tokens: list[str] = Field(default_factory=list, **per_app(
        "max_tokens_per_request", "Unique APNs or FCM tokens; at least one, or `userIds`."))
    user_ids: list[Annotated[str, Field(min_length=1, max_length=256)]] | None = Field(
        None, alias="userIds", min_length=1, validate_default=True, **per_app(
            "max_tokens_per_request", "Your users (the `userId` of registered devices): the "
            "push also goes to every valid device each one registered."))
    title: str | None = Field(None, description=(
        "At most the app's `max_title_ios` (default 35) characters for iOS tokens and "
        "`max_title_android` (default 46) for Android tokens."))
    silent: bool | None = Field(None, description="A background push: no alert, no sound.")
    content: str | None = Field(None, validate_default=True, **per_app(
        "max_content", "The text shown; required (not empty) unless `silent` is true."))
    image: str | None = Field(None, **per_app("max_image_url",
                                              "https URL of a JPG, PNG or GIF."))
    data: dict[DataKey, str] | None = Field(None, description=(
        "String values for the app; keys reserved by FCM (`from`, `google.*`, ...) are refused. "
        "The whole gateway payload must fit the app's `max_payload_bytes` (default 4096)."))
    sound: str | None = Field(None, **per_app("max_sound", "A sound file name, or `default`."))
    badge: int | None = Field(None, ge=0, le=MAX_BADGE, description="The app icon's badge.")
    priority: Literal["high", "normal"] | None = Field(None, description="Default `high`.")
    schedule_time: ScheduleTime | None = Field(None, alias="scheduleTime", description=(
        "RFC 3339, or 'YYYY-MM-DD hh:mm:ss' in UTC. When later than now, the push is stored "
        "and sent at that time."))
    ttl: int | None = Field(None, ge=0, lt=2**40, description=(
        "Absolute unix time in seconds (not a duration) after which the push is not delivered; "
        "in the future, and after `scheduleTime`."))
    collapse_key: str | None = Field(None, alias="collapseKey", description=(
        "Replaces an undelivered push with the same key. At most the app's "
        "`max_collapse_key_bytes` (default 64) UTF-8 bytes."),
        json_schema_extra={"x-pushflow-limit": "max_collapse_key_bytes"})
    platform: Literal["ios", "android"] | None = Field(None, description=(
        "The platform of tokens whose shape is neither APNs' nor FCM's (unregistered)."))
    external_id: str | None = Field(None, alias="externalId",
                                    **per_app("max_external_id", "Your id for the message."))
    webhook_url: str | None = Field(None, alias="webhookUrl", max_length=MAX_WEBHOOK_URL,
                                    description=(
        "https URL that replaces the app's primary webhook URL for this message; an address "
        "that is not public (IP literal, localhost) is refused."))

    @field_validator("device_tokens")
    @classmethod
    def _tokens(cls, tokens: list[str], info: ValidationInfo) -> list[str]:
        bound = _limits(info).max_tokens_per_request
        if len(tokens) > bound:
            refuse("TOO_MANY", f"at most {bound} tokens per request")
        if len(set(tokens)) < len(tokens):
            seen: dict[str, int] = {}
            for i, token in enumerate(tokens):
                if token in seen:
                    refuse("INVALID_FORMAT", f"duplicate of device_tokens[{seen[token]}]",
                           at=f"[{i}]")
                seen[token] = i
        return tokens

    @field_validator("user_ids")
    @classmethod
    def _user_ids(cls, users: list[str] | None, info: ValidationInfo) -> list[str] | None:
        bound = _limits(info).max_tokens_per_request
        if users is not None and len(users) > bound:
            refuse("TOO_MANY", f"at most {bound} users per request")
        # (device_tokens absent from info.data: it was refused already, with its own error)
        if not users and info.data.get("device_tokens", ["refused"]) == []:
            refuse("REQUIRED", "'device_tokens' needs at least one token (or give 'userIds')",
                   parameter="device_tokens")
        return None if users is None else list(dict.fromkeys(users))

    @field_validator("title")
    @classmethod
    def _title(cls, title: str | None, info: ValidationInfo) -> str | None:
        limits = _limits(info)
        bound = max(limits.max_title_ios, limits.max_title_android)
        if title is not None and len(title) > bound:
            refuse("TOO_LONG", f"'title' exceeds {bound} characters")
        return title

    @field_validator("content")
    @classmethod
    def _content(cls, content: str | None, info: ValidationInfo) -> str | None:
        if content:
            return _at_most(content, "max_content", "content", info)
        if not info.data.get("silent"):
            refuse("REQUIRED", "'content' is required (and not empty) unless 'silent' is true")
        return None

    @field_validator("image")
    @classmethod
    def _image(cls, image: str | None, info: ValidationInfo) -> str | None:
        if image is None:
            return None
        _url(_at_most(image, "max_image_url", "image", info), "image")
        if not urlsplit(image).path.lower().endswith(IMAGE_EXTENSIONS):
            refuse("INVALID_IMAGE", "'image' must be a JPG, PNG or GIF URL")
        return image

    @field_validator("sound", "external_id")
    @classmethod
    def _text(cls, value: str | None, info: ValidationInfo) -> str | None:
        limit, name = {"sound": ("max_sound", "sound"),
                       "external_id": ("max_external_id", "externalId")}[info.field_name or ""]
        return None if value is None else _at_most(value, limit, name, info)

    @field_validator("collapse_key")
    @classmethod
    def _collapse_key(cls, key: str | None, info: ValidationInfo) -> str | None:
        bound = _limits(info).max_collapse_key_bytes
        if key is not None and len(key.encode()) > bound:
            refuse("TOO_LONG", f"'collapseKey' exceeds {bound} bytes")
        return key

    @field_validator("ttl")
    @classmethod
    def _ttl(cls, ttl: int | None, info: ValidationInfo) -> int | None:
        if ttl is None:
            return None
        now = int(context_of(info).get("now", 0))
        if ttl <= now:
            refuse("TTL_IN_PAST", f"'ttl' is in the past: it is an absolute unix time in "
                                  f"seconds (now is {now}), not a number of seconds from now")
        schedule = info.data.get("schedule_time")
        if schedule is not None and ttl <= schedule.timestamp():
            refuse("TTL_IN_PAST", "'ttl' is before 'scheduleTime'")
        return ttl

    @field_validator("webhook_url")
    @classmethod
    def _webhook_url(cls, url: str | None, info: ValidationInfo) -> str | None:
        if url is None:
            return None
        context = context_of(info)
        _url(url, "webhookUrl", allow_http=bool(context.get("allow_http_webhook")))
        # Checked again against every resolved address when the webhook is sent; refused here
        # when the URL alone shows it (no DNS look-up on the intake's hot path).
        why = webhook_url_problem(url, allow_private=bool(context.get("allow_private_webhook")))
        if why:
            refuse("INVALID_FORMAT", f"'webhookUrl' {why}")
        return url


# The message content's keys (the contract's names) and the PushBody fields they come from.
_CONTENT_FIELDS = {"title": "title", "content": "content", "image": "image", "data": "data",
                   "sound": "sound", "silent": "silent", "badge": "badge",
                   "priority": "priority", "collapseKey": "collapse_key"}
CONTENT_KEYS = frozenset(_CONTENT_FIELDS)  # what a message's content may hold (campaigns too)


def parse_push(body: Any, limits: Limits, now: float, *, allow_http_webhook: bool = False,
               allow_private_webhook: bool = False
               ) -> tuple[PushRequest | None, list[FieldError]]:
    """The request, or the per-field errors that make the whole request invalid (422)."""
    push, errors = validate(PushBody, body, {
        "limits": limits, "now": now, "allow_http_webhook": allow_http_webhook,
        "allow_private_webhook": allow_private_webhook})
    if push is None:
        return None, errors
    content: MessageContent = {}
    for key in body:  # the fields sent (a few), not every field the model declares
        name = _CONTENT_FIELDS.get(key)
        value = getattr(push, name) if name is not None else None
        if value is not None:
            content[key] = value  # type: ignore[literal-required]  # keys are the literals
    return PushRequest(push.device_tokens, content, push.platform, push.ttl,
                       push.schedule_time, push.external_id, push.webhook_url,
                       user_ids=push.user_ids or []), []


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
