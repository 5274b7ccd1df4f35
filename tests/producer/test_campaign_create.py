"""``producer.campaign_create.bounded``: a token list passes through as it comes, and one byte
past the bound stops it (the API's 413, the panel's error), with a small bound in place of the
2 GiB one. ``media_type``: the one reading of a Content-Type both callers look formats up by.
Creating and uploading themselves are tested through both callers: ``test_campaigns_api`` and
``panel/test_campaign_form_pages``."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from producer import campaign_create


async def _chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def test_chunks_up_to_the_bound_pass_and_one_byte_more_is_refused(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(campaign_create, "MAX_UPLOAD_BYTES", 10)
    assert [c async for c in campaign_create.bounded(_chunks(b"12345", b"67890"))] == [
        b"12345", b"67890"]
    seen: list[bytes] = []
    with pytest.raises(campaign_create.UploadTooLarge):
        async for chunk in campaign_create.bounded(_chunks(b"12345", b"67890", b"x")):
            seen.append(chunk)
    assert seen == [b"12345", b"67890"]


@pytest.mark.parametrize(("header", "expected"), [
    ("text/csv", "csv"), ("TEXT/CSV; charset=utf-8", "csv"),
    (" application/x-ndjson ;q=1", "ndjson"), ("text/plain", "csv")])
def test_a_content_type_with_parameters_names_its_format(header: str, expected: str) -> None:
    assert campaign_create.FORMATS[campaign_create.media_type(header)] == expected


@pytest.mark.parametrize("header", [None, "", "application/json", "text/csvx"])
def test_a_missing_or_other_content_type_names_no_format(header: str | None) -> None:
    assert campaign_create.media_type(header) not in campaign_create.FORMATS
