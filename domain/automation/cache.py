"""Compiled rules, kept per API process: compiling a rule's templates costs far more than
evaluating it, and the event path loads the rules of every batch. An entry is keyed by the rule's
id and ``updated_at``, so an edited rule is compiled again on its next use by every process.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection

from domain.automation.model import RuleBody
from domain.automation.render import CompiledRule

MAX_RULES = 5000
_FOR_EVENTS = """
SELECT id::text, updated_at, definition FROM automation_rules
WHERE app_id = %s AND enabled AND event_name = ANY(%s)
ORDER BY created_at, id
"""


class RuleCache:
    def __init__(self, size: int = MAX_RULES) -> None:
        self.size = size
        self.compiled: dict[tuple[str, datetime], CompiledRule] = {}

    def get(self, rule_id: str, updated_at: datetime, definition: Any) -> CompiledRule:
        key = (rule_id, updated_at)
        found = self.compiled.get(key)
        if found is None:
            if len(self.compiled) >= self.size:
                self.compiled.clear()  # rare (thousands of edits); simpler than an LRU
            found = self.compiled[key] = CompiledRule.of(
                rule_id, RuleBody.model_validate(definition))
        return found

    async def rules(self, conn: AsyncConnection[Any], app_id: int, names: Iterable[str]
                    ) -> list[CompiledRule]:
        """The app's enabled rules triggered by any of ``names``, oldest first."""
        rows = await (await conn.execute(_FOR_EVENTS, (app_id, sorted(names)))).fetchall()
        return [self.get(rule_id, updated_at, definition)
                for rule_id, updated_at, definition in rows]
