"""Pure rules of shared.payload: time formats, per-app limits, the gateway payload size."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import orjson
import pytest

from shared.gateway_payloads import payload_size
from shared.payload import (
    PAYLOAD_STRUCTURE_BOUND,
    Limits,
    check_platform_limits,
    parse_push,
    parse_time,
)
from shared.settings import Settings


@pytest.mark.parametrize(("text", "expected"), [
    ("2026-12-01 12:00:00", datetime(2026, 12, 1, 12, tzinfo=UTC)),
    ("2026-12-01T12:00:00Z", datetime(2026, 12, 1, 12, tzinfo=UTC)),
    ("2026-12-01T14:00:00+02:00", datetime(2026, 12, 1, 14, tzinfo=timezone(timedelta(hours=2)))),
])
def test_parse_time_accepts_rfc3339_and_the_plain_form(text: str, expected: datetime) -> None:
    assert parse_time(text) == expected


@pytest.mark.parametrize("text", ["", "tomorrow", "2026-13-01 00:00:00", "1" * 60])
def test_parse_time_refuses_the_rest(text: str) -> None:
    with pytest.raises(ValueError):
        parse_time(text)


def test_app_overrides_replace_defaults_and_bad_ones_are_ignored() -> None:
    overrides = {"max_content": 20, "max_sound": "big", "max_title_ios": -3, "unknown": 1}
    limits = Limits.from_settings(Settings.model_validate({}), overrides)
    assert limits.max_content == 20
    assert limits.max_sound == 250 and limits.max_title_ios == 35


def test_payload_limit_is_checked_per_platform() -> None:
    limits = Limits(max_payload_bytes=300)
    content = {"content": "c", "data": {"k": "v" * 300}}
    req, errors = parse_push({"device_tokens": ["t"], **content}, limits, 0.0)
    assert req is not None and errors == []
    failed = check_platform_limits(req.content, ["ios", "android"], limits)
    assert [(e.code, e.parameter) for e in failed] == [("PAYLOAD_TOO_LARGE", "data")] * 2
    assert check_platform_limits(req.content, ["ios"], Limits()) == []


def test_structure_bound_holds_for_every_field_combination() -> None:
    # The shortcut of check_platform_limits relies on this bound: if shared.gateway_payloads
    # grows its structure past it, this fails rather than letting oversized payloads through.
    full = {"title": "t" * 46, "content": "c" * 171, "image": "https://x.example/a.png",
            "data": {"k": "v"}, "sound": "s" * 250, "badge": 2**31 - 1, "priority": "normal",
            "collapseKey": "k" * 64}
    for keys in range(1 << len(full)):
        content = {k: v for i, (k, v) in enumerate(full.items()) if keys >> i & 1}
        for silent in (False, True):
            message = {**content, "silent": silent}
            for platform in ("ios", "android"):
                assert payload_size(message, platform) <= (  # type: ignore[arg-type]
                    len(orjson.dumps(message)) + PAYLOAD_STRUCTURE_BOUND)


def test_limits_come_from_the_app_not_the_model() -> None:
    body = {"device_tokens": ["a", "b", "c"], "content": "c" * 11, "sound": "s" * 6}
    strict = Limits(max_tokens_per_request=2, max_content=10, max_sound=5)
    req, errors = parse_push(body, strict, 0.0)
    assert req is None
    assert {(e.code, e.parameter) for e in errors} == {
        ("TOO_MANY", "device_tokens"), ("TOO_LONG", "content"), ("TOO_LONG", "sound")}
    assert parse_push(body, Limits(), 0.0)[1] == []


@pytest.mark.parametrize(("name", "suggested"), [
    ("schedule_time", "scheduleTime"), ("titel", "title"), ("Content", "content"),
    ("webhook_url", "webhookUrl"), ("zzz", None)])
def test_unknown_fields_are_refused_with_a_suggestion(name: str, suggested: str | None) -> None:
    req, errors = parse_push({"device_tokens": ["t"], "content": "c", name: 1}, Limits(), 0.0)
    assert req is None
    (error,) = errors
    assert (error.code, error.parameter) == ("INVALID_FORMAT", name)
    assert ("did you mean" in error.message) == (suggested is not None)
    if suggested:
        assert error.message.endswith(f"did you mean '{suggested}'?")


def test_the_request_keeps_its_shape() -> None:
    body = {"device_tokens": ["t1", "t2"], "title": "T", "content": "c", "silent": False,
            "badge": 0, "priority": "normal", "collapseKey": "k", "data": {"a": "b"},
            "platform": "android", "externalId": "e", "ttl": 4_000_000_000,
            "scheduleTime": "2030-01-01 00:00:00", "webhookUrl": "https://hooks.example.com/x"}
    req, errors = parse_push(body, Limits(), 0.0)
    assert errors == [] and req is not None
    assert req.tokens == ["t1", "t2"] and req.platform == "android"
    assert req.content == {"title": "T", "content": "c", "silent": False, "badge": 0,
                           "priority": "normal", "collapseKey": "k", "data": {"a": "b"}}
    assert (req.ttl, req.external_id, req.webhook_url) == (
        4_000_000_000, "e", "https://hooks.example.com/x")
    assert req.schedule_time == datetime(2030, 1, 1, tzinfo=UTC)
