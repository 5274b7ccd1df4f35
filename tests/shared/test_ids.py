"""Ids: new_id() is a time-ordered UUIDv7 string, unique across processes forked from one."""

from __future__ import annotations

import multiprocessing
import time
import uuid

from shared.ids import new_id, request_id, uuid7


def _ids(count: int) -> list[str]:
    return [new_id() for _ in range(count)]


def test_new_id_is_a_version_7_uuid_string_ordered_by_time() -> None:
    first = new_id()
    time.sleep(0.002)
    second = new_id()
    for value in (first, second):
        parsed = uuid.UUID(value)
        assert str(parsed) == value
        assert parsed.version == 7 and parsed.variant == uuid.RFC_4122
    assert first < second
    # The first 48 bits are the time in ms, as uuid7() makes them.
    assert abs(int(first.replace("-", "")[:12], 16) - uuid7().int // 2**80) < 1000


def test_new_ids_are_unique_in_forked_children() -> None:
    # The random bits come from ``random``, which reseeds itself in a forked child: two children
    # of one parent must not repeat each other's ids.
    with multiprocessing.get_context("fork").Pool(2) as pool:
        batches = pool.map(_ids, [20_000, 20_000])
    everything = [*batches[0], *batches[1], *_ids(20_000)]
    assert len(set(everything)) == len(everything)


def test_request_id_is_ten_hex_digits() -> None:
    ids = {request_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(len(i) == 10 and int(i, 16) >= 0 for i in ids)
