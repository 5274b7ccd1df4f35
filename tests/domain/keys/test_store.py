"""API keys: listed with their last use (stamped at most once a resolution period), revoked
with an announcement every API process hears."""

from __future__ import annotations

import time
from typing import Any

import psycopg
import pytest
import redis

from domain.keys import announce, store


async def test_last_use_is_stamped_at_most_once_per_resolution(
    make_app: Any, db: psycopg.Connection[Any], aconn: psycopg.AsyncConnection[Any]
) -> None:
    app = make_app()
    [key] = store.list_keys(db, app.app_key)
    assert key.last_used_at is None and key.revoked_at is None
    await store.record_use(aconn, [key.id])
    [first] = store.list_keys(db, app.app_key)
    assert first.last_used_at is not None
    await store.record_use(aconn, [key.id])  # within the minute: the row is left alone
    assert store.list_keys(db, app.app_key)[0].last_used_at == first.last_used_at
    db.execute("UPDATE api_keys SET last_used_at = now() - interval '2 minutes' WHERE id = %s",
               (key.id,))
    await store.record_use(aconn, [key.id])
    assert store.list_keys(db, app.app_key)[0].last_used_at > first.last_used_at  # type: ignore[operator]


def test_list_is_newest_first_without_secrets(make_app: Any,
                                              db: psycopg.Connection[Any]) -> None:
    app = make_app(scopes=("push:read",))
    second = store.create_key(db, app.app_key, ["push:send", "receipts:write"])
    listed = store.list_keys(db, app.app_key)
    assert [(k.prefix, k.scopes) for k in listed] == [
        (second.secret[:store.PREFIX_CHARS], ("push:send", "receipts:write")),
        (app.secret[:store.PREFIX_CHARS], ("push:read",))]
    with pytest.raises(store.UnknownApp):
        store.list_keys(db, "app_nobody")


def test_revoke_commits_then_announces(make_app: Any, pushflow_env: dict[str, str]) -> None:
    app = make_app()
    url = pushflow_env["PUSHFLOW_REDIS_URL"]
    listener = redis.Redis.from_url(url)
    pubsub = listener.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(announce.CHANNEL)
    pubsub.get_message(timeout=1.0)
    # A connection that is not autocommit, like the CLI's: the revocation is committed anyway.
    with psycopg.connect(pushflow_env["PUSHFLOW_DATABASE_URL"]) as conn:
        assert store.revoke_key(conn, app.secret, app.app_key, redis_url=url) == 1
        with psycopg.connect(pushflow_env["PUSHFLOW_DATABASE_URL"], autocommit=True) as other:
            [key] = store.list_keys(other, app.app_key)
            assert key.revoked_at is not None
        assert store.revoke_key(conn, app.secret, app.app_key, redis_url=url) == 0
    deadline = time.monotonic() + 5
    heard: list[bytes] = []
    while time.monotonic() < deadline and not heard:
        message = pubsub.get_message(timeout=0.5)
        if message is not None:
            heard.append(message["data"])
    assert heard == [app.app_key.encode()]
    assert pubsub.get_message(timeout=0.5) is None  # nothing revoked the second time: no news
    pubsub.close()
    listener.close()


def test_apps_are_listed_oldest_first_with_their_key_counts(db: psycopg.Connection[Any]) -> None:
    first, second = store.create_app(db, "first"), store.create_app(db, "second")
    store.create_key(db, second, ["push:send"])
    revoked = store.create_key(db, second, ["admin"])
    store.revoke_key(db, revoked.secret, second)
    db.execute("UPDATE apps SET limits = '{\"max_tokens\": 5}' WHERE app_key = %s", (second,))
    listed = [a for a in store.list_apps(db) if a.application_key in (first, second)]
    assert [(a.name, a.live_keys, a.revoked_keys) for a in listed] == [
        ("first", 0, 0), ("second", 1, 1)]
    one = store.get_app(db, second)
    assert one == listed[1] and one.limit_overrides == {"max_tokens": 5}
    with pytest.raises(store.UnknownApp):
        store.get_app(db, "app_nope")
