"""The sandbox counts a push accepted twice: by apns-id for APNs, by token and content for FCM
(whose messages carry no id and whose android.ttl shrinks on each retry)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from sandbox.testing import SandboxProcess
from tests.sandbox.test_apns import push
from tests.sandbox.test_fcm import send


def test_apns_counts_an_apns_id_accepted_twice(
    sandbox: SandboxProcess, apns_client: httpx.Client, apns_headers: dict[str, str]
) -> None:
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    for apns_id in (first, second, first):  # the retry of ``first`` went out again
        assert push(apns_client, {**apns_headers, "apns-id": apns_id}).status_code == 200
    stats = sandbox.stats()["apns"]
    assert (stats["accepted"], stats["duplicates"]) == (3, 1)


def test_fcm_counts_the_same_message_accepted_twice(
    sandbox: SandboxProcess, fcm_client: httpx.Client
) -> None:
    def message(ttl: str, order: str) -> dict[str, Any]:
        return {"token": "dev-1", "data": {"order": order}, "android": {"ttl": ttl}}

    for msg in (message("60s", "1"), message("58s", "1"), message("60s", "2")):
        assert send(fcm_client, sandbox, msg).status_code == 200
    stats = sandbox.stats()["fcm"]
    assert (stats["accepted"], stats["duplicates"]) == (3, 1)  # the second is the first again
