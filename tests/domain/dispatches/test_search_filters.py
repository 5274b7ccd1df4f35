"""The panel's search: every filter, the words of a message through its full-text index, keyset
pages that neither skip nor repeat a row, and the CSV export."""

from __future__ import annotations

import csv
import io
import uuid
from typing import Any

import psycopg
import pytest

from domain.dispatches import search as search_module
from domain.dispatches.export import HEADER, export_csv
from domain.dispatches.search import Cursor, DispatchFilter, search, search_page
from shared.ids import new_id


def _message(db: psycopg.Connection[Any], app_id: int, tokens: list[str], *, title: str = "T",
             content: str = "c", external_id: str | None = None, minute: int = 0,
             status: str = "queued", reason: str | None = None) -> list[str]:
    """A message with one dispatch per token, created ``minute`` minutes after 2026-01-01."""
    message_id = new_id()
    at = f"2026-01-01T00:{minute:02d}:00Z"
    db.execute("INSERT INTO messages (id, app_id, external_id, content, created_at)"
               " VALUES (%s, %s, %s, jsonb_build_object('title', %s::text, 'content', %s::text),"
               " %s)", (message_id, app_id, external_id, title, content, at))
    ids = []
    for token in tokens:
        ids.append(new_id())
        db.execute("INSERT INTO dispatches (id, message_id, app_id, device_token, platform,"
                   " status, reason, external_id, created_at) VALUES (%s, %s, %s, %s, 'ios',"
                   " %s, %s, %s, %s)",
                   (ids[-1], message_id, app_id, token, status, reason, external_id, at))
    return ids


@pytest.fixture()
def pushes(make_app: Any, db: psycopg.Connection[Any]) -> dict[str, Any]:
    app, other = make_app(), make_app()
    found = {
        "code": _message(db, app.app_id, ["aa11", "aa12"], title="Your code",
                         content="Your code is 482913", external_id="otp-1", minute=1),
        "parcel": _message(db, app.app_id, ["bb21"], title="Parcel", content="On its way",
                           external_id="=cmd|x", minute=2, status="failed",
                           reason="unregistered"),
        "digest": _message(db, app.app_id, ["aa_3"], title="Weekly digest",
                           content="Café news", minute=3, status="sent"),
    }
    _message(db, other.app_id, ["aa11"], content="Your code is 482913", minute=4)
    return {"app": app.app_id, **found}


async def _ids(aconn: psycopg.AsyncConnection[Any], app_id: int, **criteria: Any) -> list[str]:
    rows = await search(aconn, app_id, DispatchFilter(**criteria), limit=50)
    return [r.id for r in rows]


async def test_each_filter_finds_its_dispatches(
    pushes: dict[str, Any], aconn: psycopg.AsyncConnection[Any]
) -> None:
    app, code, parcel, digest = (pushes[k] for k in ("app", "code", "parcel", "digest"))
    assert await _ids(aconn, app) == [*digest, *parcel, *sorted(code, reverse=True)]
    assert await _ids(aconn, app, token="aa11") == [code[0]]
    assert set(await _ids(aconn, app, token_prefix="aa1")) == set(code)
    assert await _ids(aconn, app, token_prefix="aa_") == digest  # "_" is literal, not LIKE's
    assert await _ids(aconn, app, status="failed", reason="unregistered") == parcel
    assert await _ids(aconn, app, reason="unregistered") == parcel
    assert await _ids(aconn, app, external_id="otp-1") == sorted(code, reverse=True)
    assert await _ids(aconn, app, dispatch_id=uuid.UUID(parcel[0])) == parcel
    story = await search(aconn, app, DispatchFilter(dispatch_id=uuid.UUID(code[1])), limit=1)
    assert set(await _ids(aconn, app, message_id=uuid.UUID(story[0].message_id))) == set(code)


@pytest.mark.parametrize(("q", "which"), [
    ("482913", "code"), ("your CODE", "code"), ("otp", "code"), ("café", "digest"),
    ("digest weekly", "digest"), ("way", "parcel"), ("code digest", None), ("48291", None),
])
async def test_words_of_title_content_and_external_id(
    pushes: dict[str, Any], aconn: psycopg.AsyncConnection[Any], q: str, which: str | None
) -> None:
    expected = sorted(pushes[which], reverse=True) if which else []
    assert await _ids(aconn, pushes["app"], q=q) == expected  # whole words, all of them


async def test_words_are_found_through_the_text_index(
    pushes: dict[str, Any], db: psycopg.Connection[Any]
) -> None:
    # The search's expression is the index's (a typo in either would scan every message): with
    # sequential scans off, only that index can serve it.
    db.execute("SET enable_seqscan = off")
    plan = "\n".join(r[0] for r in db.execute(
        "EXPLAIN SELECT id FROM messages m WHERE"
        " message_search_words(m.content, m.external_id) @@ plainto_tsquery('simple', 'code')"))
    assert "messages_search_words" in plan


async def test_keyset_pages_cover_everything_once(
    make_app: Any, db: psycopg.Connection[Any], aconn: psycopg.AsyncConnection[Any]
) -> None:
    app = make_app()
    every: list[str] = []
    for minute in range(7):  # several dispatches share a created_at: the id breaks ties
        every += _message(db, app.app_id, [f"t{minute}a", f"t{minute}b"], minute=minute)
    seen: list[str] = []
    after: Cursor | None = None
    while True:
        page = await search_page(aconn, app.app_id, DispatchFilter(), size=3, after=after)
        seen += [r.id for r in page.rows]
        if page.next is None:
            break
        after = Cursor.decode(page.next.encode())  # through the URL and back
    assert sorted(seen) == sorted(every) and len(seen) == len(set(seen)) == 14
    assert [r.id for r in await search(aconn, app.app_id, DispatchFilter(), limit=14)] == seen


@pytest.mark.parametrize("text", ["", "12", "12.zz", "-5.0" + "0" * 32, "1" * 18 + "." + "0" * 32])
def test_a_bad_cursor_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        Cursor.decode(text)


async def test_export_streams_every_row_as_csv(
    pushes: dict[str, Any], aconn: psycopg.AsyncConnection[Any]
) -> None:
    class Connect:
        async def __aenter__(self) -> psycopg.AsyncConnection[Any]:
            return aconn

        async def __aexit__(self, *exc: object) -> None:
            return None

    chunks = [c async for c in export_csv(Connect, pushes["app"], DispatchFilter())]
    rows = list(csv.reader(io.StringIO("".join(chunks))))
    assert tuple(rows[0]) == HEADER and len(rows) == 5
    by_id = {r[0]: r for r in rows[1:]}
    assert by_id[pushes["parcel"][0]][2] == "'=cmd|x"  # a formula is never a formula


async def test_a_common_word_is_found_walking_newest_first(
    pushes: dict[str, Any], aconn: psycopg.AsyncConnection[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Past WORD_HITS matching messages the search takes its other way: same answer.
    few = await _ids(aconn, pushes["app"], q="your")
    monkeypatch.setattr(search_module, "WORD_HITS", 1)
    assert await _ids(aconn, pushes["app"], q="your") == few == sorted(pushes["code"],
                                                                        reverse=True)
    assert await _ids(aconn, pushes["app"], q="your", token="aa12") == [pushes["code"][1]]
