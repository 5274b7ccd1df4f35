"""Connections to PostgreSQL, sync (CLI, DLR worker) and async (intake API)."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql


class DatabaseUnavailable(Exception):
    """PostgreSQL could not be reached or refused the connection."""


def with_database(url: str, dbname: str) -> str:
    """The same server URL pointing at another database (used to create the target database)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + dbname, parts.query, parts.fragment))


def database_name(url: str) -> str:
    conninfo = psycopg.conninfo.conninfo_to_dict(url)
    return str(conninfo.get("dbname") or "postgres")


def connect(url: str, *, autocommit: bool = False) -> psycopg.Connection[tuple[object, ...]]:
    try:
        return psycopg.connect(url, autocommit=autocommit, connect_timeout=5)
    except psycopg.OperationalError as exc:
        raise DatabaseUnavailable(str(exc).strip().splitlines()[0]) from None


def ensure_database(url: str) -> bool:
    """Create the database named in ``url`` if it does not exist; True when it was created."""
    name = database_name(url)
    try:
        with connect(url):
            return False
    except DatabaseUnavailable as exc:
        if "does not exist" not in str(exc):
            raise
    with connect(with_database(url, "postgres"), autocommit=True) as conn:
        try:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        except psycopg.errors.DuplicateDatabase:
            return False
    return True
