"""Automation against the session's real PostgreSQL and Redis, with a clock the test controls:
``fire`` and ``release_due`` take ``now``."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import psycopg
import pytest

from domain.automation import rules
from domain.automation.cache import RuleCache
from domain.automation.events import EventBody
from domain.automation.fire import fire
from domain.automation.model import RuleBody
from domain.automation.pending import release_due
from domain.automation.sending import App
from domain.devices import registry
from domain.keys import store as apps
from domain.messages.standalone import StandaloneOutlet, standalone_outlet
from shared.payload import Limits
from shared.settings import get_settings
from shared.tokens import PLATFORMS

T0 = 1_800_000_000.0  # 2027-01-15T08:00:00Z, a Friday


def rule_body(**fields: Any) -> RuleBody:
    base: dict[str, Any] = {"name": "r", "event": "cart.abandoned",
                            "templates": {"en": {"title": "Cart", "content": "Come back"}},
                            "defaultLanguage": "en"}
    return RuleBody.model_validate({**base, **fields})


@dataclass
class Automation:
    outlet: StandaloneOutlet
    app: App
    db: psycopg.Connection[Any]
    cache: RuleCache = field(default_factory=RuleCache)

    async def rule(self, **fields: Any) -> str:
        async with self.outlet.pool.connection() as conn:
            return (await rules.create(conn, self.app.app_id, rule_body(**fields))).id

    async def device(self, user: str, *, language: str | None = None,
                     time_zone: str | None = None) -> str:
        token = secrets.token_hex(32)
        async with self.outlet.pool.connection() as conn:
            await registry.register(conn, self.app.app_id, registry.Registration(
                token, "ios", user, language, (), time_zone))
        return token

    async def event(self, name: str, now: float, user: str | None = "u1",
                    **properties: Any) -> dict[str, Any]:
        body = EventBody.model_validate({"eventId": secrets.token_hex(8), "name": name,
                                         "userId": user, "properties": properties})
        (answer,) = await fire(self.outlet, self.app, [body], cache=self.cache,
                               request_id="test", now=now)
        return answer

    async def release(self, now: float) -> int:
        return await release_due(self.outlet, now)

    def messages(self) -> list[tuple[str, str, str]]:
        """(external id = event id, source, source_ref) of every message of the app."""
        return [tuple(r) for r in self.db.execute(
            "SELECT external_id, source, source_ref FROM messages WHERE app_id = %s"
            " ORDER BY created_at", (self.app.app_id,)).fetchall()]


@pytest.fixture()
async def automation(make_app: Any, db: psycopg.Connection[Any]) -> AsyncIterator[Automation]:
    test_app = make_app("automation", apps.SCOPES, PLATFORMS)
    # The release job takes every app's due sends: leave none of earlier tests behind.
    db.execute("UPDATE automation_pending SET state = 'canceled' WHERE state = 'pending'")
    async with standalone_outlet(get_settings()) as outlet:
        yield Automation(outlet, App(test_app.app_id, Limits()), db)
