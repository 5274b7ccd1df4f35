"""``freeze_startup_objects``: what exists is left out of later full passes; garbage is freed."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from shared.gc_pauses import freeze_startup_objects


@pytest.fixture
def unfrozen_after() -> Iterator[None]:
    yield
    gc.unfreeze()  # this test process goes on collecting as before


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


def cycle() -> weakref.ref[Node]:
    a, b = Node(), Node()
    a.other, b.other = b, a
    return weakref.ref(a)


@pytest.mark.usefixtures("unfrozen_after")
def test_live_objects_are_frozen_and_garbage_is_freed_first() -> None:
    gc.disable()  # no automatic pass may free the cycle before the call does
    try:
        garbage = cycle()
        live = Node()
        live.other = live
        assert garbage() is not None
        freeze_startup_objects()
        assert garbage() is None  # collected, not frozen with the rest
        assert gc.get_freeze_count() > 0
        # A frozen object is in no generation: the collector's passes do not scan it.
        assert not any(o is live for o in gc.get_objects())
    finally:
        gc.enable()
