"""Migrations: applied in order on a database that does not exist yet, once each, and what the
later ones change."""

from __future__ import annotations

import psycopg
from psycopg import sql

from shared.db.migrate import available, current_version, migrate
from tests.services import postgres_database


def _foreign_keys(conn: psycopg.Connection[tuple[str, ...]], table: str) -> set[str]:
    rows = conn.execute(
        "SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'f'",
        (table,)).fetchall()
    return {row[0] for row in rows}


def test_creates_the_database_applies_each_migration_once_and_drops_the_intake_child_fks(
) -> None:
    with postgres_database("pushflow_migrate") as url:
        missing = url + "_new"  # migrate creates a database that does not exist
        try:
            names = [m.name for m in available()]
            assert migrate(missing) == names
            assert migrate(missing) == []  # safe to re-run
            assert current_version(missing) == max(m.version for m in available())
            with psycopg.connect(missing) as conn:
                # Written only beside their parent (0003_intake_child_fks.sql)
                assert _foreign_keys(conn, "dispatches") == set()
                assert _foreign_keys(conn, "dispatch_events") == set()
                assert _foreign_keys(conn, "messages") == {"messages_app_id_fkey"}
        finally:
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    sql.Identifier(missing.rsplit("/", 1)[1])))


def test_0010_keeps_an_apps_send_rate_for_tx_and_its_campaigns_pace_for_bulk() -> None:
    with postgres_database("pushflow_migrate") as url:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE TABLE schema_migrations (version integer PRIMARY KEY,"
                         " name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())")
            for m in available():
                if m.version < 10:
                    conn.execute(m.sql.encode())
                    conn.execute("INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                                 (m.version, m.name))
            conn.execute("INSERT INTO apps (app_key, name, send_rate) VALUES"
                         " ('a_set', 'set', 100), ('a_unlimited', 'unlimited', 0),"
                         " ('a_default', 'default', NULL)")
        assert migrate(url) == [m.name for m in available() if m.version >= 10]
        with psycopg.connect(url) as conn:
            rates = dict(conn.execute("SELECT app_key, send_rates FROM apps").fetchall())
            columns = {r[0] for r in conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = 'apps'")}
    assert rates == {
        "a_set": {"apns.tx": 100, "fcm.tx": 100, "apns.bulk": 75, "fcm.bulk": 75},
        "a_unlimited": {"apns.tx": 0, "fcm.tx": 0, "apns.bulk": 0, "fcm.bulk": 0},
        "a_default": {}}
    assert "send_rate" not in columns and "send_rates" in columns
