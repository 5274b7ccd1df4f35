"""Creating a campaign and streaming its audience in: the one place these rules are, called by
``POST /v2.1/campaigns`` (``producer.routes.campaigns``) and by the panel's campaign form
(``producer.panel.campaign_form``), so a campaign made either way is checked the same.

Each content (the default and every language's) is checked against the app's limits with a
push's own rules (``domain.campaigns.content.parse_content``) for the platforms the audience can
reach; a refusal carries every field's error at once (``ContentRefused``).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

from domain.campaigns import audience, store
from domain.campaigns.content import parse_content
from domain.campaigns.lines import Format
from producer.campaign_schemas import CampaignBody, DevicesAudience
from shared.jobs import MessageContent
from shared.payload import FieldError, Limits
from shared.tokens import PLATFORMS

MAX_UPLOAD_BYTES = 2 * 1024**3
# Content types of a token list; text/plain is read as CSV (one token a line is valid CSV).
FORMATS: dict[str, Format] = {"text/csv": "csv", "application/x-ndjson": "ndjson",
                              "application/ndjson": "ndjson", "text/plain": "csv"}


def media_type(content_type: str | None) -> str:
    """A Content-Type's bare media type, lower case (``text/csv; charset=utf-8`` is
    ``text/csv``): what ``FORMATS`` is looked up by."""
    return (content_type or "").split(";", 1)[0].strip().lower()


class ContentRefused(Exception):
    """A content the app's limits refuse: one error per field."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__(f"{len(errors)} content error(s)")
        self.errors = errors


class UploadTooLarge(Exception):
    """The token list passed ``MAX_UPLOAD_BYTES``; nothing of it is kept."""


def _contents(limits: Limits, body: CampaignBody) -> tuple[MessageContent, dict[str, Any]]:
    platforms = [body.audience.platform] if isinstance(body.audience, DevicesAudience) and \
        body.audience.platform else list(PLATFORMS)
    now = time.time()
    errors: list[FieldError] = []
    default, problems = parse_content(body.content, limits, "content", platforms, now)
    errors.extend(problems)
    languages: dict[str, Any] = {}
    for tag, raw in body.languages.items():
        parsed, problems = parse_content(raw, limits, f"languages.{tag}", platforms, now)
        errors.extend(problems)
        languages[tag] = parsed
    if errors or default is None:
        raise ContentRefused(errors)
    return default, languages


def _devices(a: DevicesAudience) -> audience.DeviceAudience:
    return audience.DeviceAudience(list(dict.fromkeys(a.tags)), list(dict.fromkeys(a.user_ids)),
                                   a.platform, list(dict.fromkeys(a.languages)))


async def create_campaign(conn: Any, app_id: int, limits: Limits, body: CampaignBody
                          ) -> store.Campaign:
    """A new draft campaign (its devices chosen now for a devices audience), in one
    transaction; ``ContentRefused`` before anything is written."""
    default, languages = _contents(limits, body)
    devices = _devices(body.audience) if isinstance(body.audience, DevicesAudience) else None
    new = store.NewCampaign(
        name=body.name, content=default, languages=languages, fallback=body.fallback,
        audience=(devices.as_json() if devices is not None
                  else body.audience.model_dump(by_alias=True)),
        per_minute=body.per_minute, schedule_time=body.schedule_time, finish_by=body.finish_by,
        canary_percent=body.canary.percent if body.canary else None,
        canary_max_failure=body.canary.max_failure_rate if body.canary else None)
    async with conn.transaction():
        campaign = await store.create(conn, app_id, new)
        if devices is not None:
            await audience.add_devices(conn, app_id, campaign.id, devices)
        stored = await store.get(conn, app_id, campaign.id)
    assert stored is not None  # written in this very transaction
    return stored


async def bounded(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """``chunks`` as they come, until more than ``MAX_UPLOAD_BYTES`` (``UploadTooLarge``)."""
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > MAX_UPLOAD_BYTES:
            raise UploadTooLarge(MAX_UPLOAD_BYTES)
        yield chunk


async def upload_audience(conn: Any, app_id: int, campaign_id: str,
                          chunks: AsyncIterator[bytes], fmt: Format) -> audience.UploadReport:
    """The streamed token list added to a draft upload campaign (one transaction): raises
    ``audience.NoSuchCampaign``, ``store.NotAllowed`` or ``UploadTooLarge``."""
    return await audience.upload(conn, app_id, campaign_id, bounded(chunks), fmt)
