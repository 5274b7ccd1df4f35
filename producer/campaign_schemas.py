"""The body of ``POST /v2.1/campaigns``, declared for validation and ``/openapi.json``.

The content fields are a push's (``shared.payload.PushBody``): their schema is taken from it, and
the route checks each content against the app's limits with the push's own rules
(``domain.campaigns.content.parse_content``), so a campaign can never hold a message a push
would refuse.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema, model_validator

from producer.schemas import MAX_TAG, MAX_TAGS, MAX_USER_ID
from shared.payload import CONTENT_KEYS, PushBody, ScheduleTime
from shared.validation import LANGUAGE_PATTERN, refuse

MAX_NAME = 200
MAX_LANGUAGES = 100
MAX_FALLBACK = 10
MAX_USERS = 1000
MAX_PER_MINUTE = 6_000_000

_STRICT = ConfigDict(strict=True, extra="forbid", frozen=True)
_PUSH = PushBody.model_json_schema(by_alias=True)
CONTENT_SCHEMA: dict[str, Any] = {
    "type": "object", "additionalProperties": False,
    "description": "A push's content fields (as in `POST /v2.1/push`), checked against the "
                   "app's limits as a push's are.",
    "properties": {k: v for k, v in _PUSH["properties"].items() if k in CONTENT_KEYS}}
Content = Annotated[dict[str, Any], WithJsonSchema(CONTENT_SCHEMA)]
Language = Annotated[str, Field(pattern=LANGUAGE_PATTERN)]


class UploadAudience(BaseModel):
    """The recipients come from token lists uploaded to `/v2.1/campaigns/{id}/audience`."""

    model_config = _STRICT
    kind: Literal["upload"]


class DevicesAudience(BaseModel):
    """The app's registered, valid devices that match every given filter."""

    model_config = _STRICT
    kind: Literal["devices"]
    tags: list[Annotated[str, Field(min_length=1, max_length=MAX_TAG)]] = Field(
        default_factory=list, max_length=MAX_TAGS, description="Devices with any of these tags.")
    user_ids: list[Annotated[str, Field(min_length=1, max_length=MAX_USER_ID)]] = Field(
        default_factory=list, alias="userIds", max_length=MAX_USERS,
        description="Devices of these users.")
    platform: Literal["ios", "android"] | None = None
    languages: list[Language] = Field(
        default_factory=list, max_length=MAX_LANGUAGES,
        description="Devices in these languages (`fr` also matches `fr-CA`).")


class Canary(BaseModel):
    """Send to a first slice, and halt when too much of it fails."""

    model_config = _STRICT
    percent: float = Field(gt=0, le=50, description="The slice, % of the audience (e.g. 1).")
    max_failure_rate: float = Field(alias="maxFailureRate", ge=0, lt=1, description=(
        "Halt when more than this fraction of the slice failed (e.g. 0.05)."))


class CampaignBody(BaseModel):
    """A campaign: a push's content per language, an audience, a throughput."""

    model_config = _STRICT

    name: str = Field(min_length=1, max_length=MAX_NAME)
    content: Content = Field(description="The default content.")
    languages: dict[Language, Content] = Field(
        default_factory=dict, max_length=MAX_LANGUAGES, description=(
            "Content per language tag; a recipient in `fr-CA` gets `fr-CA`, else `fr`, else the "
            "first of `fallback` that has content, else `content`."))
    fallback: list[Language] = Field(default_factory=list, max_length=MAX_FALLBACK)
    audience: UploadAudience | DevicesAudience = Field(discriminator="kind")
    per_minute: int = Field(alias="perMinute", ge=1, le=MAX_PER_MINUTE, description=(
        "Sends per minute and gateway (APNs, FCM); at most 75 % of the app's send rate is "
        "used, the rest is kept for transactional pushes."))
    schedule_time: ScheduleTime | None = Field(None, alias="scheduleTime", description=(
        "When a started campaign begins sending (RFC 3339; default: at `start`)."))
    finish_by: ScheduleTime | None = Field(None, alias="finishBy", description=(
        "`start` is refused (422) when the launch plan cannot finish by then."))
    canary: Canary | None = None

    @model_validator(mode="after")
    def _finish_after_start(self) -> CampaignBody:
        start: datetime | None = self.schedule_time
        if start is not None and self.finish_by is not None and self.finish_by <= start:
            refuse("INVALID_FORMAT", "'finishBy' must be after 'scheduleTime'",
                   parameter="finishBy")
        return self
