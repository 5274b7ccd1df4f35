"""Versioned SQL migrations: ``migrations/NNNN_name.sql`` applied in order, each exactly once.

Safe to re-run and safe to run from several machines at once: an advisory lock serialises
concurrent runs, and each file is applied in its own transaction with its version recorded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

from shared.db.connect import connect, ensure_database

_LOCK_ID = 0x50_75_73_68  # "Push"
_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def available() -> list[Migration]:
    found = []
    for entry in resources.files("shared.db.migrations").iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match.group(1)), entry.name, entry.read_text()))
    return sorted(found, key=lambda m: m.version)


def latest_version() -> int:
    migrations = available()
    return migrations[-1].version if migrations else 0


def migrate(url: str) -> list[str]:
    """Apply pending migrations; returns the names of those applied."""
    ensure_database(url)
    applied: list[str] = []
    with connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_ID,))
        try:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version integer PRIMARY KEY, name text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
            for migration in available():
                if migration.version in done:
                    continue
                with conn.transaction():
                    conn.execute(migration.sql.encode())
                    conn.execute(
                        "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                        (migration.version, migration.name),
                    )
                applied.append(migration.name)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_ID,))
    return applied


def current_version(url: str) -> int:
    with connect(url) as conn:
        row = conn.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()
        return int(str(row[0])) if row else 0
