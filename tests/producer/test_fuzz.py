"""No input ever yields a 500: several hundred random and malformed bodies and headers (seeded,
so a failure replays), each answered with a well-formed envelope and a 2xx or 4xx."""

from __future__ import annotations

import json
import random
from typing import Any

import httpx
import orjson
import redis

from tests.producer.conftest import android_token, assert_envelope, ios_token

SEED = 20261127
ROUNDS = 400
FIELDS = ("device_tokens", "title", "content", "image", "data", "sound", "silent", "badge",
          "priority", "ttl", "collapseKey", "platform", "externalId", "webhookUrl",
          "scheduleTime")

VALID = {"title": "T", "image": "https://cdn.example.com/a.gif", "data": {"k": "v"},
         "sound": "default", "silent": False, "badge": 1, "priority": "normal",
         "collapseKey": "c", "platform": "ios", "externalId": "e-1",
         "webhookUrl": "https://hooks.example.com/x", "scheduleTime": "2020-01-01 00:00:00"}


def _scalar(rng: random.Random) -> Any:
    return rng.choice([
        None, True, False, 0, -1, 2**63, 1e308, -0.0, 3.5, "", "x" * rng.randint(1, 5000),
        "\u0000", "é🚀" * rng.randint(1, 50), "https://cdn.example.com/a.png",
        "http://[::1", "2026-13-45 99:99:99", "2030-01-01T00:00:00+14:00", ios_token(),
        android_token(), "ios", "android", "high", " ", "%s%n", "\u2028",
    ])


def _value(rng: random.Random, depth: int = 0) -> Any:
    roll = rng.random()
    if depth > 3 or roll < 0.6:
        return _scalar(rng)
    if roll < 0.8:
        return [_value(rng, depth + 1) for _ in range(rng.randint(0, 5))]
    return {str(_scalar(rng))[:30]: _value(rng, depth + 1) for _ in range(rng.randint(0, 5))}


def _body(rng: random.Random) -> bytes:
    kind = rng.random()
    if kind < 0.15:  # not JSON, or broken JSON, or invalid UTF-8
        return rng.choice([b"", b"{", b"[1,", b"\xff\xfe\x00", b"nul", b'{"a":1}x',
                           bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 200)))])
    if kind < 0.3:  # any JSON value
        return orjson.dumps(_value(rng))
    body: dict[str, Any] = {"device_tokens": [ios_token()], "content": "hi"}
    if kind < 0.45:  # valid, with optional fields picked from valid values
        body.update(rng.sample(sorted(VALID.items()), rng.randint(0, len(VALID))))
        return orjson.dumps(body)
    for field in rng.sample(FIELDS, rng.randint(1, 6)):  # a valid body with fields mutated
        body[field] = _value(rng)
    if rng.random() < 0.2:
        body["device_tokens"] = [_scalar(rng) for _ in range(rng.randint(0, 30))]
    return orjson.dumps(body)


def _headers(rng: random.Random, good: dict[str, str]) -> dict[bytes, bytes]:
    headers = {k.encode(): v.encode() for k, v in good.items()}
    roll = rng.random()
    if roll < 0.1:
        headers.pop(rng.choice(list(headers)))
    elif roll < 0.2:
        headers[rng.choice(list(headers))] = rng.choice([b"", b"x" * 2000, b"Bearer abc",
                                                         "é".encode()])
    if rng.random() < 0.3:
        headers[b"Idempotency-Key"] = rng.choice([b"", b"k", b"k" * 300, "ключ".encode(),
                                                  str(rng.random()).encode()])
    if rng.random() < 0.2:
        headers[b"Content-Type"] = rng.choice([b"text/plain", b"application/json; charset=utf-16",
                                               b"multipart/form-data"])
    return headers


async def test_random_requests_never_500(api: httpx.AsyncClient, make_app: Any,
                                         clean_queues: redis.Redis[bytes]) -> None:
    rng = random.Random(SEED)
    app = make_app()
    statuses: dict[int, int] = {}
    for i in range(ROUNDS):
        method = rng.choice(["POST"] * 6 + ["GET", "PUT"])
        path = rng.choice(["/v2.1/push"] * 6 + [
            "/v2.1/push/" + rng.choice(["x", "01a21bca-14b1-723f-b684-36b791a482aa", "%00"]),
            "/v2.1/push?limit=" + rng.choice(["-1", "abc", "5", "99999"]) + "&dateFrom="
            + rng.choice(["", "2026-01-01", "bad", "2026-01-01T00:00:00Z"]) + "&status="
            + rng.choice(["", "sent", "x"]) + "&q=" + rng.choice(["", "%25", "a" * 300])])
        response = await api.request(method, path, content=_body(rng),
                                     headers=_headers(rng, app.headers()))
        assert response.status_code < 500, (i, response.text)
        assert_envelope(response)
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
    # The generator reaches the interesting answers, not just one kind of refusal.
    assert {202, 400, 401, 422} <= set(statuses), statuses


def _deep(rng: random.Random, depth: int) -> Any:
    value: Any = rng.choice(["x", 1, None, "\u0000"])
    for _ in range(depth):
        value = [value] if rng.random() < 0.5 else {"k": value}
    return value


def _hostile_body(rng: random.Random, path: str) -> Any:
    """A route's body with a NUL character or a deeply nested value put in a random place."""
    bad = "a\u0000" if rng.random() < 0.5 else _deep(rng, rng.choice([40, 260, 600]))
    body: dict[str, Any] = {
        "/v2.1/push": {"device_tokens": [ios_token()], "content": "hi", "data": {"k": "v"}},
        "/v2.1/devices": {"token": ios_token(), "platform": "ios", "tags": ["t"]},
        "/v2.1/push/receipts": {"dispatchId": "01a21bca-14b1-723f-b684-36b791a482aa",
                                "event": "opened"},
        "/v2.1/webhooks": {"primaryUrl": "https://hooks.example.com/x"},
    }[path]
    field = rng.choice(list(body))
    roll = rng.random()
    if roll < 0.4:
        body[field] = bad
    elif roll < 0.7 and isinstance(body[field], list):
        body[field] = [*body[field], bad]
    elif roll < 0.85:
        body[rng.choice(["k", "\u0000", "extra"])] = bad
    else:
        return [body, bad] if path == "/v2.1/push/receipts" else bad
    return body


async def test_nul_and_deep_nesting_never_500(api: httpx.AsyncClient, make_app: Any,
                                              clean_queues: redis.Redis[bytes]) -> None:
    rng = random.Random(SEED + 1)
    app = make_app()
    paths = ["/v2.1/push", "/v2.1/devices", "/v2.1/push/receipts", "/v2.1/webhooks"]
    for i in range(ROUNDS // 4):
        path = rng.choice(paths)
        content = json.dumps(_hostile_body(rng, path)).encode()  # orjson stops at 254 levels
        response = await api.request("PUT" if path == "/v2.1/webhooks" else "POST", path,
                                     content=content, headers=app.headers())
        assert 400 <= response.status_code < 500, (i, path, response.text)
        assert_envelope(response)
    for query in ("/v2.1/push?externalId=%00", "/v2.1/devices?tag=a%00",
                  "/v2.1/webhooks/deliveries?messageId=%00", "/v2.1/push/a%00b"):
        response = await api.get(query, headers=app.headers())
        assert response.status_code == 422, (query, response.text)
        assert_envelope(response)
