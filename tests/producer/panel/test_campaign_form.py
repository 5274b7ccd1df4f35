"""The new-campaign form: what it posts becomes the API's ``CampaignBody``, and each problem
is shown next to the field it is about, with the values typed kept (no server, no browser); its
page in a real browser is in ``test_campaign_form_pages``."""

from __future__ import annotations

from typing import Any

import orjson

from producer.panel.campaign_form import FIELDS, field_of, parse_campaign


def _posted(**values: str) -> dict[str, Any]:
    posted = dict.fromkeys(FIELDS, "")
    posted.update({"name": "spring-sale", "content": "50 % off", "audience": "upload",
                   "per_minute": "600"})
    posted.update(values)
    return posted


def test_a_complete_form_is_the_apis_body() -> None:
    parsed = parse_campaign(_posted(
        title="Sale", languages=orjson.dumps({"fr": {"content": "50 % de remise"}}).decode(),
        fallback="fr, en", audience="devices", tags="vip, , beta", user_ids="u1",
        platform="ios", audience_languages="pt-BR", schedule_time="2030-01-01T09:00:00Z",
        finish_by="2030-01-01T18:00:00Z", canary_percent="1", canary_max_failure="0.05"))
    assert parsed.errors == {}
    body = parsed.body
    assert body is not None
    assert body.content == {"content": "50 % off", "title": "Sale"}
    assert body.languages == {"fr": {"content": "50 % de remise"}}
    assert body.fallback == ["fr", "en"]
    assert body.audience.model_dump(by_alias=True) == {
        "kind": "devices", "tags": ["vip", "beta"], "userIds": ["u1"], "platform": "ios",
        "languages": ["pt-BR"]}
    assert body.per_minute == 600
    assert body.schedule_time is not None and body.finish_by is not None
    assert body.canary is not None and body.canary.percent == 1.0
    assert body.canary.max_failure_rate == 0.05


def test_an_upload_audience_leaves_the_filters_out() -> None:
    parsed = parse_campaign(_posted(tags="ignored"))
    assert parsed.body is not None and parsed.errors == {}
    assert parsed.body.audience.model_dump() == {"kind": "upload"}
    assert parsed.body.canary is None and parsed.body.languages == {}


def test_each_error_names_its_field_and_the_values_are_kept() -> None:
    parsed = parse_campaign(_posted(name="", per_minute="0", audience="devices",
                                    platform="windows", audience_languages="not a language"))
    assert parsed.body is None
    assert set(parsed.errors) == {"name", "per_minute", "platform", "audience_languages"}, \
        parsed.errors
    assert parsed.values["platform"] == "windows"
    assert parsed.values["audience_languages"] == "not a language"
    parsed = parse_campaign(_posted(finish_by="2030-01-01T08:00:00Z",
                                    schedule_time="2030-01-01T09:00:00Z"))
    assert list(parsed.errors) == ["finish_by"]
    assert "after 'scheduleTime'" in parsed.errors["finish_by"][0]


def test_numbers_and_json_are_checked_before_the_body() -> None:
    parsed = parse_campaign(_posted(per_minute="ten", canary_percent="1%",
                                    canary_max_failure="0.05", languages="{fr: x}"))
    assert parsed.body is None
    assert parsed.errors["per_minute"] == ["Sends per minute must be a whole number"]
    assert parsed.errors["canary_percent"] == ["The canary's percent must be a number (like "
                                               "0.05)"]
    assert "JSON object" in parsed.errors["languages"][0]
    assert parsed.values["languages"] == "{fr: x}"


def test_a_canary_needs_both_numbers() -> None:
    parsed = parse_campaign(_posted(canary_percent="2"))
    assert parsed.body is None
    assert list(parsed.errors) == ["canary_max_failure"]
    parsed = parse_campaign(_posted(canary_percent="80", canary_max_failure="0.1"))
    assert list(parsed.errors) == ["canary_percent"]


MAPPED = {"content.title": "title", "content.content": "content", "content": "content",
          "languages.fr.title": "languages", "audience.tags[2]": "tags",
          "audience.devices.platform": "platform", "audience": "audience",
          "audience.userIds": "user_ids", "canary": "canary_percent",
          "canary.maxFailureRate": "canary_max_failure", "perMinute": "per_minute", "body": ""}


def test_body_parameters_map_to_the_forms_fields() -> None:
    assert {parameter: field_of(parameter) for parameter in MAPPED} == MAPPED
