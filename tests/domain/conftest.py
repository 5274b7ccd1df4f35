"""An async connection to the session's database (autocommit, as the API's pool gives)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import psycopg
import pytest


@pytest.fixture()
async def aconn(pushflow_env: dict[str, str]) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    conn = await psycopg.AsyncConnection.connect(pushflow_env["PUSHFLOW_DATABASE_URL"],
                                                 autocommit=True)
    async with conn:
        yield conn
