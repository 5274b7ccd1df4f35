"""Declared bodies of the API's other write routes (devices, receipts, webhooks); the push body
is ``shared.payload.PushBody``. Each model is strict and refuses unknown fields; the routes read
them with ``producer.body.read_model`` and ``/openapi.json`` describes them from the same
declarations (``producer.openapi.body_schema``).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

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

from shared.payload import parse_time
from shared.statuses import EVENT_TYPES
from shared.tokens import detect_platform, is_valid_for
from shared.validation import LANGUAGE_PATTERN, refuse

MAX_TOKEN, MAX_USER_ID, MAX_TAGS, MAX_TAG = 4096, 256, 100, 64
MAX_RECEIPTS = 1000
MAX_OVERLAP_HOURS = 24 * 7
MAX_URL = 2048

_STRICT = ConfigDict(strict=True, extra="forbid", frozen=True)


class DeviceBody(BaseModel):
    """``POST /v2.1/devices``: the device's full state (omitted fields are cleared)."""

    model_config = _STRICT

    token: str = Field(max_length=MAX_TOKEN, description="The APNs or FCM device token.")
    platform: Literal["ios", "android"]
    user_id: str | None = Field(None, alias="userId", min_length=1, max_length=MAX_USER_ID,
                                description="Your user's id, to find their devices.")
    language: str | None = Field(None, pattern=LANGUAGE_PATTERN,
                                 description="A language tag like `en-GB`.")
    tags: list[Annotated[str, Field(min_length=1, max_length=MAX_TAG)]] = Field(
        default_factory=list, max_length=MAX_TAGS, description="Labels to filter devices by.")

    @field_validator("token")
    @classmethod
    def _token(cls, token: str) -> str:
        if not token:
            refuse("REQUIRED", "'token' is required")
        return token

    @field_validator("platform")
    @classmethod
    def _platform_fits_token(cls, platform: Literal["ios", "android"], info: ValidationInfo
                             ) -> Literal["ios", "android"]:
        token = info.data.get("token")
        if token is not None:
            detected = detect_platform(token)
            if detected not in (None, platform) or not (detected or is_valid_for(token,
                                                                                 platform)):
                refuse("INVALID_DEVICE_TOKEN", f"Not a valid {platform} device token",
                       parameter="token", value=token)
        return platform


def _uuid(value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        refuse("INVALID_FORMAT", "'dispatchId' must be a UUID")


def _time(value: Any) -> datetime:
    try:
        return parse_time(value)
    except (ValueError, TypeError):
        refuse("INVALID_FORMAT", "'at' must be RFC 3339")


class ReceiptBody(BaseModel):
    """One device receipt of ``POST /v2.1/push/receipts``."""

    model_config = _STRICT

    dispatch_id: Annotated[str, AfterValidator(_uuid)] = Field(
        alias="dispatchId", json_schema_extra={"format": "uuid"},
        description="The dispatch the push was sent as (the push's data carries it).")
    event: Literal["delivered", "opened"]
    at: Annotated[datetime | None, PlainValidator(_time), WithJsonSchema(
        {"type": "string", "format": "date-time"})] = Field(
        None, description="When it happened (default: now; a future time is taken as now).")


# The body: one receipt, or a list of them (the list is what the schema documents; the route
# validates each item alone, so one bad receipt does not refuse the others).
Receipts = ReceiptBody | Annotated[list[ReceiptBody], Field(min_length=1,
                                                            max_length=MAX_RECEIPTS)]


def _event_type(value: str) -> str:
    if value not in EVENT_TYPES:
        refuse("INVALID_FORMAT", f"'eventTypes' must be a non-empty list of "
                                 f"{', '.join(EVENT_TYPES)}")
    return value


EventType = Annotated[str, AfterValidator(_event_type), WithJsonSchema(
    {"type": "string", "enum": list(EVENT_TYPES)})]


class WebhooksBody(BaseModel):
    """``PUT /v2.1/webhooks``: the whole configuration (omitted URLs are cleared)."""

    model_config = _STRICT

    primary_url: str | None = Field(None, alias="primaryUrl", max_length=MAX_URL,
                                    description="https URL receiving every event.")
    secondary_url: str | None = Field(None, alias="secondaryUrl", max_length=MAX_URL,
                                      description="Tried when the primary URL fails.")
    event_types: list[EventType] = Field(
        default_factory=lambda: list(EVENT_TYPES), alias="eventTypes", min_length=1,
        max_length=len(EVENT_TYPES), description="The events sent (default: all).")


class RotateBody(BaseModel):
    """``POST /v2.1/webhooks/secret/rotate`` (the body is optional)."""

    model_config = _STRICT

    overlap_hours: float | None = Field(
        None, alias="overlapHours", ge=0, le=MAX_OVERLAP_HOURS,
        description="Hours the previous secret keeps signing (default: the server's "
                    "PUSHFLOW_WEBHOOK_SECRET_OVERLAP_HOURS).")
