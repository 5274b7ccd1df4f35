"""A campaign's recipients: an uploaded token list streamed into PostgreSQL with COPY, or the
app's registered devices chosen by tags, users, platform and language.

An upload goes into a staging table of its transaction (COPY, text format, as the lines are
parsed: ``domain.campaigns.lines``), then one statement moves the first occurrence of each
token that is neither already a recipient nor known dead (a gateway reported it invalid since
it was registered: ``domain.devices.registry``) into the ledger. Bad lines, duplicates and dead
tokens are counted in ``campaigns.excluded`` and never sent.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from domain.campaigns.lines import Format, LineParser
from domain.campaigns.store import NotAllowed

_LOCK = """SELECT state, audience->>'kind',
    (SELECT coalesce(max(seq), 0) FROM campaign_recipients WHERE campaign_id = c.id)
FROM campaigns c WHERE app_id = %s AND id = %s FOR UPDATE"""
_STAGING = """CREATE TEMP TABLE campaign_upload (seq bigint GENERATED ALWAYS AS IDENTITY,
    token text, platform text, language text) ON COMMIT DROP"""
# A second upload to the same campaign also skips the tokens of the first (anti-join).
_MOVE = """
WITH firsts AS (
    SELECT DISTINCT ON (token) seq, token, platform, language FROM campaign_upload
    ORDER BY token, seq
), fresh AS (
    SELECT f.* FROM firsts f WHERE %(first)s OR NOT EXISTS (
        SELECT 1 FROM campaign_recipients r WHERE r.campaign_id = %(c)s AND r.token = f.token)
), alive AS (
    SELECT f.* FROM fresh f WHERE NOT EXISTS (
        SELECT 1 FROM devices d WHERE d.app_id = %(app)s AND d.token = f.token
          AND d.invalidated_at > d.registered_at)
), moved AS (
    INSERT INTO campaign_recipients (campaign_id, seq, token, platform, language)
    SELECT %(c)s, %(last)s + seq, token, platform, language FROM alive
    RETURNING 1
)
SELECT (SELECT count(*) FROM campaign_upload), (SELECT count(*) FROM fresh),
       (SELECT count(*) FROM moved)
"""
_ADD_EXCLUDED = """UPDATE campaigns SET excluded = (
    SELECT jsonb_object_agg(k, coalesce((excluded->>k)::bigint, 0)
                               + coalesce((%s::jsonb->>k)::bigint, 0))
    FROM unnest(ARRAY['invalid', 'duplicate', 'dead']) AS k), updated_at = now()
WHERE id = %s"""


@dataclass(frozen=True)
class UploadReport:
    lines: int
    accepted: int
    invalid: int
    duplicate: int
    dead: int
    problems: list[tuple[int, str]]  # (line number, why) of the first bad lines


class NoSuchCampaign(Exception):
    pass


async def upload(conn: AsyncConnection[Any], app_id: int, campaign_id: str,
                 chunks: AsyncIterator[bytes], fmt: Format) -> UploadReport:
    """Add the streamed lines to a draft campaign's recipients (one transaction)."""
    async with conn.transaction():
        row = await (await conn.execute(_LOCK, (app_id, campaign_id))).fetchone()
        if row is None:
            raise NoSuchCampaign(campaign_id)
        state, kind, last_seq = row
        if state != "draft":
            raise NotAllowed("upload", state)
        if kind != "upload":
            raise NotAllowed("upload", "chosen from registered devices")
        await conn.execute(_STAGING)
        # The duplicates are found by sorting the upload: in memory, not in temporary files.
        await conn.execute("SET LOCAL work_mem = '256MB'")
        parser = LineParser(fmt)
        async with conn.cursor().copy(
                "COPY campaign_upload (token, platform, language) FROM STDIN") as copy:
            async for chunk in chunks:
                rows = parser.feed(chunk)
                if rows:
                    await copy.write(rows)
            rows = parser.finish()
            if rows:
                await copy.write(rows)
        counts = await (await conn.execute(_MOVE, {
            "first": last_seq == 0, "c": campaign_id, "app": app_id, "last": last_seq})
        ).fetchone()
        assert counts is not None
        staged, fresh, moved = (int(n) for n in counts)
        parsed = parser.parsed
        report = UploadReport(parsed.lines, moved, parsed.invalid, staged - fresh,
                              fresh - moved, parsed.problems)
        await conn.execute(_ADD_EXCLUDED, (Jsonb({
            "invalid": report.invalid, "duplicate": report.duplicate, "dead": report.dead}),
            campaign_id))
    return report


@dataclass(frozen=True)
class DeviceAudience:
    """Registered devices with any of ``tags``, of any of ``user_ids``, of ``platform``, whose
    language is one of ``languages`` (or a regional variant of one); empty means any."""

    tags: list[str]
    user_ids: list[str]
    platform: str | None
    languages: list[str]

    def as_json(self) -> dict[str, Any]:
        return {"kind": "devices", "tags": self.tags, "userIds": self.user_ids,
                "platform": self.platform, "languages": self.languages}


_FROM_DEVICES = """
WITH chosen AS (
    SELECT token, platform, language,
           invalidated_at IS NOT NULL AND invalidated_at > registered_at AS dead
    FROM devices
    WHERE app_id = %(app)s
      AND (cardinality(%(tags)s::text[]) = 0 OR tags && %(tags)s::text[])
      AND (cardinality(%(users)s::text[]) = 0 OR user_id = ANY(%(users)s::text[]))
      AND (%(platform)s::text IS NULL OR platform = %(platform)s::text)
      AND (cardinality(%(languages)s::text[]) = 0 OR language = ANY(%(languages)s::text[])
           OR split_part(replace(language, '_', '-'), '-', 1) = ANY(%(languages)s::text[]))
), moved AS (
    INSERT INTO campaign_recipients (campaign_id, seq, token, platform, language)
    SELECT %(c)s, row_number() OVER (ORDER BY token), token, platform, language
    FROM chosen WHERE NOT dead
    RETURNING 1
)
UPDATE campaigns SET excluded = jsonb_build_object(
    'invalid', 0, 'duplicate', 0, 'dead', (SELECT count(*) FROM chosen WHERE dead))
WHERE id = %(c)s RETURNING (SELECT count(*) FROM moved)
"""


async def add_devices(conn: AsyncConnection[Any], app_id: int, campaign_id: str,
                      audience: DeviceAudience) -> int:
    """Make the matching valid devices the campaign's recipients; how many."""
    row = await (await conn.execute(_FROM_DEVICES, {
        "app": app_id, "c": campaign_id, "tags": audience.tags, "users": audience.user_ids,
        "platform": audience.platform, "languages": audience.languages})).fetchone()
    assert row is not None
    return int(row[0])
