"""Every validation rule of POST /v2.1/push answers its contract code, naming the parameter, and
queues nothing."""

from __future__ import annotations

import time
from typing import Any

import httpx
import psycopg
import pytest
import redis

from shared import queues
from tests.producer.conftest import android_token, assert_envelope, error_codes, ios_token

IOS = ios_token()
ANDROID = android_token()


def base(**fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"device_tokens": [IOS], "title": "Code", "content": "123456"}
    body.update(fields)
    return {k: v for k, v in body.items() if v is not ...}


CASES: list[tuple[str, dict[str, Any], str, str]] = [
    ("no tokens", base(device_tokens=...), "REQUIRED", "device_tokens"),
    ("empty tokens", base(device_tokens=[]), "REQUIRED", "device_tokens"),
    ("tokens not a list", base(device_tokens=IOS), "INVALID_FORMAT", "device_tokens"),
    ("token not a string", base(device_tokens=[IOS, 5]), "INVALID_FORMAT", "device_tokens[1]"),
    ("duplicate token", base(device_tokens=[IOS, ANDROID, IOS]), "INVALID_FORMAT",
     "device_tokens[2]"),
    ("too many tokens", base(device_tokens=[ios_token() for _ in range(1001)]), "TOO_MANY",
     "device_tokens"),
    ("no content", base(content=...), "REQUIRED", "content"),
    ("content not a string", base(content=12), "INVALID_FORMAT", "content"),
    ("content too long", base(content="x" * 172), "TOO_LONG", "content"),
    ("title too long for any platform", base(title="t" * 47), "TOO_LONG", "title"),
    ("title too long for iOS", base(title="t" * 36), "TOO_LONG", "title"),
    ("title not a string", base(title=["a"]), "INVALID_FORMAT", "title"),
    ("image http", base(image="http://cdn.example.com/a.png"), "INVALID_IMAGE", "image"),
    ("image not an image", base(image="https://cdn.example.com/a.txt"), "INVALID_IMAGE",
     "image"),
    ("image not a URL", base(image="https:///a.png"), "INVALID_FORMAT", "image"),
    ("image too long", base(image="https://cdn.example.com/" + "a" * 240 + ".png"), "TOO_LONG",
     "image"),
    ("data not an object", base(data=["a"]), "INVALID_FORMAT", "data"),
    ("data value not a string", base(data={"n": 1}), "INVALID_FORMAT", "data.n"),
    ("data reserved key", base(data={"google.x": "1"}), "INVALID_FORMAT", "data.google.x"),
    ("payload too large", base(data={"k": "v" * 4100}), "PAYLOAD_TOO_LARGE", "data"),
    ("sound too long", base(sound="s" * 251), "TOO_LONG", "sound"),
    ("silent not a bool", base(silent="yes"), "INVALID_FORMAT", "silent"),
    ("badge negative", base(badge=-1), "INVALID_FORMAT", "badge"),
    ("badge a bool", base(badge=True), "INVALID_FORMAT", "badge"),
    ("unknown priority", base(priority="urgent"), "INVALID_FORMAT", "priority"),
    ("ttl in the past", base(ttl=int(time.time()) - 10), "TTL_IN_PAST", "ttl"),
    ("ttl not an integer", base(ttl="tomorrow"), "INVALID_FORMAT", "ttl"),
    ("ttl before scheduleTime", base(ttl=int(time.time()) + 60,
                                     scheduleTime="2099-01-01 00:00:00"), "TTL_IN_PAST", "ttl"),
    ("collapseKey too long", base(collapseKey="é" * 33), "TOO_LONG", "collapseKey"),
    ("unknown platform", base(platform="windows"), "INVALID_FORMAT", "platform"),
    ("externalId too long", base(externalId="e" * 65), "TOO_LONG", "externalId"),
    ("webhookUrl not https", base(webhookUrl="ftp://x.example.com/"), "INVALID_FORMAT",
     "webhookUrl"),
    ("webhookUrl private address", base(webhookUrl="https://10.1.2.3/dlr"), "INVALID_FORMAT",
     "webhookUrl"),
    ("webhookUrl metadata address", base(webhookUrl="https://169.254.169.254/latest"),
     "INVALID_FORMAT", "webhookUrl"),
    ("webhookUrl localhost", base(webhookUrl="https://localhost:8443/dlr"), "INVALID_FORMAT",
     "webhookUrl"),
    ("bad scheduleTime", base(scheduleTime="next tuesday"), "INVALID_FORMAT", "scheduleTime"),
    ("body not an object", [IOS], "INVALID_FORMAT", "body"),  # type: ignore[list-item]
]


@pytest.mark.parametrize(("case", "body", "code", "parameter"), CASES, ids=[c[0] for c in CASES])
async def test_invalid_field_is_422_naming_it(
    api: httpx.AsyncClient, make_app: Any, clean_queues: redis.Redis[bytes],
    db: psycopg.Connection[Any],
    case: str, body: Any, code: str, parameter: str,
) -> None:
    app = make_app()
    response = await api.post("/v2.1/push", json=body, headers=app.headers())
    assert response.status_code == 422, response.text
    answer = assert_envelope(response)
    assert (code, parameter) in error_codes(answer), answer["errors"]
    assert answer["data"] == []
    assert all(clean_queues.llen(q) == 0 for q in queues.SEND_QUEUES)
    count = db.execute("SELECT count(*) FROM messages WHERE app_id = %s", (app.app_id,))
    assert count.fetchone() == (0,)


async def test_every_bad_field_is_reported_at_once(api: httpx.AsyncClient, make_app: Any
                                                   ) -> None:
    body = base(content="x" * 200, sound=1, priority="max", badge="3")
    response = await api.post("/v2.1/push", json=body, headers=make_app().headers())
    codes = set(error_codes(assert_envelope(response)))
    assert {("TOO_LONG", "content"), ("INVALID_FORMAT", "sound"), ("INVALID_FORMAT", "priority"),
            ("INVALID_FORMAT", "badge")} <= codes


async def test_title_limit_depends_on_the_platform(api: httpx.AsyncClient, make_app: Any
                                                   ) -> None:
    app = make_app()
    ok = await api.post("/v2.1/push", json=base(device_tokens=[ANDROID], title="t" * 46),
                        headers=app.headers())
    assert ok.status_code == 202, ok.text
    too_long = await api.post("/v2.1/push", json=base(device_tokens=[IOS], title="t" * 36),
                              headers=app.headers())
    assert too_long.status_code == 422
    assert "iOS" in too_long.json()["errors"][0]["message"]


async def test_silent_push_needs_no_content(api: httpx.AsyncClient, make_app: Any) -> None:
    response = await api.post("/v2.1/push", json=base(content=..., title=..., silent=True,
                                                      data={"sync": "1"}),
                              headers=make_app().headers())
    assert response.status_code == 202, response.text


async def test_malformed_json_is_400(api: httpx.AsyncClient, make_app: Any) -> None:
    response = await api.post("/v2.1/push", content=b'{"device_tokens": [', headers={
        **make_app().headers(), "content-type": "application/json"})
    assert response.status_code == 400
    assert error_codes(assert_envelope(response)) == [("INVALID_JSON", "body")]


async def test_body_over_the_limit_is_413(api: httpx.AsyncClient, make_app: Any) -> None:
    big = b'{"device_tokens": ["' + b"a" * (1024 * 1024) + b'"]}'
    response = await api.post("/v2.1/push", content=big, headers=make_app().headers())
    assert response.status_code == 413
    assert error_codes(assert_envelope(response)) == [("PAYLOAD_TOO_LARGE", "body")]


async def test_streamed_body_over_the_limit_is_413(api: httpx.AsyncClient, make_app: Any
                                                   ) -> None:
    async def chunks() -> Any:
        for _ in range(40):
            yield b"x" * 32768

    response = await api.post("/v2.1/push", content=chunks(), headers=make_app().headers())
    assert response.status_code == 413
    assert_envelope(response)


async def test_idempotency_key_too_long(api: httpx.AsyncClient, make_app: Any) -> None:
    response = await api.post("/v2.1/push", json=base(),
                              headers={**make_app().headers(), "Idempotency-Key": "k" * 256})
    assert response.status_code == 422
    assert error_codes(assert_envelope(response)) == [("TOO_LONG", "Idempotency-Key")]


async def test_limits_are_per_app(api: httpx.AsyncClient, make_app: Any,
                                  db: psycopg.Connection[Any]) -> None:
    strict, default = make_app("strict"), make_app("default")
    db.execute("UPDATE apps SET limits = %s WHERE id = %s",
               ('{"max_tokens_per_request": 2, "max_content": 10}', strict.app_id))
    body = base(device_tokens=[ios_token() for _ in range(3)], content="c" * 11)
    refused = await api.post("/v2.1/push", json=body, headers=strict.headers())
    assert refused.status_code == 422
    assert {("TOO_MANY", "device_tokens"), ("TOO_LONG", "content")} <= set(
        error_codes(refused.json()))
    accepted = await api.post("/v2.1/push", json=body, headers=default.headers())
    assert accepted.status_code == 202, accepted.text


@pytest.mark.parametrize(("name", "suggested"), [
    ("schedule_time", "scheduleTime"), ("titel", "title"), ("external_id", "externalId"),
    ("deviceTokens", "device_tokens"), ("colour", None),
])
async def test_unknown_field_is_refused_naming_it(api: httpx.AsyncClient, make_app: Any,
                                                  name: str, suggested: str | None) -> None:
    # Without the refusal, a newcomer's schedule_time sends at once and titel without a title.
    response = await api.post("/v2.1/push", json=base(**{name: "2099-01-01 00:00:00"}),
                              headers=make_app().headers())
    assert response.status_code == 422, response.text
    (error,) = assert_envelope(response)["errors"]
    assert (error["code"], error["meta"]["parameter"]) == ("INVALID_FORMAT", name)
    if suggested:
        assert f"did you mean '{suggested}'?" in error["message"]
    else:
        assert "did you mean" not in error["message"]


async def test_empty_content_is_refused_like_a_missing_one(api: httpx.AsyncClient,
                                                           make_app: Any) -> None:
    response = await api.post("/v2.1/push", json=base(content=""), headers=make_app().headers())
    assert response.status_code == 422, response.text
    assert error_codes(assert_envelope(response)) == [("REQUIRED", "content")]


async def test_ttl_in_the_past_explains_it_is_an_absolute_time(api: httpx.AsyncClient,
                                                               make_app: Any) -> None:
    before = int(time.time())
    response = await api.post("/v2.1/push", json=base(ttl=3600), headers=make_app().headers())
    (error,) = assert_envelope(response)["errors"]
    assert error["code"] == "TTL_IN_PAST"
    assert "absolute unix time" in error["message"]
    shown = int(error["message"].split("now is ", 1)[1].split(")", 1)[0])
    assert before <= shown <= time.time() + 1


async def test_non_json_content_type_is_named(api: httpx.AsyncClient, make_app: Any) -> None:
    response = await api.post("/v2.1/push", content=b"device_tokens=abc&content=hi", headers={
        **make_app().headers(), "content-type": "application/x-www-form-urlencoded"})
    assert response.status_code == 400
    (error,) = assert_envelope(response)["errors"]
    assert error["code"] == "INVALID_JSON"
    assert "application/x-www-form-urlencoded" in error["message"]


async def test_strict_types_are_not_coerced(api: httpx.AsyncClient, make_app: Any) -> None:
    response = await api.post("/v2.1/push", json=base(silent=1, ttl=float(time.time() + 60)),
                              headers=make_app().headers())
    assert {("INVALID_FORMAT", "silent"), ("INVALID_FORMAT", "ttl")} <= set(
        error_codes(assert_envelope(response)))


NUL = "a\u0000b"
NUL_BODIES: list[tuple[str, Any, str]] = [
    ("/v2.1/push", base(title=NUL), "title"),
    ("/v2.1/push", base(data={"k": NUL}), "data.k"),
    ("/v2.1/push", base(data={NUL: "v"}), "data"),
    ("/v2.1/push", base(device_tokens=[IOS, NUL]), "device_tokens[1]"),
    ("/v2.1/push", base(externalId=NUL), "externalId"),
    ("/v2.1/devices", {"token": IOS, "platform": "ios", "userId": NUL}, "userId"),
    ("/v2.1/devices", {"token": IOS, "platform": "ios", "tags": ["ok", NUL]}, "tags[1]"),
    ("/v2.1/push/receipts", [{"dispatchId": NUL, "event": "opened"}], "[0].dispatchId"),
    ("/v2.1/webhooks", {"primaryUrl": "https://hooks.example.com/" + NUL}, "primaryUrl"),
]


@pytest.mark.parametrize(("path", "body", "parameter"), NUL_BODIES,
                         ids=[f"{p} {n}" for p, _, n in NUL_BODIES])
async def test_nul_in_a_body_is_422_naming_the_field(
    api: httpx.AsyncClient, make_app: Any, path: str, body: Any, parameter: str
) -> None:
    app = make_app()
    response = await api.post(path, json=body, headers=app.headers())
    assert response.status_code == 422, response.text
    assert error_codes(assert_envelope(response)) == [("INVALID_FORMAT", parameter)]


@pytest.mark.parametrize(("method", "path", "parameter", "source"), [
    ("GET", "/v2.1/push?externalId=a%00b", "externalId", "query"),
    ("GET", "/v2.1/push?q=%00", "q", "query"),
    ("GET", "/v2.1/devices?userId=x%00", "userId", "query"),
    ("GET", "/v2.1/webhooks/deliveries?state=%00", "state", "query"),
    ("DELETE", "/v2.1/devices/ab%00cd", "token", "path"),
    ("GET", "/v2.1/push/%00", "message_id", "path"),
])
async def test_nul_in_the_query_or_path_is_422_naming_it(
    api: httpx.AsyncClient, make_app: Any, method: str, path: str, parameter: str, source: str
) -> None:
    response = await api.request(method, path, headers=make_app().headers())
    assert response.status_code == 422, response.text
    (error,) = assert_envelope(response)["errors"]
    assert (error["code"], error["meta"]["parameter"], error["meta"]["source"]) == (
        "INVALID_FORMAT", parameter, source)


def _nested(depth: int) -> Any:
    value: Any = "x"
    for i in range(depth):
        value = [value] if i % 2 else {"a": value}
    return value


@pytest.mark.parametrize(("path", "body"), [
    ("/v2.1/devices", {"token": IOS, "platform": "ios", "tags": _nested(300)}),
    ("/v2.1/devices", _nested(300)),
    ("/v2.1/push/receipts", _nested(300)),
    ("/v2.1/push/receipts", [{"dispatchId": _nested(300), "event": "opened"}]),
    ("/v2.1/push", base(data=_nested(300))),
    ("/v2.1/push", base(title=_nested(300))),
    ("/v2.1/webhooks", {"eventTypes": _nested(300)}),
])
async def test_deeply_nested_json_is_4xx_with_an_envelope(
    api: httpx.AsyncClient, make_app: Any, path: str, body: Any
) -> None:
    response = await api.post(path, json=body, headers=make_app().headers())
    assert 400 <= response.status_code < 500, response.text
    assert assert_envelope(response)["errors"]


@pytest.mark.parametrize(("method", "path", "body", "parameter"), [
    ("POST", "/v2.1/devices", {"token": IOS, "platform": "ios", "user_id": "u"}, "user_id"),
    ("POST", "/v2.1/push/receipts",
     [{"dispatchId": "01a21bca-14b1-723f-b684-36b791a482aa", "evnt": "opened"}], "[0].evnt"),
    ("PUT", "/v2.1/webhooks", {"primary_url": "https://hooks.example.com/x"}, "primary_url"),
    ("POST", "/v2.1/webhooks/secret/rotate", {"overlap_hours": 1}, "overlap_hours"),
])
async def test_every_body_refuses_unknown_fields(api: httpx.AsyncClient, make_app: Any,
                                                 method: str, path: str, body: Any,
                                                 parameter: str) -> None:
    response = await api.request(method, path, json=body, headers=make_app().headers())
    assert response.status_code in (404, 422), response.text
    errors = assert_envelope(response)["errors"]
    assert ("INVALID_FORMAT", parameter) in error_codes({"errors": errors}), errors
    (error,) = [e for e in errors if e["meta"]["parameter"] == parameter]
    assert "did you mean" in error["message"]


async def test_a_token_of_the_wrong_platform_is_echoed(api: httpx.AsyncClient,
                                                       make_app: Any) -> None:
    response = await api.post("/v2.1/devices", json={"token": "abc", "platform": "ios"},
                              headers=make_app().headers())
    (error,) = assert_envelope(response)["errors"]
    assert (error["code"], error["meta"]["parameter"], error["meta"]["value"]) == (
        "INVALID_DEVICE_TOKEN", "token", "abc")
