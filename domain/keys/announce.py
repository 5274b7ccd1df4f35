"""Telling every API process that an app's keys changed (a key revoked), so none keeps serving
it from its in-process key cache (``producer.auth.KeyCache``, a few seconds per entry).

The change is committed to PostgreSQL first (``domain.keys.store.revoke_key``); then ``announce``
publishes the app key on a Redis channel and every API process's
``producer.auth.watch_key_changes`` drops its cached entries for that app. Redis pub/sub delivers
at most once and only to connected listeners, so the cache's expiry stays the backstop: with
Redis down (or a listener reconnecting) a revoked key still stops working within
``KEY_CACHE_SECONDS``.
"""

from __future__ import annotations

import logging

import redis
from redis.exceptions import RedisError

log = logging.getLogger("pushflow.auth")

CHANNEL = "pushflow:auth:keys-changed"


def announce(redis_url: str, app_key: str) -> bool:
    """Publish that ``app_key``'s keys changed; False when Redis could not be reached."""
    try:
        client = redis.Redis.from_url(redis_url, socket_connect_timeout=2.0, socket_timeout=2.0)
        try:
            client.publish(CHANNEL, app_key)
        finally:
            client.close()
    except (RedisError, OSError) as exc:
        log.warning("key change not announced (API processes notice it within seconds): %s",
                    exc)
        return False
    return True
