"""Key-change announcements: delivered to listeners; a Redis outage is reported, not raised."""

from __future__ import annotations

import time

import redis

from domain.keys import announce
from tests.services import free_port


def test_a_listener_hears_the_app_key(pushflow_env: dict[str, str]) -> None:
    listener = redis.Redis.from_url(pushflow_env["PUSHFLOW_REDIS_URL"])
    pubsub = listener.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(announce.CHANNEL)
    pubsub.get_message(timeout=1.0)  # the subscription's confirmation
    assert announce.announce(pushflow_env["PUSHFLOW_REDIS_URL"], "app_123") is True
    deadline = time.monotonic() + 5
    message = None
    while message is None and time.monotonic() < deadline:
        message = pubsub.get_message(timeout=0.5)
    assert message is not None and message["data"] == b"app_123"
    pubsub.close()
    listener.close()


def test_redis_down_is_a_false_answer() -> None:
    assert announce.announce(f"redis://127.0.0.1:{free_port()}/0", "app_123") is False
