"""The logs page's filters as a GET query string: every search is a URL one can share. Parsing
gives the domain's ``DispatchFilter`` and page cursor, or the errors to show beside the form;
``link`` writes the URL of the same search with some fields changed (the next page, the CSV)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from domain.dispatches.search import SOURCES, STATUSES, Cursor, DispatchFilter
from shared.statuses import FAILURE_REASONS
from shared.tokens import PLATFORMS

REASONS = tuple(sorted(FAILURE_REASONS))
FIELDS = ("from", "to", "status", "reason", "platform", "source", "token", "token_match",
          "message", "dispatch", "external", "ref", "q", "after")
MAX_TEXT = 4096
MAX_Q = 200
CHOICES: dict[str, tuple[str, ...]] = {
    "status": STATUSES, "reason": REASONS, "platform": PLATFORMS, "source": SOURCES,
    "token_match": ("exact", "prefix")}


@dataclass
class SearchForm:
    values: dict[str, str]  # what was asked, as typed (the form shows it again)
    errors: list[str] = field(default_factory=list)
    filter: DispatchFilter = field(default_factory=DispatchFilter)
    after: Cursor | None = None

    def link(self, path: str, **changes: str | None) -> str:
        """``path`` with this search's query string, ``changes`` applied (None removes)."""
        values = {**self.values, **changes}
        query = urlencode({k: v for k, v in values.items() if v})
        return f"{path}?{query}" if query else path


def _time(raw: str, name: str, errors: list[str], *, end_of_day: bool) -> datetime | None:
    if not raw:
        return None
    try:
        at = datetime.fromisoformat(raw.replace(" ", "T", 1) if len(raw) > 10 else raw)
    except ValueError:
        errors.append(f"'{name}' must be a date (2026-01-31) or a date and time "
                      "(2026-01-31T14:05), UTC")
        return None
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    if end_of_day and len(raw) == 10:
        at += timedelta(days=1) - timedelta(microseconds=1)  # "to" a day includes that day
    return at


def _uuid(raw: str, name: str, errors: list[str]) -> uuid.UUID | None:
    if not raw:
        return None
    try:
        return uuid.UUID(raw)
    except ValueError:
        errors.append(f"'{name}' must be an id such as 01a2b3c4-d5e6-7f80-9a1b-2c3d4e5f6a7b")
        return None


def parse_search(params: Mapping[str, str]) -> SearchForm:
    values = {name: params.get(name, "").strip() for name in FIELDS}
    errors: list[str] = []
    for name, options in CHOICES.items():
        if values[name] and values[name] not in options:
            errors.append(f"'{name}' must be one of {', '.join(options)}")
            values[name] = ""
    for name in ("token", "external", "ref", "message", "dispatch", "after"):
        if len(values[name]) > MAX_TEXT:
            errors.append(f"'{name}' is longer than {MAX_TEXT} characters")
            values[name] = ""
    if len(values["q"]) > MAX_Q:
        errors.append(f"'q' is longer than {MAX_Q} characters")
        values["q"] = ""
    if any(ord(c) < 32 for v in values.values() for c in v):
        errors.append("the search holds control characters")
        values = {k: "".join(c for c in v if ord(c) >= 32) for k, v in values.items()}
    prefix = values["token_match"] == "prefix"
    form = SearchForm(values, errors)
    form.filter = DispatchFilter(
        date_from=_time(values["from"], "from", errors, end_of_day=False),
        date_to=_time(values["to"], "to", errors, end_of_day=True),
        status=values["status"] or None, reason=values["reason"] or None,
        platform=values["platform"] or None, source=values["source"] or None,
        token=None if prefix else values["token"] or None,
        token_prefix=values["token"] or None if prefix else None,
        message_id=_uuid(values["message"], "message", errors),
        dispatch_id=_uuid(values["dispatch"], "dispatch", errors),
        external_id=values["external"] or None, source_ref=values["ref"] or None,
        q=values["q"] or None)
    if values["after"]:
        try:
            form.after = Cursor.decode(values["after"])
        except ValueError:
            errors.append("'after' is not a page of this search: start again from page 1")
    return form
